"""The one way QueryBase's web server runs: the Docker image, `make run` with Redis and
`make bench` all start `gunicorn -c querybase/gunicorn.conf.py querybase.wsgi`.

Requests here wait by design: POST /api/v1/queries blocks up to `wait` seconds (at most
QUERYBASE_MAX_WAIT_SECONDS) for a queued read, and an export streams for as long as its
query runs. gunicorn's sync workers serve one request each and are killed ("WORKER
TIMEOUT", a 500 text/html page) once a request outlasts `timeout` (30 s by default). So:

- threaded workers (gthread): a waiting request holds a thread, not the whole process,
  and the worker's heartbeat keeps beating while its threads wait;
- a timeout above the longest wait and the longest query an export may run, so even a
  worker whose main loop is busy is never killed under a request that is allowed to last.

Read from the same environment as the app (querybase/settings.py); flags on the command
line (e.g. `--bind`) still win over these values.
"""

import os

from querybase import settings as querybase_settings

# A data source's statement time limit is at most an hour (DataSource.statement_timeout_ms),
# and an export streams for as long as its query runs.
LONGEST_EXPORT_SECONDS = 3600
LONGEST_REQUEST_SECONDS = max(querybase_settings.QUERYBASE_MAX_WAIT_SECONDS, LONGEST_EXPORT_SECONDS)

wsgi_app = "querybase.wsgi:application"
bind = [os.environ.get("QUERYBASE_BIND", "127.0.0.1:8000")]
worker_class = "gthread"
workers = querybase_settings.env_int("QUERYBASE_WEB_WORKERS", 2)
threads = querybase_settings.env_int("QUERYBASE_WEB_THREADS", 8)
timeout = LONGEST_REQUEST_SECONDS + 30
# On restart, requests already waiting get the same time to finish.
graceful_timeout = querybase_settings.QUERYBASE_MAX_WAIT_SECONDS + 10
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("QUERYBASE_LOG_LEVEL", "info").lower()
# No runtime control socket (gunicornc): its one default path per user would be shared by
# every server on the machine, and we manage the server through its process.
control_socket_disable = True
