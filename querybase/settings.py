"""QueryBase settings: every value comes from the environment, read here and only here.

With nothing set, the app runs on its embedded default: a SQLite metadata database,
an in-process cache, Celery in eager mode and secrets generated once into the data
directory. With DATABASE_URL / REDIS_URL set it uses those services instead, and then
secrets must come from the environment too (a server must not invent its own keys).
"""

import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from error


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("QUERYBASE_DATA_DIR") or BASE_DIR / "var")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not DATABASE_URL


def _secret(env_name: str, file_name: str, make) -> str:
    """A secret from the environment; in embedded mode, generated once into DATA_DIR."""
    value = os.environ.get(env_name, "")
    if value:
        return value
    if not EMBEDDED:
        raise ImproperlyConfigured(f"{env_name} must be set when DATABASE_URL is set")
    path = DATA_DIR / file_name
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret("DJANGO_SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
# AES-256 key (base64 of 32 bytes) that encrypts data source credentials.
QUERYBASE_ENCRYPTION_KEY = _secret(
    "QUERYBASE_ENCRYPTION_KEY",
    "encryption_key",
    lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
)
# Keys that are being rotated out: still used to decrypt, never to encrypt.
QUERYBASE_PREVIOUS_ENCRYPTION_KEYS = env_list("QUERYBASE_PREVIOUS_ENCRYPTION_KEYS", [])

DEBUG = env_bool("QUERYBASE_DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
QUERYBASE_VERSION = "0.1.0"
QUERYBASE_GIT_REVISION = os.environ.get("QUERYBASE_GIT_REVISION", "")
# Where the dashboard lives, used in links sent out of the app (Chat cards).
QUERYBASE_BASE_URL = os.environ.get("QUERYBASE_BASE_URL", "http://127.0.0.1:8000")
# SQLite data sources may only point at files below these directories: an admin
# must not be able to register the metadata database itself as a data source.
QUERYBASE_SQLITE_ROOTS = [
    Path(p).resolve() for p in env_list("QUERYBASE_SQLITE_ROOTS", [str(DATA_DIR / "datasources")])
]
# Seconds a connection attempt (test, schema, query) may take before it is abandoned.
QUERYBASE_CONNECT_TIMEOUT = env_int("QUERYBASE_CONNECT_TIMEOUT", 5)
# Query results: small ones go to the cache, larger ones to the database.
QUERYBASE_CACHE_MAX_BYTES = env_int("QUERYBASE_CACHE_MAX_BYTES", 1024 * 1024)
QUERYBASE_RESULT_RETENTION_SECONDS = env_int("QUERYBASE_RESULT_RETENTION_SECONDS", 24 * 3600)
# How long POST /api/v1/queries blocks for a result by default, and at most.
QUERYBASE_DEFAULT_WAIT_SECONDS = env_int("QUERYBASE_DEFAULT_WAIT_SECONDS", 10)
QUERYBASE_MAX_WAIT_SECONDS = env_int("QUERYBASE_MAX_WAIT_SECONDS", 60)
# A fresh read runs in the API process for up to this long before becoming a queued job.
QUERYBASE_INLINE_BUDGET_MS = env_int("QUERYBASE_INLINE_BUDGET_MS", 1000)
QUERYBASE_MAX_SQL_CHARS = env_int("QUERYBASE_MAX_SQL_CHARS", 1_000_000)
# SQL longer than this is classified by a worker, not in the API process: classifying costs
# a microsecond or more per character (`make bench` prints it), and the inline budget
# above is wall time.
QUERYBASE_INLINE_CLASSIFY_CHARS = env_int("QUERYBASE_INLINE_CLASSIFY_CHARS", 100_000)
# Per-user rate of query submissions (DRF throttle syntax, counted in the shared cache).
QUERYBASE_QUERY_RATE = os.environ.get("QUERYBASE_QUERY_RATE", "120/min")
# Per-user rate of POST /api/v1/queries/analyze, which editors call as the user types.
QUERYBASE_ANALYZE_RATE = os.environ.get("QUERYBASE_ANALYZE_RATE", "600/min")
# Approvals and notifications.
QUERYBASE_APPROVAL_TTL_HOURS = env_int("QUERYBASE_APPROVAL_TTL_HOURS", 72)
QUERYBASE_CHAT_WEBHOOK_URL = os.environ.get("QUERYBASE_CHAT_WEBHOOK_URL", "")
# Outbound webhooks may only go to these scheme://host[:port] (no SSRF).
QUERYBASE_WEBHOOK_ALLOWLIST = env_list("QUERYBASE_WEBHOOK_ALLOWLIST", ["https://chat.googleapis.com"])
QUERYBASE_WEBHOOK_TIMEOUT_SECONDS = env_int("QUERYBASE_WEBHOOK_TIMEOUT_SECONDS", 10)
QUERYBASE_NOTIFY_RETRY_BASE_SECONDS = env_int("QUERYBASE_NOTIFY_RETRY_BASE_SECONDS", 5)
# Failed logins (API token, dashboard, admin) lock out the account, or every login from
# the client address, for QUERYBASE_LOGIN_LOCKOUT_SECONDS once these many fail within it.
QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT = env_int("QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT", 5)
QUERYBASE_LOGIN_FAILURES_PER_ADDRESS = env_int("QUERYBASE_LOGIN_FAILURES_PER_ADDRESS", 20)
QUERYBASE_LOGIN_LOCKOUT_SECONDS = env_int("QUERYBASE_LOGIN_LOCKOUT_SECONDS", 15 * 60)
# Sandboxes (apps/sandboxes): names of copies on sandbox servers start with this prefix
# (lower case letters, digits and _); a sandbox unused this long shows as idle; golden
# copies are refreshed from their source this often; a copy left "creating" this long
# by a process that died counts as failed.
QUERYBASE_SANDBOX_NAME_PREFIX = os.environ.get("QUERYBASE_SANDBOX_NAME_PREFIX", "qb_sandbox_")
QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES = env_int("QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES", 60)
QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS = env_int("QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS", 24)
QUERYBASE_SANDBOX_STALE_CREATING_MINUTES = env_int("QUERYBASE_SANDBOX_STALE_CREATING_MINUTES", 120)
# Per-user rate of sandbox requests and resets, each of which may make a copy.
QUERYBASE_SANDBOX_COPY_RATE = os.environ.get("QUERYBASE_SANDBOX_COPY_RATE", "60/hour")
# Honour X-Forwarded-For for the audit log's "from where" only behind a trusted proxy.
QUERYBASE_TRUST_X_FORWARDED_FOR = env_bool("QUERYBASE_TRUST_X_FORWARDED_FOR", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    # Refresh tokens are recorded so they can be revoked (rotation, password change).
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.audit",
    "apps.accounts",
    "apps.datasources",
    "apps.queries",
    "apps.approvals",
    "apps.sandboxes",
    "apps.notifications",
    "apps.web",
    "apps.api",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "querybase.urls"
WSGI_APPLICATION = "querybase.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.web.context_processors.notification_bell",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Server-side binding lets psycopg prepare the statements a request repeats.
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "querybase.sqlite3",
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Our apps' migrations live at the top level, one package per app; third-party apps
# (token_blacklist) keep the migrations their package ships.
MIGRATION_MODULES = {
    "accounts": "migrations.accounts",
    "datasources": "migrations.datasources",
    "audit": "migrations.audit",
    "queries": "migrations.queries",
    "approvals": "migrations.approvals",
    "notifications": "migrations.notifications",
    "sandboxes": "migrations.sandboxes",
}

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("QUERYBASE_CACHE_PREFIX", "qb"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker when configured; otherwise tasks run in-process (eager).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = "queries"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
# Three queues; a worker started with -Q queries,notifications,maintenance polls them in
# that order, so queries go first.
CELERY_BEAT_SCHEDULE = {
    "expire-approval-requests": {"task": "maintenance.expire_approval_requests", "schedule": 300.0},
    # Sandboxes: idle marks, expiry, golden refresh and pool refill, per source.
    "sandbox-upkeep": {"task": "maintenance.sandbox_upkeep", "schedule": 60.0},
}
CELERY_TASK_ROUTES = {
    "queries.*": {"queue": "queries"},
    "notifications.*": {"queue": "notifications"},
    "maintenance.*": {"queue": "maintenance"},
}

# Django's model backend, refusing logins while throttled (apps.accounts.throttling).
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
# The embedded default serves assets straight from their sources; a deployment serves
# what collectstatic gathered (the Docker image runs it).
WHITENOISE_USE_FINDERS = EMBEDDED or DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# Vendor assets are installed from npm by `make run`/`make test` (package.json).
_NPM = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/codemirror/lib", _NPM / "codemirror/lib"),
    ("vendor/codemirror/mode/sql", _NPM / "codemirror/mode/sql"),
    ("vendor/codemirror/addon/hint", _NPM / "codemirror/addon/hint"),
    ("vendor/codemirror/addon/runmode", _NPM / "codemirror/addon/runmode"),
]

# Request bodies beyond this are refused with 413 (SQL scripts are text; 5 MB is ample).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("QUERYBASE_MAX_BODY_BYTES", 5 * 1024 * 1024)

REST_FRAMEWORK = {
    # JWT first: its WWW-Authenticate header makes a missing credential a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.json_error_handler",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("QUERYBASE_JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("QUERYBASE_JWT_REFRESH_DAYS", 1)),
    "UPDATE_LAST_LOGIN": True,
    # A refresh token is good for one refresh: it is swapped for a new one and the old
    # one is blacklisted, so a stolen token stops working once its owner refreshes.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "QueryBase API",
    "DESCRIPTION": "Approval-gated SQL query broker.",
    "VERSION": QUERYBASE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Sources' allowed_write_kinds and sandbox_write_kinds share one set of choices.
    "ENUM_NAME_OVERRIDES": {"WriteKindEnum": "apps.datasources.models.WriteKind"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("QUERYBASE_LOG_LEVEL", "INFO")},
}

if not DEBUG and not EMBEDDED:
    SESSION_COOKIE_SECURE = env_bool("QUERYBASE_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
