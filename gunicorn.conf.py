"""Gunicorn's settings for QueryBase (read from the working directory, as the Docker
image runs it): gunicorn's own lines in QueryBase's log format, and the Prometheus
metrics of its worker processes added up.

Each worker process counts in its own files in PROMETHEUS_MULTIPROC_DIR, and a scrape,
answered by any one worker, reads them all (querybase/metrics.py). The directory must be
set before a worker imports prometheus_client, must start empty (old files would add a
previous run's counts), and a dead worker's live gauges must go with it.
"""

import logging
import os
import shutil
import tempfile

# A directory of our own unless one is given (it may be shared with co-located workers).
_OWN_DIRECTORY = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_DIRECTORY:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="querybase-metrics-")

# Imported only now: the package loads prometheus_client, which reads the variable above.
from querybase.logs import logging_config  # noqa: E402

# Gunicorn's error and access lines go to the root handler, rendered like the app's (JSON
# unless QUERYBASE_LOG_FORMAT says otherwise: gunicorn serves deployments). The access
# line names the request id the app echoed.
logconfig_dict = logging_config(
    level=os.environ.get("QUERYBASE_LOG_LEVEL", "INFO"), log_format=os.environ.get("QUERYBASE_LOG_FORMAT") or "json"
)
logconfig_dict["loggers"] |= {
    "gunicorn.error": {"handlers": [], "propagate": True},
    "gunicorn.access": {"handlers": [], "propagate": True},
}
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'


def on_starting(server) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)
    # A log configuration turns gunicorn's access log on; keep it to servers asked for
    # one (--access-logfile, as the Docker image does), as without this file.
    if server.cfg.accesslog is None:
        logging.getLogger("gunicorn.access").setLevel(logging.WARNING)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_DIRECTORY:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
