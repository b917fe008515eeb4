"""Test session set-up: real PostgreSQL, MariaDB and Redis, or a loud failure (except for
the unit tier, tests/unit, which needs none of them)."""

import os
import socket
import warnings
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import override_settings
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from apps.demo.shop import build_shop_database
from tests.support import databases, fast_flush
from tests.support.approvals import Team, ledger_source
from tests.support.factories import make_user
from tests.support.worker import start_test_worker
from tests.support.worker_process import stop_worker

# Sources, sweeps and checksums for sandbox tests (tests/sandboxes and tests/security).
pytest_plugins = ["tests.support.sandboxes"]

REQUIRED_ENV = ("DATABASE_URL", "REDIS_URL", "QUERYBASE_TEST_POSTGRES_URL", "QUERYBASE_TEST_MYSQL_URL")
SERVICES = {"PostgreSQL": ("127.0.0.1", 5432), "MariaDB": ("127.0.0.1", 3306), "Redis": ("127.0.0.1", 6379)}


UNIT_TIER = Path(__file__).resolve().parent / "unit"


def pytest_configure(config):
    # transactional_db tests empty the database with DELETEs instead of a slow TRUNCATE.
    fast_flush.install()


def pytest_make_parametrize_id(config, val, argname):
    """Ids without the namespace: a parameter may name this run's databases, and every
    xdist worker (each in a namespace of its own) must collect the same test ids."""
    namespace = os.environ.get("QUERYBASE_TEST_NAMESPACE", "")
    if namespace and isinstance(val, str) and namespace in val:
        return val.replace(namespace, "")
    return None


def pytest_collection_modifyitems(config, items):
    """The unit tier (tests/unit) needs no service: it runs on the embedded default
    (SQLite, in-process cache) with PostgreSQL, MariaDB and Redis unreachable. Any other
    test needs all three, for real: the run stops loudly if one is missing or down."""
    if all(UNIT_TIER in Path(str(item.path)).parents for item in items):
        return
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.exit(f"Run the suite with `make test` (missing environment: {', '.join(missing)}).", returncode=2)
    down = []
    for name, address in SERVICES.items():
        try:
            socket.create_connection(address, timeout=2).close()
        except OSError:
            down.append(f"{name} at {address[0]}:{address[1]}")
    if down:
        pytest.exit(f"Services the suite needs are down: {', '.join(down)}. `make test` starts them.", returncode=2)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, which it drops at the end of the session: a
    connection some process or thread still holds would keep DROP DATABASE from dropping
    it (leaving it on the server), so those are named in a warning, then ended."""
    yield
    if connection.vendor != "postgresql":
        return  # the unit tier's SQLite file: no server, no other session
    with django_db_blocker.unblock():
        lingering = databases.end_other_sessions_on(connection)
    if lingering:
        warnings.warn(f"sessions still on the test database at its drop, ended: {lingering}", stacklevel=1)


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Django's own advice for test suites: the production hasher (PBKDF2, about half a
    second per password on this machine) would spend minutes creating users. The real
    hasher is kept where it matters: the embedded-default smoke test runs the app as
    shipped, in its own process."""
    override = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    override.enable()
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_user(db):
    return make_user("root-admin", is_admin=True)


@pytest.fixture
def admin_client(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture(scope="session")
def live_server(request, django_db_setup):
    """pytest-django's live server, but serving static files the way a deployment does:
    through WhiteNoise, from what collectstatic gathered (`make test` runs it), under their
    hashed names and with their compressed copies, rather than from the source folders.
    It serves the test database, so it starts after it is made and stops before it is
    dropped (a connection still open would keep DROP DATABASE from dropping it)."""
    server = LiveServer(request.config.getvalue("liveserver") or "localhost", start=False)
    server.thread.static_handler = lambda application: application
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """The real worker, started once for the session; tests using it need committed data
    (`transactional_db`), since the worker is another process."""
    log_path = settings.DATA_DIR / "celery-worker.log"
    process = start_test_worker(log_path)
    yield process
    stop_worker(process)


@pytest.fixture(scope="session")
def postgres_server():
    server = databases.create_postgres_source()
    yield server
    databases.drop_postgres_source()


@pytest.fixture(scope="session")
def mysql_server():
    server = databases.create_mysql_source()
    yield server
    databases.drop_mysql_source()


@pytest.fixture(scope="session")
def shop_sqlite_path():
    path = settings.QUERYBASE_SQLITE_ROOTS[0] / "test_shop.sqlite3"
    if not path.exists():
        build_shop_database(path)
    return path


@pytest.fixture
def team(postgres_server, transactional_db):
    """An analyst, two approvers and an outsider around a PostgreSQL source with a ledger."""
    return Team(ledger_source(postgres_server))
