"""The hosts of this process that did not answer: told at once, not waited for again.

A host that does not answer at all (packets dropped, not refused) costs the whole connect
timeout per attempt. Once an attempt got no answer, the host's address is `UNANSWERED`
for as long again: reads and schema browsing fail at once, saying so, instead of each
waiting the timeout out (`Connector._refuse_if_unanswered`). Then the next of them tries
again (one at a time: its attempt opens a new window for the others), and any connection
made ends the window. Every engine that connects over the network hears its attempts
here (`Connector._attempt_to_connect`), as does the PostgreSQL pool's own connecting
(postgresql_pool); "Test connection" always tries, and is heard like any other attempt.
"""

import threading
from time import monotonic

Address = tuple[str, int]


class UnansweredHosts:
    """The addresses of this process whose last attempt to connect got no answer in time."""

    def __init__(self) -> None:
        self.clock = monotonic  # a test moves time on without sleeping
        self._lock = threading.Lock()
        self._windows: dict[Address, tuple[float, int]] = {}  # address → (window start, timeout then)

    def no_answer(self, address: Address, timeout: int) -> None:
        with self._lock:
            self._windows[address] = (self.clock(), timeout)

    def answered(self, address: Address) -> None:
        with self._lock:
            self._windows.pop(address, None)

    def quiet_for(self, address: Address) -> tuple[int, float] | None:
        """(the timeout it was not answered within, seconds left) while `address` is in
        its window; None once it may be tried: the caller then tries, and the others
        wait for that attempt's outcome in a window of their own."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(address)
            if window is None:
                return None
            started, timeout = window
            if now - started < timeout:
                return timeout, started + timeout - now
            self._windows[address] = (now, timeout)
            return None


UNANSWERED = UnansweredHosts()
