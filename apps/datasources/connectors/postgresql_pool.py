"""The PostgreSQL connector's pool: reporting its use to the metrics endpoint, and saying
at once when the source refuses connections or is known not to answer.

Each connection taken or given back refreshes the pool gauges of this process
(querybase/metrics.py); a scrape refreshes them too, since a pool also closes idle
connections on its own.

psycopg_pool connects in its own threads: a caller waiting for a connection only learns
that none came, after the whole timeout, even when the server refused the first attempt
at once. So the pool keeps its last failed attempt, and until it has connected (or after
an attempt failed) a caller waits in short slices, ending its wait with that failure as
soon as one happens during it (`ConnectAttemptFailed`). While the source is known to
answer, a caller waits in one piece, in its turn, for a connection another read gives back.

The pool's own attempts tell the hosts that do not answer (unanswered.py) what they met:
a connect timeout opens the host's window, a connection made ends it.
"""

from time import monotonic
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from apps.datasources.connectors.unanswered import UNANSWERED, Address
from querybase import metrics

# How often a waiting caller looks whether the pool's attempt to connect failed.
WAIT_SLICE_SECONDS = 0.05


class ConnectAttemptFailed(Exception):
    """The pool's attempt to connect failed while a caller was waiting for a connection."""

    def __init__(self, error: psycopg.OperationalError) -> None:
        super().__init__(str(error))
        self.error = error


class MeteredConnectionPool(ConnectionPool):
    def __init__(
        self, *args: Any, source: str, role: str, address: Address, connect_timeout: int, **kwargs: Any
    ) -> None:
        # `source` names the server and database, never the credentials.
        self._address = address
        self._connect_timeout = connect_timeout
        self._last_failure: tuple[float, psycopg.OperationalError] | None = None
        # Connected, and no attempt failed since.
        self._reachable = False
        super().__init__(*args, **kwargs)
        self._gauges = metrics.PoolGauges(pool=self.name, source=source, role=role)

    def _connect(self, timeout: float | None = None) -> psycopg.Connection:
        try:
            connection = super()._connect(timeout)
        except psycopg.OperationalError as error:
            self._last_failure = (monotonic(), error)
            self._reachable = False
            if isinstance(error, psycopg.errors.ConnectionTimeout):
                UNANSWERED.no_answer(self._address, self._connect_timeout)
            raise
        self._last_failure = None
        self._reachable = True
        UNANSWERED.answered(self._address)
        return connection

    def cannot_connect(self) -> bool:
        """Its last attempt to connect failed and it has no connection to give: its next
        attempt may be seconds away (psycopg_pool backs off), so waiting for it tells
        nothing sooner than one direct attempt would."""
        return self._last_failure is not None and self.get_stats().get("pool_available", 0) == 0

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        """A connection within `timeout` (the pool's by default); raises
        ConnectAttemptFailed as soon as an attempt to connect fails meanwhile."""
        started = monotonic()
        deadline = started + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - monotonic()
            # In slices only while the pool may be failing to connect: a waiter that times
            # out queues again behind later ones, which a busy pool must not do to it.
            wait = remaining if self._reachable else min(WAIT_SLICE_SECONDS, remaining)
            try:
                connection = super().getconn(max(wait, 0.001))
                break
            except PoolTimeout:
                failure = self._last_failure
                if failure is not None and failure[0] >= started:
                    raise ConnectAttemptFailed(failure[1]) from None
                if monotonic() >= deadline:
                    raise
        self.publish_stats()
        return connection

    def putconn(self, conn: psycopg.Connection) -> None:
        super().putconn(conn)
        self.publish_stats()

    def publish_stats(self) -> None:
        self._gauges.publish(self.get_stats())
