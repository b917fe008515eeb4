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

This module keeps the names; `postgresql_reads.ReadCursor` sends the statements (by name
or as text, `plan`) with the rest of a read's flight.
"""

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import psycopg
from django.conf import settings

# A statement is prepared the second time a connection runs it: once is no pattern, and
# preparing costs the server a step of its own.
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


@dataclass(frozen=True)
class PreparedPlan:
    """How a statement goes out on a connection: the names to deallocate first, then the
    statement by `name` (prepared first unless `prepared`), or as text when `name` is None."""

    key: tuple
    name: bytes | None
    prepared: bool
    to_deallocate: list[bytes]


def plan(connection: psycopg.Connection, query: bytes, types: Any, *, has_params: bool) -> PreparedPlan:
    """How to send `query` (psycopg's converted text and parameter types) on `connection`
    now, counting this run towards its preparation."""
    key = (query, types)
    if not has_params or not settings.QUERYBASE_PG_PREPARED_STATEMENTS:
        return PreparedPlan(key=key, name=None, prepared=False, to_deallocate=[])
    statements = _statements(connection)
    to_deallocate, statements.to_deallocate = statements.to_deallocate, []
    name, prepared = statements.name_for(key)
    return PreparedPlan(key=key, name=name, prepared=prepared, to_deallocate=to_deallocate)


def preparation_failed(connection: psycopg.Connection, key: tuple) -> None:
    """The server refused to prepare `key`: it runs as text again until it is prepared anew."""
    _statements(connection).forget(key)


def deallocate_later(connection: psycopg.Connection, name: bytes) -> None:
    """Dropping `name` did not run (its flight failed before it): it goes with the next one."""
    _statements(connection).to_deallocate.append(name)


def plans_changed(connection: psycopg.Connection) -> None:
    """A table changed under a prepared statement ("cached plan must not change result
    type"): every statement of the connection is prepared again from its next run."""
    statements = _statements(connection)
    for key in list(statements.entries):
        statements.forget(key)
