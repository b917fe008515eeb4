"""gunicorn's worker for the events process: uvicorn, on an event loop.

Client addresses are taken from the socket, as the threaded server does: uvicorn would
otherwise believe X-Forwarded-For from 127.0.0.1, and the audit log's "from where" and
the login throttle trust forwarded addresses only as QUERYBASE settings say.
"""

from uvicorn_worker import UvicornWorker


class EventsWorker(UvicornWorker):
    CONFIG_KWARGS = {**UvicornWorker.CONFIG_KWARGS, "proxy_headers": False, "lifespan": "off"}
