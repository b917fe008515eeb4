"""Gunicorn's settings for QueryBase (read from the working directory, as the Docker
image runs it): the Prometheus metrics of its worker processes are added up.

Each worker process counts in its own files in PROMETHEUS_MULTIPROC_DIR, and a scrape,
answered by any one worker, reads them all (querybase/metrics.py). The directory must be
set before a worker imports prometheus_client, must start empty (old files would add a
previous run's counts), and a dead worker's live gauges must go with it.
"""

import os
import shutil
import tempfile

# A directory of our own unless one is given (it may be shared with co-located workers).
_OWN_DIRECTORY = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_DIRECTORY:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="querybase-metrics-")


def on_starting(server) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_DIRECTORY:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
