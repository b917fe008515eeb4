"""Starting a real Celery worker as a child process (tests, benchmark): one way to do it."""

import ctypes
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from querybase.celery import app

ROOT = Path(__file__).resolve().parents[2]
QUEUES = "queries,notifications,maintenance"
_PR_SET_PDEATHSIG = 1
# A worker left over from an interrupted run, still polling these queues, would take the
# suite's tasks and run them against a database that is gone: it is told to stop first.
_LEFTOVER_SHUTDOWN_SECONDS = 30


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies, so a killed
    test run or benchmark leaves no worker behind to consume the next run's queues."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_leftover_workers() -> None:
    if not app.control.ping(timeout=0.5):
        return
    app.control.broadcast("shutdown")
    deadline = time.monotonic() + _LEFTOVER_SHUTDOWN_SECONDS
    while app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise RuntimeError("a Celery worker left over from an earlier run on this broker does not stop")


def start_worker(
    env: dict[str, str],
    *,
    output: IO | None = None,
    hostname: str = "worker@%h",
    queues: str = QUEUES,
    own_session: bool = False,
) -> subprocess.Popen:
    """Start `celery worker` on `queues` (when they are every queue: any worker left on this
    broker is stopped and the queues purged first), and wait until this very worker answers
    a ping. `own_session` puts the worker and its pool in a process group of their own
    (pgid = its pid), so all of it can be killed at once."""
    if queues == QUEUES:
        _stop_leftover_workers()
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
        preexec_fn=_die_with_parent,
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
