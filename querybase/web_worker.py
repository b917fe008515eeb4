"""gunicorn's worker for the web process: gthread, taking a connection only with a thread free.

Every worker process waits on the same listening socket, and in gunicorn's gthread worker
the main thread accepts whatever arrives whether or not a thread is free to serve it: an
accepted connection queues inside that process behind the requests it already serves. A
kept-alive connection then stays with the process that took it. Under wrk (16 kept-alive
connections, 2 workers x 8 threads) one worker often held 15 connections and the other 1,
so one process, one interpreter lock and one core did nearly all the work on a 2-core
machine; and a worker whose threads all wait (a `wait` for a queued read, an export) took
new connections it could not serve while another worker stood idle.

Here a worker stops accepting once each of its threads has a connection, and starts
again when one finishes: a connection it cannot serve stays in the kernel's queue for a
worker that can. Connections it already holds are served as before.

A thread is also given a connection only once its request has arrived, gathered by the
main thread in its poller, and stops waiting for a client that sends the rest too slowly
(querybase/request_arrival.py): otherwise a few slow clients held every thread.

The attribute and method names are gthread's (gunicorn is pinned in requirements.txt);
tests/test_shipped_server.py checks the behaviour through the shipped server.
"""

import contextlib
import errno
import selectors
import time
from concurrent.futures import Future
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

from querybase import settings as querybase_settings
from querybase.request_arrival import CONTINUE, Arrival, PacedSocket, refuse_request, refuse_slow_request


def _kept_alive(served: Future) -> bool:
    """Whether the thread that served a connection's request kept the connection open."""
    return not served.cancelled() and served.exception() is None and served.result() is True


class WebWorker(ThreadWorker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Connections handed to the thread pool and not yet given back (served, deferred
        # to the poller or closed): the threads in use, or queued for one.
        self.connections_in_threads = 0
        # Connections whose request is still arriving, gathered by the main thread.
        self.arrivals: dict[TConn, Arrival] = {}

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's loop asks to accept whenever it holds fewer connections than
        # worker_connections; a stopping worker never accepts again.
        has_free_thread = self.connections_in_threads < self.cfg.threads
        super().set_accept_enabled(enabled and self.alive and has_free_thread)

    def enqueue_req(self, conn: TConn) -> None:
        self.connections_in_threads += 1
        if self.connections_in_threads >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Future) -> None:
        # Runs on the main thread; its loop turns accepting back on before it next waits.
        self.connections_in_threads -= 1
        if self.gathers_requests() and _kept_alive(fs) and conn.parser.unreader.buf.getvalue():
            # The client sent (the start of) its next request with the last one, or the
            # last body's drain read into it. gthread hands such a connection straight
            # back to a thread, which would then wait, paced but for the whole grace, for
            # the rest of a request the client may never finish: a few connections doing
            # so held every thread. It is gathered like any other request instead.
            self._gather(conn, readable=False, already=bytes(conn.parser.unreader.take_buffered()))
            return
        super().finish_request(conn, fs)

    # Gathering requests on the main thread (querybase/request_arrival.py).

    def gathers_requests(self) -> bool:
        # Over TLS, or with HTTP/2 sniffed from the first bytes, gthread reads those bytes
        # itself on the thread; QueryBase's server speaks plain HTTP/1.1 behind its proxy.
        return not self.cfg.is_ssl and getattr(self.cfg, "http2_cleartext", "off") not in ("prior-knowledge", "both")

    def accept(self, listener) -> None:
        if not self.gathers_requests():
            super().accept(listener)
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = TConn(self.cfg, self._paced(client_sock), client_addr, listener.getsockname())
        self._gather(conn, readable=False)

    def on_client_socket_readable(self, conn: TConn, client) -> None:
        # A kept-alive connection's next request begins: gathered like a new one's.
        if not self.gathers_requests():
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gather(conn, readable=True)

    def _gather(self, conn: TConn, *, readable: bool, already: bytes = b"") -> None:
        """Gather the connection's next request, of which `already` came before."""
        conn.sock.setblocking(False)
        arrival = self.arrivals[conn] = Arrival(received=bytearray(already))
        if already and self._is_whole(conn, arrival):
            self._hand_to_thread(conn)
            return
        # A kept-alive connection's request is usually all there already: no poller round trip.
        if not (readable and self._read_request(conn, registered=False)):
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_request_bytes, conn))

    def _on_request_bytes(self, conn: TConn, _sock) -> None:
        self._read_request(conn, registered=True)

    def _read_request(self, conn: TConn, *, registered: bool) -> bool:
        """Read what has come of the connection's request. Once it is whole, or the client
        left, the connection leaves the arrivals (to a thread, or closed): whether it did."""
        arrival = self.arrivals[conn]
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            data = b""
        arrival.received += data
        if data and not self._is_whole(conn, arrival):
            return False
        if registered:
            self.poller.unregister(conn.sock)
        if data:
            self._hand_to_thread(conn)
        else:  # the client left before its request was whole
            del self.arrivals[conn]
            self._close(conn)
        return True

    @staticmethod
    def _is_whole(conn: TConn, arrival: Arrival) -> bool:
        """Whether the request has come (as much as is gathered); a client waiting to be
        told to send its body is told so first."""
        if arrival.wants_continue():
            arrival.continued = True
            # 25 bytes on a connection with nothing else unsent. A client that is gone says so
            # on its next read.
            with contextlib.suppress(OSError):
                conn.sock.send(CONTINUE)
        return arrival.is_complete()

    def _hand_to_thread(self, conn: TConn) -> None:
        arrival = self.arrivals.pop(conn)
        if arrival.has_body_without_length():
            refuse_request(conn.sock, 411, "Length Required")
            self._close(conn)
            return
        conn.arrival = arrival
        self.enqueue_req(conn)

    def murder_pending(self) -> None:
        # Called by gthread's loop at least once a second.
        super().murder_pending()
        now = time.monotonic()
        grace = querybase_settings.QUERYBASE_REQUEST_GRACE_SECONDS
        for conn in [conn for conn, arrival in self.arrivals.items() if arrival.is_overdue(grace, now)]:
            self.poller.unregister(conn.sock)
            del self.arrivals[conn]
            refuse_slow_request(conn.sock)
            self._close(conn)

    def _close(self, conn: TConn) -> None:
        self.nr_conns -= 1
        conn.close()

    @staticmethod
    def _paced(sock) -> PacedSocket:
        return PacedSocket.taking_over(
            sock,
            grace_seconds=querybase_settings.QUERYBASE_REQUEST_GRACE_SECONDS,
            min_bytes_per_second=querybase_settings.QUERYBASE_REQUEST_MIN_BYTES_PER_SECOND,
        )

    def handle(self, conn: TConn):
        # Runs on a thread. The request gathered so far goes in front of what the parser
        # reads from the socket; the rest comes paced.
        arrival: Arrival | None = conn.__dict__.pop("arrival", None)
        if not isinstance(conn.sock, PacedSocket):  # not gathered: TLS, HTTP/2
            conn.sock = self._paced(conn.sock)
        if arrival is None:
            conn.sock.start_request(started_at=time.monotonic(), bytes_already=0)
        else:
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(arrival.received))
            conn.data_ready = True
            conn.sock.start_request(
                started_at=arrival.started_at, bytes_already=len(arrival.received), continued=arrival.continued
            )
        try:
            return super().handle(conn)
        finally:
            # Back on the main thread the socket waits in the poller, unpaced.
            conn.sock.stop_pacing()
