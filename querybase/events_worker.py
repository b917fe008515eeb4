"""gunicorn's worker for the events process: uvicorn, on an event loop.

Client addresses are taken from the socket, as the threaded server does: uvicorn would
otherwise believe X-Forwarded-For from 127.0.0.1, and the audit log's "from where" and
the login throttle trust forwarded addresses only as QUERYBASE settings say. A request
uvicorn's parser refuses is answered in the API's JSON error shape
(querybase/server_errors.py), not uvicorn's plain-text page.
"""

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from querybase.server_errors import refusal_body


class JsonRefusalH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, answering a request its parser refuses in the JSON shape."""

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
