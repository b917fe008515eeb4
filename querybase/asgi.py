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
# Neither path takes a request body. Django's handler reads a body whole before the view
# runs, and a stream being opened holds a slot above: connections announcing a body and
# sending it a byte at a time held every slot, and no stream opened, nor /health answered.
# A request with a body is refused at once, unread, and the connection closed.
_NO_BODY = b'{"error": {"code": "payload_too_large", "message": "This server takes no request body.", "details": null}}'
_NOT_HERE = (
    b'{"error": {"code": "not_found", "message": "This server only streams live events (/api/v1/events).", '
    b'"details": null}}'
)


async def application(scope, receive, send) -> None:
    if scope["type"] == "http" and _has_body(scope):
        await _answer(send, 413, _NO_BODY, close=True)
        return
    if scope["type"] != "http" or scope["path"] in SERVED_PATHS:
        await _open_then_stream(scope, receive, send)
        return
    await _answer(send, 404, _NOT_HERE)


def _has_body(scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _answer(send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:  # the body the client sends is never read: nothing after it can be framed
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
