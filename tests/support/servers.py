"""The shipped server (querybase/gunicorn.conf.py) started for a test, in either role."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.databases import free_port
from tests.support.worker import suite_database_url

ROOT = Path(__file__).resolve().parent.parent.parent
CONFIG = ROOT / "querybase" / "gunicorn.conf.py"


@contextmanager
def shipped_server(
    log_path: Path, *, role: str = "web", env: dict[str, str] | None = None, flags: Sequence[str] = ()
) -> Iterator[str]:
    """The server's base URL while it serves the suite's database; its output goes to `log_path`.
    `flags` are added to gunicorn's command line, where they win over the shipped config."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "QUERYBASE_WEB_WORKERS": "1",
        "QUERYBASE_SERVER_ROLE": role,
        **(env or {}),
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--bind", f"127.0.0.1:{port}", *flags],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/health", server, log_path)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_until_up(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{log_path.read_text()}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:  # not listening yet, or still loading
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not come up:\n{log_path.read_text()}")
