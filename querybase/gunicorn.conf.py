"""The one way QueryBase's web server runs: the Docker image, `make run` with Redis and
`make bench` all start `gunicorn -c querybase/gunicorn.conf.py querybase.wsgi`.

Requests here wait by design: POST /api/v1/queries blocks up to `wait` seconds (at most
QUERYBASE_MAX_WAIT_SECONDS) for a queued read, and an export streams for as long as its
query runs. gunicorn's sync workers serve one request each and are killed ("WORKER
TIMEOUT", a 500 text/html page) once a request outlasts `timeout` (30 s by default). So:

- threaded workers (gthread): a waiting request holds a thread, not the whole process,
  and the worker's heartbeat keeps beating while its threads wait; a worker accepts a
  connection only while one of its threads is free (querybase/web_worker.py), so the
  connections spread over the workers instead of queueing in one;
- a timeout above the longest wait and the longest query an export may run, so even a
  worker whose main loop is busy is never killed under a request that is allowed to last.

Live event streams are the exception: they last as long as a page stays open, so they are
served by a second process in the "events" role (below), on an event loop.

Read from the same environment as the app (querybase/settings.py); flags on the command
line (e.g. `--bind`) still win over these values.

It also puts gunicorn's own lines in QueryBase's log format, and adds up the Prometheus
metrics of its worker processes: each worker counts in its own files in
PROMETHEUS_MULTIPROC_DIR, and a scrape, answered by any one worker, reads them all
(querybase/metrics.py). The directory must be set before anything imports
prometheus_client, must start empty (old files would add a previous run's counts), and a
dead worker's live gauges must go with it.
"""

import gc
import os
import shutil
import tempfile

# A directory of our own unless one is given (it may be shared with co-located workers).
_OWN_DIRECTORY = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_DIRECTORY:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="querybase-metrics-")

# Imported only now: the package loads prometheus_client, which reads the variable above.
from querybase import settings as querybase_settings  # noqa: E402
from querybase.logs import logging_config  # noqa: E402
from querybase.server_errors import answer_gunicorn_refusals_in_json  # noqa: E402

# A data source's statement time limit is at most an hour (DataSource.statement_timeout_ms),
# and an export streams for as long as its query runs.
LONGEST_EXPORT_SECONDS = 3600
LONGEST_REQUEST_SECONDS = max(querybase_settings.QUERYBASE_MAX_WAIT_SECONDS, LONGEST_EXPORT_SECONDS)

# Two roles under this one configuration. "web" (the default) serves everything on
# threads. "events" serves the live event streams (GET /api/v1/events, querybase/asgi.py)
# on an event loop: an open stream lasts as long as the page that opened it, and on
# threads each would hold one for its whole life. A deployment routes /api/v1/events to
# the events process (docker/compose.yml, README).
SERVER_ROLE = os.environ.get("QUERYBASE_SERVER_ROLE", "web")
if SERVER_ROLE not in ("web", "events"):
    raise ValueError(f"QUERYBASE_SERVER_ROLE must be web or events, not {SERVER_ROLE!r}")
if SERVER_ROLE == "events":
    wsgi_app = "querybase.asgi:application"
    bind = [os.environ.get("QUERYBASE_EVENTS_BIND", "127.0.0.1:8001")]
    worker_class = "querybase.events_worker.EventsWorker"
else:
    wsgi_app = "querybase.wsgi:application"
    bind = [os.environ.get("QUERYBASE_BIND", "127.0.0.1:8000")]
    # gthread, taking a connection only while it has a thread free to serve it.
    worker_class = "querybase.web_worker.WebWorker"
workers = querybase_settings.env_int("QUERYBASE_WEB_WORKERS", 2)
threads = querybase_settings.env_int("QUERYBASE_WEB_THREADS", 8)
timeout = LONGEST_REQUEST_SECONDS + 30
# On restart, requests already waiting get the same time to finish.
graceful_timeout = querybase_settings.QUERYBASE_MAX_WAIT_SECONDS + 10
keepalive = 5
# Every request is logged (its access line names the request id), as the image ships.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("QUERYBASE_LOG_LEVEL", "info").lower()
# No runtime control socket (gunicornc): its one default path per user would be shared by
# every server on the machine, and we manage the server through its process.
control_socket_disable = True
# What gunicorn refuses before the app sees it (a request line over 4094 bytes, headers too
# large, a malformed header) is answered in the API's JSON error shape, not an HTML page.
answer_gunicorn_refusals_in_json()


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


def post_fork(server, worker) -> None:
    from querybase.memory_limit import apply_memory_limit

    apply_memory_limit()


def post_worker_init(worker) -> None:
    # The worker has loaded the app: Django, every module, the settings, a hundred and
    # fifty thousand objects that live as long as the worker. Python's full collections,
    # which a busy worker runs every few hundred requests, walked all of them each time;
    # frozen, they are left out, and a collection walks what requests made.
    gc.collect()
    gc.freeze()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if _OWN_DIRECTORY:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
