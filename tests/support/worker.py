"""The real Celery worker for the tests: on the real Redis broker, against the test database."""

import os
import subprocess
from pathlib import Path

from django.conf import settings

from querybase.worker_process import start_worker


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
    return start_worker(env, output=log_path.open("w"), hostname=f"test-{os.getpid()}@%h")
