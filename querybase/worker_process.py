"""Starting a real Celery worker as a child process (tests, benchmark): one way to do it."""

import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from querybase.celery import app

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "queries,notifications,maintenance"


def start_worker(env: dict[str, str], *, output: IO | None = None, hostname: str = "worker@%h") -> subprocess.Popen:
    """Purge the queues, start `celery worker` on every queue, and wait until it answers a ping."""
    app.control.purge()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_worker",
            "worker",
            "-Q",
            QUEUES,
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            hostname,
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the Celery worker did not start (see its output)")
    return process


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
