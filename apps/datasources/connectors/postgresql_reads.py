"""A read's statements on the wire: each one flight (libpq pipeline mode), one round trip.

Sent one at a time, a one-row read cost four round trips: BEGIN READ ONLY, the SET LOCALs
of its time limit and its tag, the statement, ROLLBACK. Here a statement goes out with
what must come before it and after it, and the server answers all of it at once:

    [BEGIN READ ONLY] [time limit (, tag)] [prepared statements to drop] [PREPARE]
    statement [ROLLBACK] Sync

The second wall stays as strong. The server runs a pipeline's commands in order and, once
one fails, skips the rest up to the Sync: the statement never runs unless the read-only
transaction was opened and its time limit set. The limit is `set_config(…, true)`, which
is SET LOCAL with its values bound rather than spliced in. Each Execute of a pipeline
starts the statement timer afresh (PostgreSQL's `exec_execute_message`), so the limit set
by the command before it times the statement; the tests prove all three
(tests/security/test_reads_cannot_write.py, test_reads_are_bounded_in_time.py). A
ROLLBACK sent ahead runs once the statement is done; a failed or cancelled statement
makes the server skip it, and the connector rolls back after the flight instead.

This uses psycopg's cursor internals (pinned in requirements.txt), as its own `stream`
does, and the libpq calls psycopg wraps.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from psycopg import adapt, pq
from psycopg import errors as pg_errors
from psycopg.generators import fetch, send

from apps.datasources.connectors import postgresql_prepared

_BEGIN = b"BEGIN READ ONLY"
_LIMIT = b"SELECT pg_catalog.set_config('statement_timeout', $1, true)"
_LIMIT_AND_TAG = (
    b"SELECT pg_catalog.set_config('statement_timeout', $1, true), pg_catalog.set_config('application_name', $2, true)"
)
_ROLLBACK = b"ROLLBACK"

_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK})
_ROWS = frozenset({pq.ExecStatus.TUPLES_CHUNK, pq.ExecStatus.SINGLE_TUPLE})
_IN_TRANSACTION = frozenset({pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR})


@dataclass(frozen=True)
class Opening:
    """What a statement's flight starts with: the read-only transaction (`begin`), the
    statement time limit for the rest of it (`timeout_ms`, None: the one set holds), and
    the tag its session shows while it lasts (`tag`, with `begin` only)."""

    begin: bool = False
    timeout_ms: int | None = None
    tag: str | None = None

    def commands(self) -> list[tuple[bytes, list[bytes | None] | None]]:
        commands: list[tuple[bytes, list[bytes | None] | None]] = [(_BEGIN, None)] if self.begin else []
        if self.timeout_ms is not None and self.tag is not None:
            commands.append((_LIMIT_AND_TAG, [str(int(self.timeout_ms)).encode(), self.tag.encode()]))
        elif self.timeout_ms is not None:
            commands.append((_LIMIT, [str(int(self.timeout_ms)).encode()]))
        return commands


@dataclass
class _Flight:
    """The commands sent before the statement, each with what to do if it did not run."""

    undone: list[Callable[[], None] | None] = field(default_factory=list)
    syncs: int = 0  # Sync points sent and not yet answered: the flight is over at 0
    running: bool = False  # the statement may still be sending rows


class ReadCursor(psycopg.RawCursor):
    """A RawCursor whose statements go out in flights (see the module docstring)."""

    def open_read_only(self, timeout_ms: int, tag: str) -> None:
        """Open a read-only transaction with its time limit and tag: one round trip."""
        flight = _Flight()
        with self._conn.lock:
            try:
                opening = Opening(begin=True, timeout_ms=timeout_ms, tag=tag)
                self._conn.wait(self._send_gen(opening, None, flight, rollback=False))
                self._conn.wait(self._opening_results_gen(flight))
            finally:
                self._land(flight)

    def stream(  # type: ignore[override]  # psycopg's, plus what travels with the statement
        self,
        query: str,
        params: Any = None,
        *,
        binary: bool | None = None,
        size: int = 1,
        opening: Opening = Opening(),  # frozen: one shared default is safe
        rollback: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of `query`, `size` per network read, sent in one flight after `opening`
        and, with `rollback`, before the transaction's ROLLBACK. A reader that stops early
        cancels the statement, as psycopg's `stream` does.

        An empty result keeps its columns (`description`), unlike psycopg's `stream`."""
        if not opening.begin and self._pgconn.transaction_status not in _IN_TRANSACTION:
            # Never outside the read-only transaction: the server would run it on its own.
            raise psycopg.ProgrammingError("a read's statement outside its read-only transaction")
        flight = _Flight()
        with self._conn.lock:
            try:
                self._reset()
                self._tx = adapt.Transformer(self)
                pgq = self._convert_query(query, params)
                self._conn.wait(self._send_gen(opening, pgq, flight, rollback=rollback, binary=binary))
                self._conn.wait(self._opening_results_gen(flight))
                flight.running = True
                if size == 1:
                    self._pgconn.set_single_row_mode()
                else:
                    self._pgconn.set_chunked_rows_mode(size)
                first = True
                while (result := self._conn.wait(self._rows_gen(flight, first))) is not None:
                    for position in range(result.ntuples):
                        yield self._tx.load_row(position, self._make_row)
                    first = False
            except pg_errors.FeatureNotSupported:
                postgresql_prepared.plans_changed(self._conn)
                raise
            finally:
                self._land(flight)

    def _send_gen(
        self, opening: Opening, pgq: Any, flight: _Flight, *, rollback: bool, binary: bool | None = None
    ) -> Any:
        """Queue the flight's commands and send them (a generator for `Connection.wait`)."""
        pgconn = self._pgconn
        pgconn.enter_pipeline_mode()
        for sql, values in opening.commands():
            pgconn.send_query_params(sql, values)
            flight.undone.append(None)
        if pgq is not None:
            self._queue_statement(pgq, flight, binary=binary)
        if rollback:
            # Skipped if the statement failed (or was cancelled): the connector then
            # rolls back on its own (postgresql._end_read), a round trip on that path only.
            pgconn.send_query_params(_ROLLBACK, None)
        pgconn.pipeline_sync()
        flight.syncs += 1
        yield from send(pgconn)

    def _queue_statement(self, pgq: Any, flight: _Flight, *, binary: bool | None) -> None:
        """The statement, by name where it is prepared (postgresql_prepared), as text else."""
        pgconn = self._pgconn
        connection = self._conn
        plan = postgresql_prepared.plan(connection, pgq.query, pgq.types, has_params=bool(pgq.params))
        for name in plan.to_deallocate:
            # A protocol Close (libpq 17, as chunked rows are): never an error, even for a
            # name the server does not have, so it cannot make the read fail.
            pgconn.send_close_prepared(name)
            flight.undone.append(partial(postgresql_prepared.deallocate_later, connection, name))
        result_format = pq.Format.BINARY if binary else self.format
        self._query = pgq
        if plan.name is None:
            pgconn.send_query_params(
                pgq.query, pgq.params, param_formats=pgq.formats, param_types=pgq.types, result_format=result_format
            )
            return
        if not plan.prepared:
            pgconn.send_prepare(plan.name, pgq.query, param_types=pgq.types)
            flight.undone.append(partial(postgresql_prepared.preparation_failed, connection, plan.key))
        pgconn.send_query_prepared(plan.name, pgq.params, param_formats=pgq.formats, result_format=result_format)

    def _opening_results_gen(self, flight: _Flight) -> Any:
        """The answers to the commands before the statement; the first error is raised
        once they are all read (the statement then was not run)."""
        error: psycopg.Error | None = None
        for undone in flight.undone:
            result = yield from fetch(self._pgconn)
            if result is not None and result.status not in _OK:
                if undone is not None:
                    undone()
                if error is None and result.status == pq.ExecStatus.FATAL_ERROR:
                    error = pg_errors.error_from_result(result, encoding=self._encoding)
            yield from fetch(self._pgconn)  # the end of that command's results
        flight.undone = []
        if error is not None:
            raise error

    def _rows_gen(self, flight: _Flight, first: bool) -> Any:
        """The statement's next chunk of rows; None at its end."""
        result = yield from fetch(self._pgconn)
        status = result.status if result is not None else None
        if status not in _ROWS:
            flight.running = False  # its end, or its error
        if status in _ROWS:
            self.pgresult = result
            self._tx.set_pgresult(result, set_loaders=first)
            if first:
                self._make_row = self._make_row_maker()
            return result
        if status == pq.ExecStatus.TUPLES_OK:
            self.pgresult = result  # an empty result's columns are only here
            yield from fetch(self._pgconn)  # the end of the statement's results
            return None
        if status == pq.ExecStatus.COMMAND_OK:
            raise psycopg.ProgrammingError("the operation in stream() didn't produce a result")
        if result is None:
            raise psycopg.InternalError("the statement ended without a result")
        self._raise_for_result(result)

    def _land(self, flight: _Flight) -> None:
        """Read what is left of the flight and leave pipeline mode. A statement still
        sending rows is cancelled first. Errors here are not raised: the caller has the
        one that matters, and a connection left unusable is closed by the connector."""
        pgconn = self._pgconn
        if not pgconn.pipeline_status:
            return
        try:
            if flight.running:
                self._conn._try_cancel()
            self._conn.wait(self._to_sync_gen(flight))
            pgconn.exit_pipeline_mode()
        except psycopg.Error:
            pass

    def _to_sync_gen(self, flight: _Flight) -> Any:
        """Read every answer up to the flight's last Sync (one wait, not one per answer)."""
        while flight.syncs:
            result = yield from fetch(self._pgconn)
            if result is not None and result.status == pq.ExecStatus.PIPELINE_SYNC:
                flight.syncs -= 1
