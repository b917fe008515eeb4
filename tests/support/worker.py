"""The real Celery worker for the tests: on the real Redis broker, against the test database."""

import os
import signal
import subprocess
import uuid
from pathlib import Path

from django.conf import settings

from querybase.worker_process import start_worker


def _test_database_url() -> str:
    database = settings.DATABASES["default"]
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgresql://{user}{password}@{host}:{port}/{database['NAME']}"


def start_test_worker(log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _test_database_url()}
    return start_worker(env, output=log_path.open("w"), hostname=f"test-{os.getpid()}@%h")


class PrivateWorker:
    """A worker of the test's own, on a queue nobody else consumes, in a process group of
    its own: the test sends it work and can SIGKILL all of it (main process and pool), as
    an out-of-memory killer or a lost host would."""

    def __init__(self, log_path: Path):
        self.queue = f"private-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "DATABASE_URL": _test_database_url()}
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
