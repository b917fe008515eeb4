"""Invariant 7, below Django: what the HTTP servers refuse themselves is the API's JSON error
too, never an HTML or plain-text page.

Found by an outside attack on the shipped server: a query string over 4094 bytes got
gunicorn's HTML "URI Too Long" page, a long header its "Request Header Fields Too Large"
page, a malformed header its "Bad Request" page; the events process (uvicorn) answered
"Invalid HTTP request received." in plain text. API clients could not read any of them.
These requests are sent over a raw socket: HTTP clients refuse to send most of them.
"""

import json
import socket

import pytest

from tests.support.servers import shipped_server


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, django_db_setup, django_db_blocker):
    with shipped_server(tmp_path_factory.mktemp("web") / "web.log") as base:
        yield base


@pytest.fixture(scope="module")
def events_server(tmp_path_factory, django_db_setup, django_db_blocker):
    with shipped_server(tmp_path_factory.mktemp("events") / "events.log", role="events") as base:
        yield base


def exchange(base: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers in lower case, body) of the server's answer to `request`, sent as is."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def assert_json_refusal(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got_status, headers, body = answer
    assert got_status == status, answer
    assert headers["content-type"] == "application/json", answer
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code


def get(path: bytes, *headers: bytes) -> bytes:
    return b"\r\n".join([b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", *headers, b"Connection: close", b"", b""])


WEB_REFUSALS = {
    "query string over the request line limit": (
        get(b"/api/v1/queries/history?page=" + b"1" * 5000),
        414,
        "request_line_too_long",
    ),
    "header over the size limit": (
        get(b"/api/v1/queries/history", b"X-Padding: " + b"a" * 9000),
        431,
        "headers_too_large",
    ),
    "header name with a space": (get(b"/api/v1/queries/history", b"Bad Header: x"), 400, "bad_request"),
    "two Host headers": (get(b"/api/v1/queries/history", b"Host: evil.example"), 400, "bad_request"),
    "unknown transfer coding": (
        get(b"/api/v1/queries/history", b"Transfer-Encoding: chunked, gzip"),
        411,
        "length_required",
    ),
    # Django reads a body by its Content-Length alone: a chunked one never reached the app.
    "chunked body": (
        get(b"/api/v1/queries/history", b"Transfer-Encoding: chunked") + b"2\r\n{}\r\n0\r\n\r\n",
        411,
        "length_required",
    ),
    "not HTTP at all": (b"\x16\x03\x01 not a request line\r\n\r\n", 400, "bad_request"),
}


@pytest.mark.parametrize(("request_bytes", "status", "code"), WEB_REFUSALS.values(), ids=WEB_REFUSALS.keys())
def test_what_the_web_server_refuses_is_a_json_error(web_server, request_bytes, status, code):
    assert_json_refusal(exchange(web_server, request_bytes), status, code)


EVENTS_REFUSALS = {
    "header name with a space": get(b"/api/v1/events", b"Bad Header: x"),
    "header line without a colon": get(b"/api/v1/events", b"no colon here"),
    "not HTTP at all": b"\x16\x03\x01 not a request line\r\n\r\n",
}


@pytest.mark.parametrize("request_bytes", EVENTS_REFUSALS.values(), ids=EVENTS_REFUSALS.keys())
def test_what_the_events_server_refuses_is_a_json_error(events_server, request_bytes):
    assert_json_refusal(exchange(events_server, request_bytes), 400, "bad_request")


def test_a_path_the_events_server_does_not_serve_is_the_usual_json_404(events_server):
    assert_json_refusal(exchange(events_server, get(b"/api/v1/queries/history")), 404, "not_found")


def test_a_request_the_web_server_reads_is_still_answered_by_the_app(web_server):
    # The same shape from Django, for a request gunicorn let through: no credentials.
    assert_json_refusal(exchange(web_server, get(b"/api/v1/queries/history")), 401, "not_authenticated")
