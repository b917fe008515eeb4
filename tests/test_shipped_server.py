"""The server as it ships (querybase/gunicorn.conf.py), started for real over HTTP.

gunicorn's sync workers with their default 30 s timeout killed a POST /api/v1/queries
that was allowed to wait 45 s for a read blocked by a lock: the client got a 500 HTML
page ("WORKER TIMEOUT"). Two things in the shipped config keep it from happening again,
and each is checked here: its timeout is above every wait a request is allowed (read
from the config, against gunicorn's own default), and its workers are threaded, so a
request that waits does not stop its worker's heartbeat. The second is shown over HTTP
with the worker timeout shortened on the command line: a read waits past that timeout
and still gets its JSON answer, where a worker that stopped beating under it would be
killed just as it was at 30 s, only sooner.
"""

import gc
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings
from django.utils.module_loading import import_string
from gunicorn.config import Timeout
from gunicorn.workers.gthread import ThreadWorker
from rest_framework_simplejwt.tokens import AccessToken

from apps.datasources.models import DataSource
from tests.support import servers
from tests.support.factories import reader, source_from_server

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "querybase" / "gunicorn.conf.py"
# The live server's worker timeout, given on the command line over the shipped one: a worker
# whose heartbeat stopped while a request waits is killed after this long. Shorter than
# gunicorn's default (30 s), so the test need not wait that long, and long enough for a
# worker to load the app (about 2 s here) before its first heartbeat.
SHORT_WORKER_TIMEOUT_S = 10
MARKER = "blocked-behind-a-lock"


def _load_config() -> dict:
    namespace: dict = {"__file__": str(CONFIG)}
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), namespace)  # noqa: S102 (our own file)
    return namespace


def test_the_shipped_config_uses_threads_and_outlasts_every_allowed_wait():
    config = _load_config()
    longest_statement_s = (
        max(
            validator.limit_value
            for validator in DataSource._meta.get_field("statement_timeout_ms").validators
            if validator.__class__.__name__ == "MaxValueValidator"
        )
        / 1000
    )
    assert issubclass(import_string(config["worker_class"]), ThreadWorker)
    assert config["threads"] > 1
    assert config["timeout"] > Timeout.default
    assert config["timeout"] > settings.QUERYBASE_MAX_WAIT_SECONDS
    assert config["timeout"] > longest_statement_s


def test_a_worker_leaves_what_it_loaded_out_of_every_collection():
    """The app's modules and settings live as long as the worker: the full collections a busy
    worker runs every few hundred requests should not walk them again each time."""
    config = _load_config()
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


@pytest.fixture
def server_with_a_short_timeout(tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with servers.shipped_server(log_path, flags=["--timeout", str(SHORT_WORKER_TIMEOUT_S)]) as base:
        yield base, log_path


def _blocked_backends(admin: psycopg.Connection) -> int:
    return admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        [f"%{MARKER}%"],
    ).fetchone()[0]


@pytest.mark.django_db(transaction=True)  # the server and the worker are other processes
@pytest.mark.usefixtures("celery_worker")
def test_a_read_waiting_behind_a_lock_past_the_worker_timeout_answers_json(
    server_with_a_short_timeout, postgres_server
):
    base, log_path = server_with_a_short_timeout
    source = source_from_server("pg", "postgresql", postgres_server, statement_timeout_ms=120_000)
    token = str(AccessToken.for_user(reader("ana", source)))
    server_args = {"host": postgres_server.host, "port": postgres_server.port, "user": postgres_server.username}

    # A plain SELECT never waits on a row lock in PostgreSQL (it reads the old version), so
    # the lock that blocks a read is a table lock, as a migration's ALTER TABLE takes.
    with (
        psycopg.connect(**server_args, dbname=postgres_server.database) as holder,
        psycopg.connect(**server_args, dbname="postgres", autocommit=True) as admin,
    ):
        holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        answer: dict = {}
        answered = threading.Event()

        def ask() -> None:
            try:
                answer["response"] = requests.post(
                    f"{base}/api/v1/queries",
                    json={"datasource": source.pk, "sql": f"SELECT count(*) FROM customers /* {MARKER} */", "wait": 45},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                )
            finally:
                answered.set()

        started = time.monotonic()
        asking = threading.Thread(target=ask)
        asking.start()
        deadline = started + 30
        while not _blocked_backends(admin) and not answered.is_set():
            assert time.monotonic() < deadline, "the read never reached the lock"
            answered.wait(0.1)
        # Keep the read blocked until the request has outlived the worker timeout; a server
        # that kills it answers early, and the wait ends then.
        answered.wait(SHORT_WORKER_TIMEOUT_S + 5 - (time.monotonic() - started))
        holder.rollback()
        asking.join(timeout=60)

    response = answer["response"]
    log = log_path.read_text()
    assert "WORKER TIMEOUT" not in log, log
    assert response.headers["Content-Type"] == "application/json", response.text[:500]
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["result"]["rows"] == [[2]]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_worker_whose_threads_all_wait_leaves_new_connections_to_another(tmp_path, postgres_server):
    """Two workers of one thread each. gthread's main thread accepted whatever arrived: a
    connection taken by the worker whose thread waits behind a lock queued there until the
    lock went, while the other worker stood idle. Each of ten new connections has that
    worker's even chance; all ten are answered while the lock is held."""
    source = source_from_server("pg", "postgresql", postgres_server, statement_timeout_ms=120_000)
    token = str(AccessToken.for_user(reader("ana", source)))
    server_args = {"host": postgres_server.host, "port": postgres_server.port, "user": postgres_server.username}
    env = {"QUERYBASE_WEB_WORKERS": "2", "QUERYBASE_WEB_THREADS": "1"}
    with (
        servers.shipped_server(tmp_path / "gunicorn.log", env=env) as base,
        psycopg.connect(**server_args, dbname=postgres_server.database) as holder,
        psycopg.connect(**server_args, dbname="postgres", autocommit=True) as admin,
    ):
        holder.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        answer: dict = {}
        asking = threading.Thread(
            target=lambda: answer.update(
                response=requests.post(
                    f"{base}/api/v1/queries",
                    json={"datasource": source.pk, "sql": f"SELECT count(*) FROM customers /* {MARKER} */", "wait": 45},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                )
            )
        )
        asking.start()
        deadline = time.monotonic() + 30
        while not _blocked_backends(admin):
            assert time.monotonic() < deadline, "the read never reached the lock"
            time.sleep(0.1)

        # requests.get opens a connection of its own each time. A connection queued behind
        # the wait would get no answer before the lock goes: it times out instead.
        statuses = [requests.get(f"{base}/version", timeout=20).status_code for _ in range(10)]
        still_blocked = _blocked_backends(admin)
        holder.rollback()
        asking.join(timeout=60)

    assert statuses == [200] * 10
    assert still_blocked == 1
    assert answer["response"].status_code == 200, answer["response"].text[:500]
    assert answer["response"].json()["result"]["rows"] == [[2]]
