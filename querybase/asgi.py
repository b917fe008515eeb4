"""The events process's entry point (QUERYBASE_SERVER_ROLE=events gunicorn -c
querybase/gunicorn.conf.py): GET /api/v1/events on an event loop, where an open stream
is a coroutine, not a thread.

It serves that path and /health only. Everything else is the threaded server's
(querybase.wsgi): Django on ASGI reads a synchronous streaming response whole before
sending it, which would hold a whole export in memory.
"""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "querybase.settings")

django_application = get_asgi_application()

SERVED_PATHS = frozenset({"/api/v1/events", "/health"})
# Opening a stream reads the database (who is asking); at most this many are being opened
# at a time (every page of a deployment reconnecting after a restart), so a burst waits
# here rather than in memory. An open stream holds no slot, and no database connection
# (closed once the user is known, apps/live/views.py).
_OPENING = asyncio.Semaphore(int(os.environ.get("QUERYBASE_WEB_THREADS", "8")))
_NOT_HERE = (
    b'{"error": {"code": "not_found", "message": "This server only streams live events (/api/v1/events).", '
    b'"details": null}}'
)


async def application(scope, receive, send) -> None:
    if scope["type"] != "http" or scope["path"] in SERVED_PATHS:
        await _open_then_stream(scope, receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_NOT_HERE)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": _NOT_HERE})


async def _open_then_stream(scope, receive, send) -> None:
    await _OPENING.acquire()
    opening = True

    async def send_and_free_the_slot(message) -> None:
        nonlocal opening
        if opening and message["type"] == "http.response.start":
            opening = False
            _OPENING.release()
        await send(message)

    try:
        # `handle`, not the handler itself: that would give each request a thread of its
        # own for its synchronous parts (asgiref's ThreadSensitiveContext), parked for as
        # long as the stream stays open. Without it they share one thread: opening a
        # stream is a few milliseconds of it, an open stream none.
        await django_application.handle(scope, receive, send_and_free_the_slot)
    finally:
        if opening:
            _OPENING.release()
