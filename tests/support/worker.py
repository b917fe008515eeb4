"""The real Celery worker for the tests: on the real Redis broker, against the test database."""

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import redis
from django.conf import settings

from querybase.celery import app
from tests.support.worker_process import QUEUES, start_worker

# Two idle looks in a row: a message the worker has just taken off a queue may not yet be
# listed as reserved by it.
_IDLE_LOOKS = 2


def suite_database_url() -> str:
    """The URL of the suite's own database, for processes the tests start."""
    database = settings.DATABASES["default"]
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgresql://{user}{password}@{host}:{port}/{database['NAME']}"


def start_test_worker(log_path: Path) -> subprocess.Popen:
    # JSON lines, so tests can find what the worker logged about their requests.
    env = {**os.environ, "DATABASE_URL": suite_database_url(), "QUERYBASE_LOG_FORMAT": "json"}
    return start_worker(env, output=log_path.open("w"), hostname=_hostname())


class PrivateWorker:
    """A worker of the test's own, on a queue nobody else consumes, in a process group of
    its own: the test sends it work and can SIGKILL all of it (main process and pool), as
    an out-of-memory killer or a lost host would."""

    def __init__(self, log_path: Path):
        self.queue = f"private-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DATABASE_URL": suite_database_url()}
        self.process = start_worker(
            env,
            output=log_path.open("w"),
            hostname=f"{self.queue}@%h",
            queues=self.queue,
            own_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> "PrivateWorker":
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.kill()


def _hostname() -> str:
    return f"test-{os.getpid()}@{socket.gethostname()}"


def wait_until_worker_idle(timeout: float = 60) -> None:
    """Block until every queue is empty and the test worker holds no task.

    A test asserting that something did *not* happen (a second run, a write after a
    rejection) asks after this, instead of sleeping for a guessed while. `timeout` only
    detects a hang.
    """
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    inspect = app.control.inspect(destination=[_hostname()], timeout=5)
    deadline = time.monotonic() + timeout
    looks = 0
    while looks < _IDLE_LOOKS:
        if time.monotonic() > deadline:
            raise AssertionError(f"the Celery worker was still busy after {timeout}s")
        queued = any(_queued(broker, queue) for queue in QUEUES.split(","))
        held = [inspect.active(), inspect.reserved(), inspect.scheduled()]
        busy = queued or any(tasks for replies in held for tasks in (replies or {}).values())
        looks = 0 if busy else looks + 1
        time.sleep(0.05)


def _queued(broker: redis.Redis, queue: str) -> bool:
    # Kombu keeps one list per queue and priority step ("queries", "queries\x06\x163", …).
    return any(broker.type(key) == b"list" and broker.llen(key) for key in broker.scan_iter(f"{queue}*"))
