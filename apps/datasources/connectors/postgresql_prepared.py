"""Server-side prepared statements for repeated parameterised reads on a pooled connection.

A statement with parameters that a pooled connection has run before is prepared there
(parsed and planned once, by name) and from then on executed by name with new values:
the server skips parsing and, for simple statements, planning.

psycopg's own preparation cannot be used: reads stream their rows (`Cursor.stream`), which
psycopg never prepares, and every read ends in a ROLLBACK, on which psycopg deallocates all
its prepared statements. A prepared statement is not transactional, so the rollback does
not touch it on the server: it is this module that keeps the names of each connection's
statements (`PREPARE_AFTER`, `MAX_PER_CONNECTION`), and the pool's connections are set to
prepare nothing themselves (`prepare_threshold = None`).

`PreparingCursor.stream` is psycopg's `stream` with the statement sent by name; it uses
psycopg's cursor internals (pinned in requirements.txt) and the libpq calls psycopg wraps.
"""

import threading
import weakref
from collections import OrderedDict
from typing import Any

import psycopg
from django.conf import settings
from psycopg import capabilities, pq
from psycopg import errors as pg_errors
from psycopg.generators import execute, send

# A statement is prepared the second time a connection runs it: once is no pattern, and
# preparing costs a round trip of its own.
PREPARE_AFTER = 1
# Statements kept per connection (the least recently used one is deallocated beyond).
MAX_PER_CONNECTION = 64


class _Statements:
    """One connection's statements: key → (name or None while only counted, runs)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple, list[Any]] = OrderedDict()
        self.serial = 0
        self.to_deallocate: list[bytes] = []

    def name_for(self, key: tuple) -> tuple[bytes | None, bool]:
        """(name, already prepared) to run `key` by, or (None, False) to run it as text."""
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = [None, 1]
            self._evict()
            return None, False
        self.entries.move_to_end(key)
        entry[1] += 1
        if entry[0] is not None:
            return entry[0], True
        if entry[1] <= PREPARE_AFTER:
            return None, False
        self.serial += 1
        entry[0] = f"querybase_{self.serial}".encode()
        return entry[0], False

    def forget(self, key: tuple) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None and entry[0] is not None:
            self.to_deallocate.append(entry[0])

    def _evict(self) -> None:
        while len(self.entries) > MAX_PER_CONNECTION:
            _, (name, _) = self.entries.popitem(last=False)
            if name is not None:
                self.to_deallocate.append(name)


_by_connection: "weakref.WeakKeyDictionary[psycopg.Connection, _Statements]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _statements(connection: psycopg.Connection) -> _Statements:
    with _lock:
        found = _by_connection.get(connection)
        if found is None:
            found = _by_connection[connection] = _Statements()
        return found


def prepared_names(connection: psycopg.Connection) -> list[str]:
    """The names this module prepared on `connection` (for tests and the benchmark)."""
    return [entry[0].decode() for entry in _statements(connection).entries.values() if entry[0] is not None]


def configure(connection: psycopg.Connection) -> None:
    """A pooled connection leaves preparing to this module (see the module docstring)."""
    connection.prepare_threshold = None


class PreparingCursor(psycopg.RawCursor):
    """A RawCursor whose `stream` runs a repeated parameterised statement by name."""

    def _stream_send_gen(self, query, params=None, *, binary=None, size: int):  # type: ignore[no-untyped-def]
        if not params or not settings.QUERYBASE_PG_PREPARED_STATEMENTS:
            yield from super()._stream_send_gen(query, params, binary=binary, size=size)
            return
        yield from self._start_query(query)
        pgq = self._convert_query(query, params)
        statements = _statements(self._conn)
        while statements.to_deallocate:
            unused = statements.to_deallocate.pop()
            if capabilities.has_send_close_prepared():
                self._pgconn.send_close_prepared(unused)
            else:
                self._pgconn.send_query(b"DEALLOCATE " + unused)
            yield from execute(self._pgconn)
        key = (pgq.query, pgq.types)
        name, prepared = statements.name_for(key)
        if name is None:
            self._execute_send(pgq, binary=binary, force_extended=True)
        else:
            if not prepared:
                self._pgconn.send_prepare(name, pgq.query, param_types=pgq.types)
                for result in (yield from execute(self._pgconn)):
                    if result.status == pq.ExecStatus.FATAL_ERROR:
                        statements.forget(key)
                        raise pg_errors.error_from_result(result, encoding=self._encoding)
            self._query = pgq
            self._pgconn.send_query_prepared(
                name,
                pgq.params,
                param_formats=pgq.formats,
                result_format=pq.Format.BINARY if binary else self.format,
            )
        if size == 1:
            self._pgconn.set_single_row_mode()
        else:
            self._pgconn.set_chunked_rows_mode(size)
        self._last_query = query
        yield from send(self._pgconn)

    def stream(self, query, params=None, *, binary=None, size=1):  # type: ignore[no-untyped-def]
        try:
            yield from super().stream(query, params, binary=binary, size=size)
        except psycopg.errors.FeatureNotSupported:
            # "cached plan must not change result type": a table changed under a prepared
            # statement. The next run prepares it again; this one fails as it would have.
            statements = _statements(self._conn)
            for key in list(statements.entries):
                statements.forget(key)
            raise
