"""A TCP relay between a client under test and a server, that a test can cut.

It passes bytes both ways unchanged and keeps what clients sent (plain HTTP here, so a
test can read the requests and their headers). `drop()` closes every open connection and
refuses new ones until `restore()`: the network going away under a long-lived request,
as a client would meet it. `silence()` is a host that does not answer at all: every open
connection is closed, and new ones are taken and held without a byte read or written,
so a client waits its whole timeout (counted in `unanswered`). Requests starting with
one of `not_found` are answered 404 by the relay itself, as by a proxy in front that does
not route that path.
"""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Relay:
    def __init__(self, upstream_host: str, upstream_port: int, *, not_found: tuple[str, ...] = ()):
        self.upstream = (upstream_host, upstream_port)
        self.not_found = tuple(prefix.encode() for prefix in not_found)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._refusing = False
        self._silent = False
        self._held: list[socket.socket] = []  # connections taken while silent
        self.unanswered = 0
        self._sent = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self) -> str:
        """Everything clients have sent so far."""
        with self._lock:
            return self._sent.decode("latin-1")

    def drop(self) -> None:
        with self._lock:
            self._refusing = True
            connections, self._open = self._open, []
        for connection in connections:
            _close(connection)

    def silence(self) -> None:
        self.drop()
        with self._lock:
            self._refusing, self._silent = False, True

    def restore(self) -> None:
        with self._lock:
            self._refusing = self._silent = False
            held, self._held = self._held, []
        for connection in held:
            _close(connection)

    def close(self) -> None:
        self.restore()
        self.drop()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                refusing, silent = self._refusing, self._silent
                if silent:
                    self._held.append(client)
                    self.unanswered += 1
            if silent:
                continue
            if refusing:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, from_client: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_client:
                    with self._lock:
                        self._sent += chunk
                    if chunk.startswith(self.not_found) and self.not_found:
                        source.sendall(_NOT_FOUND)
                        return
                target.sendall(chunk)
        except OSError:
            pass  # one side hung up (or the test dropped it): close both
        finally:
            _close(source)
            _close(target)


_NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nNot Found"
)


def _close(connection: socket.socket) -> None:
    with suppress(OSError):  # already closed by the other side
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


@contextmanager
def relay_to(url: str, *, not_found: tuple[str, ...] = ()) -> Iterator[Relay]:
    """A relay in front of the server at `url` (http://host:port)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    relay = Relay(host, int(port), not_found=not_found)
    try:
        yield relay
    finally:
        relay.close()
