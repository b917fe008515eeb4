"""Invariant 11 (abuse), at the HTTP server: clients that send their requests slowly cannot
keep the shipped server from answering others, and are themselves answered 408 in the JSON
error shape once their time is up (querybase/request_arrival.py).

Found by an outside attack: 40 connections sending a header line (slowloris) or a body byte
(slow POST) every two seconds held every thread of the shipped server, which then answered
nobody, not even /health, for as long as they went on. The requests are sent over raw
sockets: HTTP clients do not send a request slowly.
"""

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import requests

from apps.accounts.services import issue_api_key
from querybase.live_bus import publish
from tests.support.factories import make_user
from tests.support.servers import shipped_server
from tests.support.sse import EventStream

GRACE_SECONDS = 6
THREADS = 4
# Several times the threads: each would have held one.
SLOW_CLIENTS = 4 * THREADS


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, django_db_setup, django_db_blocker):
    env = {
        "QUERYBASE_REQUEST_GRACE_SECONDS": str(GRACE_SECONDS),
        "QUERYBASE_WEB_THREADS": str(THREADS),
        # The bytes a thread was handed in one go buy it next to no time.
        "QUERYBASE_REQUEST_MIN_BYTES_PER_SECOND": "10000000",
    }
    with shipped_server(tmp_path_factory.mktemp("web") / "web.log", env=env) as base:
        yield base


@pytest.fixture(scope="module")
def events_server(tmp_path_factory, django_db_setup, django_db_blocker):
    env = {"QUERYBASE_REQUEST_GRACE_SECONDS": str(GRACE_SECONDS)}
    with shipped_server(tmp_path_factory.mktemp("events") / "events.log", role="events", env=env) as base:
        yield base


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@contextmanager
def slow_clients(base: str, first_bytes: bytes, count: int = SLOW_CLIENTS) -> Iterator[list[socket.socket]]:
    """`count` connections that have sent `first_bytes` and then one more byte every second
    (a header line's worth, or a body's): never the whole request."""
    with ExitStack() as stack:
        connections = []
        for _ in range(count):
            connection = stack.enter_context(socket.create_connection(_address(base), timeout=10))
            connection.sendall(first_bytes)
            connections.append(connection)
        yield connections


def drip(connections: list[socket.socket], byte: bytes, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for connection in connections:
            with contextlib.suppress(OSError):  # refused already
                connection.sendall(byte)
        time.sleep(1)


def still_open(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        return connection.recv(1) != b""
    except BlockingIOError:
        return True  # nothing to read: nobody closed it
    except OSError:
        return False
    finally:
        connection.setblocking(True)


def answer_of(connection: socket.socket) -> tuple[int, dict]:
    """The status and JSON body of the last answer the server wrote on `connection` before
    closing it (a kept-alive connection's earlier requests were answered before)."""
    connection.settimeout(GRACE_SECONDS + 10)
    answer = b""
    try:
        while chunk := connection.recv(65536):
            answer += chunk
    except ConnectionResetError:
        pass  # the server closed with our unread bytes in its buffer: what it wrote came first
    head, _, body = answer[answer.rfind(b"HTTP/1.1 ") :].partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


SLOW_HEAD = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
SLOW_BODY = (
    b"POST /api/v1/queries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n{"
)
# A whole request and the start of the next, sent together on a kept-alive connection: the
# first is answered, and the second is as slow as a slowloris.
SLOW_NEXT_REQUEST = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + SLOW_HEAD
SLOW_REQUESTS = {
    "slowloris (headers)": (SLOW_HEAD, b"X-a: b\r\n"),
    "slow body": (SLOW_BODY, b" "),
    "slow next request on a kept-alive connection": (SLOW_NEXT_REQUEST, b"X-a: b\r\n"),
    # Told "100 Continue" as a thread took the request, the client then sent its body slowly.
    "slow body after 100-continue": (SLOW_BODY.replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"), b" "),
}
# A body larger than what the server gathers before a thread takes it: the thread reads the
# rest at the pace (the login form's CSRF check reads it, given a CSRF cookie).
SLOW_LARGE_BODY = (
    b"POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Cookie: csrftoken=" + b"c" * 32 + b"\r\nContent-Length: 1000000\r\n\r\nusername=" + b"a" * 200_000
)


@pytest.mark.parametrize(("first_bytes", "byte"), SLOW_REQUESTS.values(), ids=SLOW_REQUESTS.keys())
def test_slow_clients_do_not_keep_the_server_from_answering_others(web_server, first_bytes, byte):
    with slow_clients(web_server, first_bytes) as connections:
        drip(connections, byte, seconds=2)
        started = time.monotonic()
        statuses = [requests.get(f"{web_server}/version", timeout=GRACE_SECONDS - 3).status_code for _ in range(5)]
        took = time.monotonic() - started
        # Answered while every slow client was still there: not rescued by their time running out.
        open_after = sum(still_open(connection) for connection in connections)

    assert statuses == [200] * 5
    assert took < GRACE_SECONDS - 3
    assert open_after == SLOW_CLIENTS


# A body in a transfer coding has no length to gather by; a thread read it, and after the
# app's answer gunicorn drained it, a byte at a time, for seconds on end.
SLOW_CHUNKED_BODY = (
    b"POST /api/v1/queries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n100000\r\n{"
)


def test_slow_chunked_bodies_do_not_keep_the_server_from_answering_others(web_server):
    with slow_clients(web_server, SLOW_CHUNKED_BODY) as connections:
        drip(connections, b" ", seconds=2)
        started = time.monotonic()
        statuses = [requests.get(f"{web_server}/version", timeout=GRACE_SECONDS - 3).status_code for _ in range(5)]
        took = time.monotonic() - started
        answers = [answer_of(connection) for connection in connections]

    assert statuses == [200] * 5
    assert took < GRACE_SECONDS - 3
    # Refused at once, unread: the app reads bodies by their Content-Length only.
    assert {(status, body["error"]["code"]) for status, body in answers} == {(411, "length_required")}


@pytest.mark.parametrize(("first_bytes", "byte"), SLOW_REQUESTS.values(), ids=SLOW_REQUESTS.keys())
def test_a_slow_client_is_answered_408_in_json_once_its_time_is_up(web_server, first_bytes, byte):
    assert_refused_once_its_time_is_up(web_server, first_bytes, byte)


def test_a_slow_client_whose_request_a_thread_reads_is_answered_408_too(web_server):
    assert_refused_once_its_time_is_up(web_server, SLOW_LARGE_BODY, b"a")


def assert_refused_once_its_time_is_up(web_server: str, first_bytes: bytes, byte: bytes) -> None:
    with slow_clients(web_server, first_bytes, count=1) as (connection,):
        started = time.monotonic()
        drip([connection], byte, seconds=2)
        status, body = answer_of(connection)
        took = time.monotonic() - started

    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert GRACE_SECONDS - 2 <= took < GRACE_SECONDS + 5


def test_a_body_sent_after_100_continue_is_read(web_server):
    """The server waits for such a body once it has said "100 Continue" (curl asks so for
    large uploads); the answer here is the app's (no credentials), after the whole body."""
    body = json.dumps({"datasource": 1, "sql": "SELECT 1"}).encode()
    head = (
        b"POST /api/v1/queries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(_address(web_server), timeout=10) as connection:
        connection.sendall(head)
        assert connection.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        connection.sendall(body)
        status, answer = answer_of(connection)

    assert status == 401
    assert answer["error"]["code"] == "not_authenticated"


def test_a_kept_alive_connection_serves_request_after_request(web_server):
    with requests.Session() as session:
        statuses = [session.get(f"{web_server}/version", timeout=5).status_code for _ in range(10)]
        # A body that arrives after its head, gathered before a thread takes it.
        large = session.post(f"{web_server}/api/v1/queries", json={"sql": "SELECT 1" + " " * 50_000}, timeout=10)
        statuses += [session.get(f"{web_server}/version", timeout=5).status_code for _ in range(10)]

    assert large.status_code == 401
    assert statuses == [200] * 20


# The events process (uvicorn) gave a request's head all the time the client liked: such
# connections piled up, each a file descriptor, until it could accept no more.
SLOW_EVENTS_REQUESTS = {
    "silent connection": (b"", b""),
    "slowloris (headers)": (SLOW_HEAD, b"X-a: b\r\n"),
    "slow next request on a kept-alive connection": (SLOW_NEXT_REQUEST, b"X-a: b\r\n"),
}


@pytest.mark.parametrize(("first_bytes", "byte"), SLOW_EVENTS_REQUESTS.values(), ids=SLOW_EVENTS_REQUESTS.keys())
def test_the_events_process_answers_a_slow_client_408_in_json_once_its_time_is_up(events_server, first_bytes, byte):
    assert_refused_once_its_time_is_up(events_server, first_bytes, byte)


@pytest.mark.django_db(transaction=True)
def test_an_open_event_stream_outlives_the_time_a_request_has_to_arrive(events_server):
    ana = make_user("ana")
    key = issue_api_key(ana, name="stream").secret
    stream = EventStream(f"{events_server}/api/v1/events", {"Authorization": f"Api-Key {key}"}).wait_ready()
    try:
        time.sleep(GRACE_SECONDS + 2)
        publish([ana.pk], "test.later", {"still": "open"})
        assert stream.next_event().data == {"still": "open"}
    finally:
        stream.close()


# A body announced to the events process and sent a byte at a time: Django's handler reads
# a body whole before the view runs, while the stream being opened holds one of the few
# slots for opening streams; such connections held them all, and nothing was answered.
SLOW_EVENTS_BODIES = {
    "on the stream": b"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\nx",
    "on /health": b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\nx",
}


@pytest.mark.parametrize("first_bytes", SLOW_EVENTS_BODIES.values(), ids=SLOW_EVENTS_BODIES.keys())
def test_slow_bodies_do_not_keep_the_events_process_from_answering_others(events_server, first_bytes):
    with slow_clients(events_server, first_bytes) as connections:
        drip(connections, b"x", seconds=2)
        started = time.monotonic()
        statuses = [requests.get(f"{events_server}/health", timeout=GRACE_SECONDS - 3).status_code for _ in range(3)]
        took = time.monotonic() - started
        status, body = answer_of(connections[0])

    assert statuses == [200] * 3
    assert took < GRACE_SECONDS - 3
    # Neither path takes a body: refused at once, unread.
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"
