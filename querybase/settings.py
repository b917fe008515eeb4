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
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

from querybase.logs import LOG_FORMATS, configure_structlog, logging_config

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
if DATABASE_URL and not REDIS_URL:
    # Without Redis each process would keep its own cache (rate limits, locks, results) and
    # Celery would run tasks eagerly inside web requests: a server that seems to work and
    # quietly doesn't. The embedded default (neither set) is the only Redis-less mode.
    raise ImproperlyConfigured(
        "DATABASE_URL is set but REDIS_URL is not. A server with its own database needs Redis "
        "for its cache and Celery broker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0), or unset "
        "DATABASE_URL to run the embedded default."
    )


def redis_url_with_db(url: str, db: int) -> str:
    """`url` pointing at Redis database `db` instead of the one it names."""
    parts = urlsplit(url)
    if parts.scheme == "unix":  # unix:///run/redis.sock?db=3: the path is the socket's
        query = [(key, value) for key, value in parse_qsl(parts.query) if key != "db"]
        # Built by hand: urlunsplit drops the empty host and so the "//" of unix:///…
        return f"unix://{parts.netloc}{parts.path}?{urlencode([*query, ('db', str(db))])}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def redis_db_of(url: str) -> int:
    parts = urlsplit(url)
    text = dict(parse_qsl(parts.query)).get("db", "0") if parts.scheme == "unix" else parts.path.strip("/") or "0"
    try:
        return int(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"A Redis URL must name its database by number, got {url!r}") from error


def redis_database(url: str) -> tuple[str, str, int]:
    """(server, socket, database number): what two Redis URLs must not share to stay apart."""
    parts = urlsplit(url)
    return parts.netloc, parts.path if parts.scheme == "unix" else "", redis_db_of(url)


# The broker and the cache live in different Redis databases: clearing the cache (FLUSHDB)
# must never delete queued messages, approved writes among them. The broker takes the
# database REDIS_URL names; the cache the next one (the one before, when REDIS_URL names
# Redis' last default database, 15), unless QUERYBASE_CACHE_URL says otherwise.
REDIS_LAST_DEFAULT_DB = 15
QUERYBASE_BROKER_URL = REDIS_URL
QUERYBASE_CACHE_URL = os.environ.get("QUERYBASE_CACHE_URL", "")
if REDIS_URL and not QUERYBASE_CACHE_URL:
    _broker_db = redis_db_of(REDIS_URL)
    QUERYBASE_CACHE_URL = redis_url_with_db(
        REDIS_URL, _broker_db + 1 if _broker_db < REDIS_LAST_DEFAULT_DB else _broker_db - 1
    )
if REDIS_URL and redis_database(QUERYBASE_CACHE_URL) == redis_database(REDIS_URL):
    raise ImproperlyConfigured("QUERYBASE_CACHE_URL must name another Redis database than REDIS_URL's.")


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
QUERYBASE_GIT_BRANCH = os.environ.get("QUERYBASE_GIT_BRANCH", "")
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
# Results are kept and served in pages of at most this many rows and about this many bytes
# of JSON: the API answers with the first page and a link to the next.
QUERYBASE_RESULT_PAGE_ROWS = env_int("QUERYBASE_RESULT_PAGE_ROWS", 1000)
QUERYBASE_RESULT_PAGE_BYTES = env_int("QUERYBASE_RESULT_PAGE_BYTES", 1024 * 1024)
# One result keeps at most this many bytes of JSON (cut there, `truncated`, as at the row
# cap), and a read with one row larger than the second fails (row_too_large): the row cap
# alone bounds how many rows a result keeps, not how large they are.
QUERYBASE_MAX_RESULT_BYTES = env_int("QUERYBASE_MAX_RESULT_BYTES", 256 * 1024 * 1024)
QUERYBASE_MAX_ROW_BYTES = env_int("QUERYBASE_MAX_ROW_BYTES", 16 * 1024 * 1024)
# Each web and worker process's memory ceiling in MiB (querybase/memory_limit.py); 0: none.
QUERYBASE_PROCESS_MEMORY_LIMIT_MB = env_int("QUERYBASE_PROCESS_MEMORY_LIMIT_MB", 2048)
# Results kept in the database beyond this many bytes are pruned, oldest first.
QUERYBASE_RESULT_STORE_MAX_BYTES = env_int("QUERYBASE_RESULT_STORE_MAX_BYTES", 2 * 1024**3)
# How long POST /api/v1/queries blocks for a result by default, and at most.
QUERYBASE_DEFAULT_WAIT_SECONDS = env_int("QUERYBASE_DEFAULT_WAIT_SECONDS", 10)
QUERYBASE_MAX_WAIT_SECONDS = env_int("QUERYBASE_MAX_WAIT_SECONDS", 60)
# A fresh read runs in the API process for up to this long before becoming a queued job.
QUERYBASE_INLINE_BUDGET_MS = env_int("QUERYBASE_INLINE_BUDGET_MS", 1000)
# A worker retries a read whose source it could not reach after this long, then twice as
# long (apps/submissions/tasks.py).
QUERYBASE_READ_RETRY_BASE_SECONDS = env_int("QUERYBASE_READ_RETRY_BASE_SECONDS", 2)
# Repeated parameterised reads on a pooled PostgreSQL connection run as server-side prepared
# statements (apps/datasources/connectors/postgresql_prepared.py). Off for a source reached
# through a pooler that does not keep sessions (PgBouncer in transaction mode).
QUERYBASE_PG_PREPARED_STATEMENTS = env_bool("QUERYBASE_PG_PREPARED_STATEMENTS", True)
QUERYBASE_MAX_SQL_CHARS = env_int("QUERYBASE_MAX_SQL_CHARS", 1_000_000)
# SQL longer than this is classified by a worker, not in the API process: classifying costs
# a microsecond or more per character (`make bench` prints it), and the inline budget
# above is wall time.
QUERYBASE_INLINE_CLASSIFY_CHARS = env_int("QUERYBASE_INLINE_CLASSIFY_CHARS", 100_000)
# Per-user rates, one per kind of endpoint (querybase/rate_limits.py: DRF's syntax, counted
# atomically in Redis over a sliding window). Query submissions and exports:
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
# The maintenance sweeper leaves alone what is younger than this: an approved request
# not yet executing, a delivery whose attempt is overdue. Work in progress is told apart
# by its session lock, not by age.
QUERYBASE_SWEEP_GRACE_SECONDS = env_int("QUERYBASE_SWEEP_GRACE_SECONDS", 60)
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
# The restricted logins users' sandbox SQL runs as (apps/sandboxes/roles.py) are named with it.
QUERYBASE_SANDBOX_ROLE_PREFIX = os.environ.get("QUERYBASE_SANDBOX_ROLE_PREFIX", "qb_sbx_")
QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES = env_int("QUERYBASE_SANDBOX_IDLE_AFTER_MINUTES", 60)
QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS = env_int("QUERYBASE_SANDBOX_GOLDEN_REFRESH_HOURS", 24)
QUERYBASE_SANDBOX_STALE_CREATING_MINUTES = env_int("QUERYBASE_SANDBOX_STALE_CREATING_MINUTES", 120)
# CSV uploads into a sandbox (apps/sandboxes/uploads.py): the file and its rows are bounded.
QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES = env_int("QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
QUERYBASE_SANDBOX_UPLOAD_MAX_ROWS = env_int("QUERYBASE_SANDBOX_UPLOAD_MAX_ROWS", 1_000_000)
# Per-user rate of sandbox requests and resets, each of which may make a copy.
QUERYBASE_SANDBOX_COPY_RATE = os.environ.get("QUERYBASE_SANDBOX_COPY_RATE", "60/hour")
# Per-user rate of event-stream connections and presence heartbeats (apps/live).
QUERYBASE_LIVE_RATE = os.environ.get("QUERYBASE_LIVE_RATE", "120/min")
# Event streams one user may hold open at once (a page open in a tab holds one). The rate
# above bounds how fast streams are opened, not how many stay open: each holds Redis
# connections, and Redis serves the broker and the cache too.
QUERYBASE_LIVE_MAX_STREAMS = env_int("QUERYBASE_LIVE_MAX_STREAMS", 10)
# Honour X-Forwarded-For for the audit log's "from where" only behind a trusted proxy.
QUERYBASE_TRUST_X_FORWARDED_FOR = env_bool("QUERYBASE_TRUST_X_FORWARDED_FOR", False)
# How many proxies of ours append to X-Forwarded-For: the client is that many from the right.
QUERYBASE_TRUSTED_PROXY_HOPS = max(1, env_int("QUERYBASE_TRUSTED_PROXY_HOPS", 1))

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
    "apps.audit_search",
    "apps.accounts",
    "apps.datasources",
    "apps.queries",
    "apps.approvals",
    "apps.sandboxes",
    "apps.submissions",
    "apps.notifications",
    "apps.live",
    "apps.web",
    "apps.api",
    "apps.demo",
]

MIDDLEWARE = [
    "querybase.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "querybase.content_security_policy.ContentSecurityPolicyMiddleware",
    "apps.api.middleware.RefuseUnstorableUrlText",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Content-Security-Policy of pages (querybase/content_security_policy.py gives anything
# that is not HTML a policy allowing nothing). Every script, style sheet, image and font
# comes from this origin (the front end is bundled, never taken from a CDN, and the API
# docs' Swagger UI comes from drf-spectacular-sidecar), and none is inline: templates hold
# no <script> body, <style> or on…= handler (JSON for scripts goes in json_script blocks,
# which never run). Images may also be data: URLs (the admin's and Swagger UI's icons).
# The workspace's editor (CodeMirror) writes its style sheets into <style> elements: a page
# that asks for `request.csp_nonce` lets in styles carrying it, never scripts.
# The browser tests fail on any violation (tests/web/conftest.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Messages are the admin's only (its "was changed successfully"), and its users always have
# a session. Django's default storage tries a signed cookie first, and builds that cookie's
# signer on every request, API calls included, whether a message is read or not: a
# measurable share of a cache hit's Python time. The session storage costs nothing until
# a message is added or read.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

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
                "apps.web.context_processors.approvals_awaiting",
            ],
        },
    },
]

if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Django's backend with a health check that needs no round trip while the
        # connection is well (querybase/db/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "querybase.db.postgresql"
        # Server-side binding, and psycopg preparing a statement on the server once this
        # connection has sent its text 5 times: the statements every read repeats (its
        # history row and audit event, its end, the rights and run lookups) are then
        # parsed and planned once per connection, not per request. Django leaves
        # preparation off, for poolers that do not keep sessions (PgBouncer in transaction
        # mode): QUERYBASE_DB_PREPARED_STATEMENTS=false behind one of those.
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["server_side_binding"] = True
        _options["prepare_threshold"] = 5 if env_bool("QUERYBASE_DB_PREPARED_STATEMENTS", True) else None
        # Work in progress is held by session locks that the server frees when a client's
        # connection dies (querybase/session_locks.py). A dead process closes its socket at
        # once; a lost host does not, so the server probes idle clients: gone within about
        # a minute (30 s + 3 x 10 s) rather than the OS default of two hours.
        _keepalives = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
        _options["options"] = f"{_options.get('options', '')} {_keepalives}".strip()
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "querybase.sqlite3"),
            "OPTIONS": {
                # Several dashboard users write at once. WAL lets readers go on while one
                # writes; IMMEDIATE takes the write lock when a transaction begins, so a
                # transaction that read first never fails to upgrade ("database is locked")
                # but waits its turn, up to `timeout` seconds.
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The audit search store (apps/audit_search/search_store): never the metadata database, so the
# audit reports never load it. With PostgreSQL metadata it defaults to a database of its
# own on the same server (<name>_audit, created by `migrate` if it may); the embedded
# default keeps an SQLite FTS5 file next to its database.
AUDIT_SEARCH_URL = os.environ.get("AUDIT_SEARCH_URL", "")
if not AUDIT_SEARCH_URL:
    if DATABASE_URL and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        _parts = urlsplit(DATABASE_URL)
        AUDIT_SEARCH_URL = urlunsplit(_parts._replace(scheme="postgresql", path=f"{_parts.path}_audit"))
    else:
        AUDIT_SEARCH_URL = f"sqlite:///{DATA_DIR / 'audit_search.sqlite3'}"
# Indexers: events per batch, and how long a claimed batch stays theirs (a killed
# indexer's batch is taken over by another once its lease has run out).
AUDIT_INDEX_BATCH_SIZE = env_int("QUERYBASE_AUDIT_INDEX_BATCH_SIZE", 500)
AUDIT_INDEX_LEASE_SECONDS = env_int("QUERYBASE_AUDIT_INDEX_LEASE_SECONDS", 60)

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
            "BACKEND": "querybase.cache.SharedClientRedisCache",
            "LOCATION": QUERYBASE_CACHE_URL,
            "KEY_PREFIX": os.environ.get("QUERYBASE_CACHE_PREFIX", "qb"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis as broker when configured; otherwise tasks run in-process (eager).
CELERY_BROKER_URL = QUERYBASE_BROKER_URL or "memory://"
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
    # The sweeper: what dead processes left behind is settled within a minute or two.
    "settle-abandoned-runs": {"task": "maintenance.settle_abandoned_runs", "schedule": 60.0},
    # Stored results past their retention or beyond the store's size bound.
    "prune-results": {"task": "maintenance.prune_results", "schedule": 600.0},
    "settle-approval-requests": {"task": "maintenance.settle_approval_requests", "schedule": 60.0},
    "requeue-stalled-deliveries": {"task": "maintenance.requeue_stalled_deliveries", "schedule": 60.0},
    # Sandboxes: idle marks, expiry, golden refresh and pool refill, per source.
    "sandbox-upkeep": {"task": "maintenance.sandbox_upkeep", "schedule": 60.0},
    # Audit search: the outbox into the search store (`manage.py audit_indexer` does the same
    # continuously, for a shorter lag).
    "index-audit-outbox": {"task": "maintenance.index_audit_outbox", "schedule": 5.0},
}
# Time limits: the soft one raises in the task (a write's transaction rolls back, its lock
# is released and the sweeper settles it); the hard one kills the worker process. Queries
# get the longest statement timeout a source may set (1 h) and a margin.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("QUERYBASE_TASK_SOFT_TIME_LIMIT", 3600 + 60)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
_SHORT_TASK_LIMITS = {"soft_time_limit": 50, "time_limit": 58}  # done before the next minute's run
CELERY_TASK_ANNOTATIONS = {
    "notifications.deliver": {
        "soft_time_limit": QUERYBASE_WEBHOOK_TIMEOUT_SECONDS * 3 + 30,
        "time_limit": QUERYBASE_WEBHOOK_TIMEOUT_SECONDS * 3 + 60,
    },
    "maintenance.settle_abandoned_runs": _SHORT_TASK_LIMITS,
    "maintenance.settle_approval_requests": _SHORT_TASK_LIMITS,
    "maintenance.requeue_stalled_deliveries": _SHORT_TASK_LIMITS,
    "maintenance.expire_approval_requests": {"soft_time_limit": 240, "time_limit": 270},
    "maintenance.index_audit_outbox": {"soft_time_limit": 55, "time_limit": 58},
}
CELERY_TASK_ROUTES = {
    "queries.*": {"queue": "queries"},
    "notifications.*": {"queue": "notifications"},
    "maintenance.*": {"queue": "maintenance"},
    # A user waits for an on-demand sandbox copy: with the reads, not behind maintenance.
    "sandboxes.*": {"queue": "queries"},
}

# Django's model backend, refusing logins while throttled (apps.accounts.throttling).
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "apps.accounts.login_limits.MaximumLengthValidator"},
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
# Hashed names, compressed copies, long cache lifetimes: querybase/staticfiles.py.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "querybase.staticfiles.HashedStaticFilesStorage"},
}
# Vendor assets are installed from npm by `make run`/`make test` (package.json), and
# `make assets` (esbuild, frontend/build.mjs) writes the minified scripts and style sheets
# and the workspace's bundles into build/static, which is found first: its
# querybase/workspace.js is the bundle made from static/querybase/workspace.js.
_NPM = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    BASE_DIR / "build" / "static",
    BASE_DIR / "static",
    ("vendor/codemirror/lib", _NPM / "codemirror/lib"),
    ("vendor/codemirror/mode/sql", _NPM / "codemirror/mode/sql"),
    ("vendor/codemirror/addon/hint", _NPM / "codemirror/addon/hint"),
    ("vendor/codemirror/addon/runmode", _NPM / "codemirror/addon/runmode"),
]

# Request bodies beyond this are refused with 413 (SQL scripts are text; 5 MB is ample).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("QUERYBASE_MAX_BODY_BYTES", 5 * 1024 * 1024)
# A client must send its request (head and body) within this many seconds of its first
# byte, plus a second for every so many bytes, or it is answered 408 and its connection
# closed: a slow client must not hold one of the web server's threads (querybase/request_arrival.py).
QUERYBASE_REQUEST_GRACE_SECONDS = env_int("QUERYBASE_REQUEST_GRACE_SECONDS", 10)
QUERYBASE_REQUEST_MIN_BYTES_PER_SECOND = max(1, env_int("QUERYBASE_REQUEST_MIN_BYTES_PER_SECOND", 10_000))

REST_FRAMEWORK: dict[str, Any] = {
    # JWT first: its WWW-Authenticate header makes a missing credential a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.CachedUserJWTAuthentication",
        "apps.accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["apps.api.renderers.ResultJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.api.parsers.StorableJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.json_error_handler",
    # `?format=` is never DRF's choice of renderer: the API speaks JSON only, and DRF's
    # override answered 404 to a list asked with format=csv. The exports and the audit
    # reports read their own `format`.
    "URL_FORMAT_OVERRIDE": None,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("QUERYBASE_JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("QUERYBASE_JWT_REFRESH_DAYS", 1)),
    "UPDATE_LAST_LOGIN": True,
    # A refresh token is good for one refresh: it is swapped for a new one and the old
    # one is blacklisted, so a stolen token stops working once its owner refreshes. One
    # presented again after that ends every token of its login (apps/accounts/tokens.py).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a digest of their user's password hash: a password change ends the
    # access tokens issued before it too, not only the refresh tokens. Claims of the wrong
    # shape are an invalid token, not a 500 (apps/accounts/tokens.py).
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_TOKEN_CLASSES": ("apps.accounts.tokens.AccessToken",),
    "TOKEN_OBTAIN_SERIALIZER": "apps.accounts.serializers.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "apps.accounts.serializers.TokenRefreshSerializer",
}
# A rotated refresh token presented again this soon after its rotation is refused without
# ending its login: two clients of one login refreshing at the same moment, not a thief.
QUERYBASE_REFRESH_REUSE_GRACE_SECONDS = env_int("QUERYBASE_REFRESH_REUSE_GRACE_SECONDS", 30)

SPECTACULAR_SETTINGS = {
    "TITLE": "QueryBase API",
    "DESCRIPTION": "Approval-gated SQL query broker.",
    "VERSION": QUERYBASE_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three models have a `status` with its own choices: each gets its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "apps.queries.models.RunStatus",
        "ApprovalStatusEnum": "apps.approvals.models.ApprovalStatus",
        "DeliveryStatusEnum": "apps.notifications.models.DeliveryStatus",
        # Sources' allowed_write_kinds and sandbox_write_kinds share one set of choices.
        "WriteKindEnum": "apps.datasources.models.WriteKind",
    },
}

# Logs (querybase/logs.py): one JSON object per line for log collectors, or structlog's
# readable console lines for a person at a terminal. A deployment gets JSON unless told
# otherwise; the embedded default and DEBUG get the console.
QUERYBASE_LOG_FORMAT = os.environ.get("QUERYBASE_LOG_FORMAT", "") or ("console" if DEBUG or EMBEDDED else "json")
if QUERYBASE_LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"QUERYBASE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING = logging_config(level=os.environ.get("QUERYBASE_LOG_LEVEL", "INFO"), log_format=QUERYBASE_LOG_FORMAT)
configure_structlog()

# HTTPS. A deployment is served over HTTPS unless QUERYBASE_HTTPS=false: plain HTTP is
# redirected, cookies are sent only over HTTPS and browsers are told (HSTS) never to try
# HTTP again. The embedded default and DEBUG serve http://127.0.0.1, so it is off there.
QUERYBASE_HTTPS = env_bool("QUERYBASE_HTTPS", not DEBUG and not EMBEDDED)
SECURE_SSL_REDIRECT = QUERYBASE_HTTPS
# Load balancers and container health checks ask over plain HTTP; these answer them
# without a redirect (and take no credentials).
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^version$"]
SESSION_COOKIE_SECURE = env_bool("QUERYBASE_SECURE_COOKIES", QUERYBASE_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# A year, as check --deploy and the HSTS preload list expect; set a few minutes for a
# first rollout, since browsers remember the promise for that long.
SECURE_HSTS_SECONDS = env_int("QUERYBASE_HSTS_SECONDS", 365 * 24 * 3600 if QUERYBASE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("QUERYBASE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("QUERYBASE_HSTS_PRELOAD", False)
if not SECURE_HSTS_PRELOAD:
    # Preloading asks browser vendors to hard-code HTTPS for the whole registered domain,
    # other hosts on it included: a decision for the domain's owner, not an app default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a proxy that terminates TLS, the request reaches Django as HTTP: only a proxy
# that sets X-Forwarded-Proto itself (and drops the client's) may be trusted with it.
if env_bool("QUERYBASE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
