"""Slow clients may not hold the web server's threads: a request is gathered before a thread
takes it, and whatever a thread still reads must come at a minimum pace.

gunicorn's gthread worker gave a connection a thread as soon as it was accepted (or, kept
alive, as soon as its next request's first bytes arrived); the thread then read the rest of
the request, the head at once and the body when the view asked for it, with blocking calls
and no time limit. A client sending a header line every few seconds (slowloris), or a body a
byte at a time, kept its thread for as long as it liked: found by an outside attack, 16 such
connections (2 workers x 8 threads) and the shipped server answered nobody else, not even
/health. Limiting each one's time was not enough either: connections waiting in the queue
for a thread then held it, one after the other, for the whole limit again.

So (querybase/web_worker.py):

- The worker's main thread gathers each request without blocking, in its poller, and hands
  the connection to a thread only once the request is there: its head and its body, up to
  GATHERED_BYTES_MAX in all (an `Arrival`). A connection still short of that
  QUERYBASE_REQUEST_GRACE_SECONDS after it was accepted (or, kept alive, after its next
  request began) is answered 408 in the API's JSON shape and closed, threads untouched.
- A request whose body comes in a transfer coding (chunked), without a length, is answered
  411 at once: Django reads bodies by their Content-Length only, and the end of such a
  body is not known before a thread reads it.
- What a thread still reads (the rest of a larger body) comes through a
  `PacedSocket`: within the grace from the same start, and a second more for every
  QUERYBASE_REQUEST_MIN_BYTES_PER_SECOND bytes that came (Apache's mod_reqtimeout reasons
  the same way), else 408 and closed. The pace applies only until the server starts
  answering: waiting for a query or streaming an export is the server's time, not the client's.
"""

import errno
import re
import socket
import time
from dataclasses import dataclass, field

from querybase.server_errors import write_json_error

# A request's head and body are gathered up to this many bytes before a thread takes it.
# Most requests (SQL, JSON) are far smaller; the rest is read by the thread, paced. It also
# bounds what a worker holds for connections still arriving (worker_connections of them).
GATHERED_BYTES_MAX = 128 * 1024

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,18})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
# A client asking `Expect: 100-continue` sends its body once told to. gunicorn told it as a
# thread began the request, which then waited for the body, or drained it after the answer,
# as slowly as the client sent it: such connections held every thread. The worker's main
# thread now says "100 Continue" itself and gathers the body like any other (an HTTP/1.0
# client is never sent a 1xx, and sends its body anyway). Any other expectation is
# refused by gunicorn at once: the head is all there is to gather.
_EXPECT = re.compile(rb"^expect[ \t]*:", re.IGNORECASE | re.MULTILINE)
_EXPECT_CONTINUE = re.compile(rb"^expect[ \t]*:[ \t]*100-continue[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_HTTP_1_1_REQUEST_LINE = re.compile(rb"\A[^\r\n]* HTTP/1\.1\r?\n")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A body in a transfer coding (chunked) comes without a length. Django reads a request's
# body by its Content-Length alone, so the app never saw such a body (a JSON API answered
# that its fields were missing); and since its end is not known here, it was left to a
# thread to read, and to gunicorn to drain after the answer: connections sending one a
# byte at a time held every thread. Such a request is refused before any thread takes it.
_BODY_WITHOUT_LENGTH = re.compile(rb"^transfer-encoding[ \t]*:", re.IGNORECASE | re.MULTILINE)
# What gunicorn writes to let a client that asked (Expect: 100-continue) send its body.
_CONTINUE = b"HTTP/1.1 100 "


@dataclass
class Arrival:
    """What has come of a request that no thread has taken yet."""

    started_at: float = field(default_factory=time.monotonic)
    received: bytearray = field(default_factory=bytearray)
    # Whether the client has been told "100 Continue" (by the worker's main thread).
    continued: bool = False

    def is_complete(self) -> bool:
        """The whole request is here, or as much of it as is gathered before a thread takes it.
        A request gunicorn's parser will refuse (no length where one is needed, a head too
        long) counts as complete: the parser answers it at once."""
        if len(self.received) >= GATHERED_BYTES_MAX:
            return True
        head_end = _HEAD_END.search(self.received)
        if head_end is None:
            return False
        head = bytes(self.received[: head_end.start()])
        if _BODY_WITHOUT_LENGTH.search(head) or (_EXPECT.search(head) and not self._expects_continue(head)):
            return True
        return self._body_is_here(head_end)

    def wants_continue(self) -> bool:
        """The head is here and asks to be told "100 Continue" before its body comes; it has
        not been told yet."""
        head_end = _HEAD_END.search(self.received)
        if self.continued or head_end is None or len(self.received) >= GATHERED_BYTES_MAX:
            return False
        return self._expects_continue(bytes(self.received[: head_end.start()])) and not self._body_is_here(head_end)

    def _body_is_here(self, head_end: re.Match) -> bool:
        lengths = _CONTENT_LENGTH.findall(self.received[: head_end.start()])
        body_length = int(lengths[0]) if len(lengths) == 1 else 0
        return len(self.received) - head_end.end() >= body_length

    @staticmethod
    def _expects_continue(head: bytes) -> bool:
        # Told to continue whatever else it expects (gunicorn then refuses that with 417).
        return bool(_EXPECT_CONTINUE.search(head)) and bool(_HTTP_1_1_REQUEST_LINE.match(head + b"\n"))

    def has_body_without_length(self) -> bool:
        """The request's body comes in a transfer coding: answered 411, never read."""
        head_end = _HEAD_END.search(self.received)
        head = self.received if head_end is None else self.received[: head_end.start()]
        return _BODY_WITHOUT_LENGTH.search(head) is not None

    def is_overdue(self, grace_seconds: float, now: float) -> bool:
        return now - self.started_at >= grace_seconds


class RequestTooSlow(ConnectionResetError):
    """The client fell behind the pace. A connection reset to gunicorn, which then closes
    the connection quietly (the 408 has been written)."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNRESET, "The client sent its request too slowly.")


def refuse_slow_request(sock: socket.socket) -> None:
    """Answer 408 on a connection whose request did not come in time; nothing written
    after it reaches the client."""
    refuse_request(sock, 408, "Request Timeout")


def refuse_request(sock: socket.socket, status: int, reason: str) -> None:
    """Answer `status` in the JSON shape on a connection that is then closed: what the
    client sends after it is never read."""
    try:
        write_json_error(sock, status, reason, "")
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client is gone already


class PacedSocket(socket.socket):
    """A client connection whose reads keep the pace above while a request is read."""

    __slots__ = ("_bytes_read", "_continued", "_pacing", "_started_at", "grace_seconds", "min_bytes_per_second")
    grace_seconds: float
    min_bytes_per_second: int
    _pacing: bool
    _continued: bool
    _started_at: float
    _bytes_read: int

    @classmethod
    def taking_over(cls, sock: socket.socket, *, grace_seconds: float, min_bytes_per_second: int) -> "PacedSocket":
        """The same connection (file descriptor) as `sock`, which must not be used after."""
        paced = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        paced.grace_seconds = grace_seconds
        paced.min_bytes_per_second = min_bytes_per_second
        paced._pacing = False
        paced._continued = False
        return paced

    def start_request(self, *, started_at: float, bytes_already: int, continued: bool = False) -> None:
        """A thread is about to read a request that began at `started_at` (time.monotonic())
        and of which `bytes_already` came before; `continued` if its client was told "100
        Continue" already, which gunicorn is then kept from saying again."""
        self._pacing = True
        self._started_at = started_at
        self._bytes_read = bytes_already
        self._continued = continued

    def stop_pacing(self) -> None:
        self._pacing = False
        self._continued = False

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if not self._pacing:
            return super().recv(bufsize, flags)
        due = self._started_at + self.grace_seconds + self._bytes_read / self.min_bytes_per_second
        # Never 0 (non-blocking): bytes already waiting are read even when the time is up.
        self.settimeout(max(due - time.monotonic(), 0.001))
        try:
            data = super().recv(bufsize, flags)
        except TimeoutError:
            self._pacing = False
            refuse_slow_request(self)
            raise RequestTooSlow() from None
        finally:
            self.settimeout(None)
        self._bytes_read += len(data)
        return data

    def sendall(self, data, flags: int = 0) -> None:
        self._answering(data)
        super().sendall(data, flags)

    def send(self, data, flags: int = 0) -> int:
        # gunicorn says "100 Continue" with one send (gunicorn/http/wsgi.py).
        if self._pacing and self._continued and bytes(data[:13]) == _CONTINUE:
            self._continued = False
            return len(data)
        self._answering(data)
        return super().send(data, flags)

    def _answering(self, data) -> None:
        # The server answers: what it reads from now on (draining an unread body) has its
        # own limit in gunicorn. "100 Continue" is not an answer but a go-ahead for the body.
        if bytes(data[:13]) != _CONTINUE:
            self._pacing = False
