"""Starting a real Celery worker as a child process (tests, benchmark): one way to do it."""

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from querybase.celery import app

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "queries,notifications,maintenance"


def start_worker(
    env: dict[str, str],
    *,
    output: IO | None = None,
    hostname: str = "worker@%h",
    queues: str = QUEUES,
    own_session: bool = False,
) -> subprocess.Popen:
    """Start `celery worker` on `queues` (purged first when they are ours: every queue),
    and wait until this very worker answers a ping. `own_session` puts the worker and its
    pool in a process group of their own (pgid = its pid), so all of it can be killed at once."""
    if queues == QUEUES:
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
            queues,
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
        start_new_session=own_session,
    )
    name = hostname.replace("%h", socket.gethostname())
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[name], timeout=0.5):
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
