"""Services of its own for each pytest-xdist worker, so `make test` runs the suite on every core.

Loaded with `-p tests.support.parallel`, which imports it before pytest-django reads the Django
settings: the settings, and every process a test starts (the Celery worker, the shipped
server), then see this worker's environment. Outside a worker it changes nothing.

Worker N (xdist's "gwN") gets what two checkouts side by side get (see the Makefile):
- a namespace suffix `_wN`, which names its source databases, logins and sandbox copies;
- its own audit search database (the metadata database is pytest-django's, suffixed `_gwN`);
- its own Redis databases, N below the run's broker and cache databases;
- its own data directory (SQLite sources, secrets, logs), sharing the collected static files;
- its own slice of QUERYBASE_TEST_PORTS, when the run keeps test servers to a range.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

REDIS_DATABASES = 16


def _replace_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def _own_audit_database(url: str, suffix: str) -> str:
    """The audit search URL with this worker's database, made on first use."""
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}{suffix}"
    admin = _replace_path(url, "/postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    return _replace_path(url, f"/{name}")


def _redis_database_below(url: str, steps: int) -> str:
    base = int(urlsplit(url).path.lstrip("/") or 0)
    return _replace_path(url, f"/{(base - steps) % REDIS_DATABASES}")


def _port_slice(span: str, worker: int, workers: int) -> str:
    low, high = (int(bound) for bound in span.split("-"))
    size = (high - low + 1) // workers
    if size < 1:
        raise RuntimeError(f"QUERYBASE_TEST_PORTS {span} has fewer ports than the {workers} test workers")
    start = low + worker * size
    return f"{start}-{start + size - 1}"


def _own_data_directory(base: Path, suffix: str) -> Path:
    """A data directory beside the run's, whose static files are the run's (collected once)."""
    directory = base.with_name(f"{base.name}{suffix}")
    directory.mkdir(parents=True, exist_ok=True)
    static = directory / "static"
    if not os.path.lexists(static):  # a link to a folder not yet collected is a link still
        static.symlink_to(base / "static", target_is_directory=True)
    return directory


def give_this_worker_its_own_services() -> None:
    worker_id = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker_id or os.environ.get("QUERYBASE_TEST_WORKER") == worker_id:
        return  # not an xdist worker, or already applied (a process started by a worker)
    worker = int(worker_id.removeprefix("gw"))
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    if workers > REDIS_DATABASES // 2:
        raise RuntimeError(f"{workers} test workers: their brokers would share Redis databases with their caches")
    suffix = f"_w{worker}"
    env = os.environ
    env["QUERYBASE_TEST_WORKER"] = worker_id
    env["QUERYBASE_TEST_NAMESPACE"] = env.get("QUERYBASE_TEST_NAMESPACE", "") + suffix
    env["AUDIT_SEARCH_URL"] = _own_audit_database(env["AUDIT_SEARCH_URL"], suffix)
    for name in ("REDIS_URL", "QUERYBASE_CACHE_URL"):
        env[name] = _redis_database_below(env[name], worker)
    if env.get("QUERYBASE_TEST_PORTS"):
        env["QUERYBASE_TEST_PORTS"] = _port_slice(env["QUERYBASE_TEST_PORTS"], worker, workers)
    env["QUERYBASE_DATA_DIR"] = str(_own_data_directory(Path(env["QUERYBASE_DATA_DIR"]), suffix))


give_this_worker_its_own_services()
