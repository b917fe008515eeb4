"""SQLite files on the server, confined to configured directories."""

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.datasources.connectors.base import (
    BoundStatement,
    ConnectionFailed,
    Connector,
    ConnectorError,
    CredentialRole,
    EarlierResult,
    InvalidConfiguration,
    ParamStyle,
    QueryCancelled,
    QueryFailed,
    QueryLimits,
    QueryTimedOut,
    ReadOnlyViolation,
    ResultColumn,
    RowStream,
    Table,
    WriteMarker,
    drain,
    group_columns,
    with_indexes,
)
from apps.datasources.connectors.csv_text import csv_text
from apps.datasources.connectors.privileges import PrivilegeReport
from apps.datasources.connectors.values import sqlite_type_of, to_json_value

# SQLite runs in the worker's own process: a cancel from another process is a flag in
# the shared cache, looked at by the progress handler a few times a second.
_CANCEL_KEY = "sqlite-cancel:{}"
_CANCEL_POLL_SECONDS = 0.2
_PROGRESS_EVERY_OPS = 20_000

_SCHEMA_SQL = """
SELECT 'main', m.name, m.type, p.name, p.type, p."notnull" = 0
FROM sqlite_master m JOIN pragma_table_info(m.name) p
WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name, p.cid
"""

# Indexes SQLite keeps (an INTEGER PRIMARY KEY is the rowid, no index); origin 'pk' marks a primary key.
_INDEXES_SQL = """
SELECT 'main', m.name, il.name, il."unique", il.origin = 'pk', ii.name
FROM sqlite_master m JOIN pragma_index_list(m.name) il JOIN pragma_index_info(il.name) ii
WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
ORDER BY m.name, il.name, ii.seqno
"""


def resolve_database_path(database: str) -> Path:
    """The real path of a SQLite file, refused unless it lies below an allowed root."""
    if not database:
        raise InvalidConfiguration("A database file path is required.")
    path = Path(database).expanduser().resolve()
    roots = settings.QUERYBASE_SQLITE_ROOTS
    if not any(path.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise InvalidConfiguration(f"SQLite files must lie below one of: {allowed}.")
    return path


class SQLiteConnector(Connector):
    engine = "sqlite"
    network = False
    param_style = ParamStyle.QMARK

    @classmethod
    def validate_config(cls, *, host: str, port: int | None, database: str) -> dict[str, str]:
        try:
            resolve_database_path(database)
        except InvalidConfiguration as error:
            return {"database": error.message}
        return {}

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        path = resolve_database_path(self.settings.database)
        if not path.is_file():
            raise ConnectionFailed(f"SQLite file {path} does not exist.", said="The data source's file does not exist.")
        # Read connections open the file read-only at the OS level.
        mode = "ro" if self.settings.role is CredentialRole.READ else "rw"
        try:
            connection = sqlite3.connect(
                f"{path.as_uri()}?mode={mode}",
                uri=True,
                timeout=self.settings.connect_timeout,
                isolation_level=None,  # we issue BEGIN/ROLLBACK ourselves
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise ConnectionFailed(f"could not open SQLite file {path}: {error}") from error
        try:
            yield connection
        finally:
            connection.close()

    def server_version(self, connection: sqlite3.Connection) -> str:
        return connection.execute("SELECT sqlite_version()").fetchone()[0]

    def schema(self) -> list[Table]:
        with self.connect() as connection:
            try:
                rows = connection.execute(_SCHEMA_SQL).fetchall()
                index_rows = connection.execute(_INDEXES_SQL).fetchall()
            except sqlite3.Error as error:
                raise ConnectorError(f"Could not read the schema: {error}") from error
        return with_indexes(group_columns(rows), index_rows)

    def audit_privileges(self) -> PrivilegeReport:
        # SQLite has no logins or grants: what a read can do is what the connector opens.
        with self.connect() as connection:
            connection.execute("SELECT 1")
        return PrivilegeReport(
            login="",
            grantee_sql="",
            database=self.settings.database,
            notes=[
                "SQLite has no users or grants. Reads open the file read-only (mode=ro) and set "
                "PRAGMA query_only, so a read cannot change it."
            ],
        )

    # Execution -----------------------------------------------------------------------

    @contextmanager
    def open_read_stream(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None = None,
        *,
        fresh: bool = False,
        text: bool = False,
        backend_id: str | None = None,
        earlier: EarlierResult | None = None,
    ) -> Iterator[RowStream]:
        # A file opened per read: nothing to lose between reads, so `fresh` changes nothing.
        backend_id = backend_id or self.new_backend_id()
        if on_backend is not None:
            on_backend(backend_id)
        with self.connect() as connection:
            stop = _Stopwatch(backend_id, limits.timeout_ms / 1000)
            connection.set_progress_handler(stop.should_interrupt, _PROGRESS_EVERY_OPS)
            try:
                connection.execute("PRAGMA query_only = ON")
                connection.execute("BEGIN")
                for index, statement in enumerate(statements[:-1]):
                    stop.check_between_statements()
                    cursor = connection.execute(statement.sql, statement.args or ())
                    if earlier is None:
                        cursor.fetchall()
                        continue
                    stream = self._row_stream(cursor, stop, to_json_value)
                    earlier(index, stream)
                    drain(stream)
                stop.check_between_statements()
                last = statements[-1]
                cursor = connection.execute(last.sql, last.args or ())
                yield self._row_stream(cursor, stop, csv_text if text else to_json_value)
            except sqlite3.Error as error:
                raise self._query_error(error, stop) from error
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")

    def _row_stream(self, cursor: sqlite3.Cursor, stop: "_Stopwatch", spell: Callable[[Any], Any]) -> RowStream:
        names = [column[0] for column in cursor.description or ()]
        try:
            first = cursor.fetchone()
        except sqlite3.Error as error:
            raise self._query_error(error, stop) from error
        types = [sqlite_type_of(value) for value in first] if first is not None else [""] * len(names)
        columns = [ResultColumn(name=name, type=kind) for name, kind in zip(names, types, strict=True)]
        rows = chain([first], cursor) if first is not None else iter(())
        return RowStream(columns=columns, rows=self._rows(rows, stop, spell))

    def _rows(self, rows, stop: "_Stopwatch", spell: Callable[[Any], Any]) -> Iterator[list]:
        try:
            for row in rows:
                yield [spell(value) for value in row]
        except sqlite3.Error as error:
            raise self._query_error(error, stop) from error

    def _query_error(self, error: sqlite3.Error, stop: "_Stopwatch") -> ConnectorError:
        message = str(error)
        if "interrupted" in message:
            if stop.cancelled:
                return QueryCancelled("The query was cancelled.")
            return QueryTimedOut(f"The query ran longer than the time limit ({stop.timeout_seconds:g}s).")
        if "readonly" in message or "query_only" in message.lower() or "read-only" in message:
            return ReadOnlyViolation(f"SQLite refused a write inside a read: {message}")
        return QueryFailed(message)

    def run_write(
        self,
        statements: list[BoundStatement],
        timeout_ms: int,
        *,
        dry_run: bool = False,
        marker: WriteMarker | None = None,  # never given: SQLite sources keep no markers
    ) -> list[int]:
        affected = []
        with self.connect() as connection:
            stop = _Stopwatch(uuid.uuid4().hex, timeout_ms / 1000)
            connection.set_progress_handler(stop.should_interrupt, _PROGRESS_EVERY_OPS)
            try:
                connection.execute("BEGIN")
                for statement in statements:
                    affected.append(connection.execute(statement.sql, statement.args or ()).rowcount)
                connection.execute("ROLLBACK" if dry_run else "COMMIT")
            except sqlite3.Error as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise self._query_error(error, stop) from error
        return affected

    @classmethod
    def new_backend_id(cls) -> str:
        # The cancel flag's key (`cancel`): any unique name will do.
        return uuid.uuid4().hex

    def cancel(self, backend_id: str) -> bool:
        cache.set(_CANCEL_KEY.format(backend_id), True, 3600)
        return True


class _Stopwatch:
    """Decides, from SQLite's progress handler, when to interrupt a statement."""

    def __init__(self, backend_id: str, timeout_seconds: float):
        self.backend_id = backend_id
        self.timeout_seconds = timeout_seconds
        self.deadline = time.monotonic() + timeout_seconds
        self.next_cancel_check = time.monotonic() + _CANCEL_POLL_SECONDS
        self.cancelled = False

    def check_between_statements(self) -> None:
        """The progress handler only runs inside a statement every few thousand steps, so
        thousands of tiny statements would never meet it: the deadline is checked here too."""
        if time.monotonic() > self.deadline:
            raise QueryTimedOut(f"The query ran longer than the time limit ({self.timeout_seconds:g}s).")

    def should_interrupt(self) -> int:
        now = time.monotonic()
        if now > self.deadline:
            return 1
        if now >= self.next_cancel_check:
            self.next_cancel_check = now + _CANCEL_POLL_SECONDS
            self.cancelled = bool(cache.get(_CANCEL_KEY.format(self.backend_id)))
        return 1 if self.cancelled else 0
