"""gunicorn's worker for the events process: uvicorn, on an event loop.

Client addresses are taken from the socket, as the threaded server does: uvicorn would
otherwise believe X-Forwarded-For from 127.0.0.1, and the audit log's "from where" and
the login throttle trust forwarded addresses only as QUERYBASE settings say. A request
uvicorn's parser refuses is answered in the API's JSON error shape
(querybase/server_errors.py), not uvicorn's plain-text page.

uvicorn gives a client all the time it likes to send a request: only an idle kept-alive
connection is closed (after 5 s). A connection sending a header or body byte now and
then, or nothing at all, stayed open for good, each holding a file descriptor and
memory, until the process could take no more connections and no page got live updates.
As on the web server (querybase/request_arrival.py), a request must now have come whole
within QUERYBASE_REQUEST_GRACE_SECONDS of the connection, or of the previous answer, or
the connection is answered 408 (closed without a word if the answer has begun). The
events process takes no request bodies anyway (querybase/asgi.py refuses them unread).
"""

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from querybase import settings as querybase_settings
from querybase.server_errors import refusal_body, refusal_response


class JsonRefusalH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request its parser refuses in the JSON shape,
    and refusing one that does not come in time."""

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        super().connection_made(transport)
        self._await_request()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._deadline is not None and not self._request_arriving():
            self._deadline.cancel()
            self._deadline = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Kept alive: the next request has the same time to come (the part of it that
        # came with the last one included).
        if self._request_arriving():
            self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _request_arriving(self) -> bool:
        """Its head, or its body, is still to come."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing()

    def _await_request(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(
            querybase_settings.QUERYBASE_REQUEST_GRACE_SECONDS, self._refuse_slow_request
        )

    def _refuse_slow_request(self) -> None:
        self._deadline = None
        if not self._request_arriving():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            # Written past h11, which may have no request to answer; the connection ends with it.
            self.transport.write(refusal_response(408, "Request Timeout"))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = refusal_body(400)
        headers = [
            (b"content-type", b"application/json"),
            (b"x-content-type-options", b"nosniff"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for output in (
            self.conn.send(h11.Response(status_code=400, headers=headers, reason=b"Bad Request")),
            self.conn.send(h11.Data(data=body)),
            self.conn.send(h11.EndOfMessage()),
        ):
            self.transport.write(output)
        self.transport.close()


class EventsWorker(UvicornWorker):
    CONFIG_KWARGS = {
        **UvicornWorker.CONFIG_KWARGS,
        "proxy_headers": False,
        "lifespan": "off",
        "http": JsonRefusalH11Protocol,
    }
