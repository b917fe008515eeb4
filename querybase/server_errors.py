"""The answers the HTTP servers write themselves, before Django sees a request, in the API's
JSON error shape ({"error": {"code", "message", "details"}}).

gunicorn (the web role) refuses a request line over 4094 bytes (414), headers over its
limits (431), a malformed request line or header (400), and answers 500 when a worker
fails outside the app; its worker refuses a request sent too slowly (408) or with a
body in a transfer coding (411, querybase/request_arrival.py); uvicorn (the events role)
refuses what its parser cannot read (400). Both wrote those as an HTML or plain-text
page, so an API client that sent a long query string or a stray header got a body it
could not parse. Neither server knows the path when the request line itself is bad, so
every such answer is JSON, the dashboard's included (browsers do not send such requests).

The messages are fixed, never the server's own text: that echoes what the client sent.
uvicorn's half is its protocol class in querybase/events_worker.py.
"""

import json

from gunicorn import util as gunicorn_util

# Status → (stable code, message). Anything else gunicorn may answer is a 400.
_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "The request could not be understood."),
    403: ("forbidden", "The request was refused."),
    408: ("request_timeout", "The request was not sent in time; the connection is closed."),
    414: ("request_line_too_long", "The request line (method, path and query) is longer than this server accepts."),
    411: ("length_required", "A request body must come with a Content-Length, not in a transfer coding."),
    417: ("expectation_failed", "The server cannot meet the request's Expect header."),
    431: ("headers_too_large", "The request's headers are larger than this server accepts."),
    500: ("internal_error", "An unexpected error occurred; it has been logged."),
    501: ("not_implemented", "The request uses a transfer coding this server does not support."),
}


def refusal_body(status: int) -> bytes:
    code, message = _REFUSALS.get(status, _REFUSALS[400])
    return json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's `util.write_error`, with the same arguments, writing the JSON shape."""
    gunicorn_util.write_nonblock(sock, refusal_response(status_int, reason))


def refusal_response(status_int: int, reason: str) -> bytes:
    """A whole HTTP/1.1 answer in the JSON shape, after which the connection closes."""
    body = refusal_body(status_int)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def answer_gunicorn_refusals_in_json() -> None:
    """gunicorn writes these pages through `util.write_error` alone (its workers' handle_error
    calls it by the module attribute), and offers no setting for them: this replaces it.
    tests/security/test_server_refusals_are_json.py sends such requests to the shipped server."""
    gunicorn_util.write_error = write_json_error
