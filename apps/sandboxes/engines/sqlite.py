"""SQLite copies: files made with SQLite's online backup API, under the data directory.

The source file is opened read-only (mode=ro) and the backup reads it in read
transactions, so the source is never written. A table above the sample bound keeps its
first rows by rowid; a WITHOUT ROWID table keeps its first rows by primary key order.
"""

import sqlite3
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings

from apps.datasources.connectors.sqlite import resolve_database_path
from apps.sandboxes.engines.base import CopyEngine, CopyFailed, GoldenReport, SandboxLogin, UploadColumn


def sandbox_directory() -> Path:
    """Copies live beside the files SQLite sources may use, so the SQLite connector (which
    opens only files below those roots) runs SQL in them like in any source."""
    directory = settings.QUERYBASE_SQLITE_ROOTS[0] / "sandboxes"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_UPLOAD_TYPES = {
    "integer": "INTEGER",
    "decimal": "NUMERIC",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "text": "TEXT",
}


def _sqlite_value(value):
    """SQLite stores decimals (NUMERIC affinity converts them), dates and times as text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


class SQLiteCopies(CopyEngine):
    engine = "sqlite"
    # No logins: a sandbox's connection is confined to its file (apps/sandboxes/connectors.py).
    needs_login = False

    def create_login(self, login: SandboxLogin) -> None:
        raise CopyFailed("SQLite has no logins.")

    def drop_login(self, name: str) -> None:
        return None

    def _path(self, name: str) -> Path:
        return sandbox_directory() / f"{name}.sqlite3"

    def build_golden(self, name: str, max_rows_per_table: int) -> GoldenReport:
        try:
            source_path = resolve_database_path(self.source.database)
        except Exception as error:
            raise CopyFailed(str(getattr(error, "message", error))) from error
        if not source_path.is_file():
            raise CopyFailed(f"SQLite file {source_path} does not exist.")
        target = self._path(name)
        try:
            self._backup(sqlite3.connect(f"{source_path.as_uri()}?mode=ro", uri=True), target)
            return GoldenReport(sampled_tables=self._sample(target, max_rows_per_table), notes=[])
        except (sqlite3.Error, sqlite3.ProgrammingError) as error:
            self.drop(name)
            raise CopyFailed(f"Copying the SQLite file failed: {error}") from error

    @staticmethod
    def _backup(source: sqlite3.Connection, target: Path) -> None:
        """Copy `source` into a new file `target`, closing both."""
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()

    @staticmethod
    def _sample(path: Path, max_rows: int) -> list[str]:
        sampled = []
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            tables = connection.execute(
                "SELECT name, sql LIKE '%WITHOUT ROWID%' FROM sqlite_master "
                "WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            ).fetchall()
            for table, without_rowid in tables:
                name = _quoted(table)
                more = connection.execute(f"SELECT 1 FROM {name} LIMIT 1 OFFSET {int(max_rows)}").fetchone()
                if more is None:
                    continue
                if without_rowid:
                    # No rowid: keep the first rows in the table's own (primary key) order.
                    connection.execute(f"CREATE TEMP TABLE qb_keep AS SELECT * FROM {name} LIMIT {int(max_rows)}")
                    connection.execute(f"DELETE FROM {name}")
                    connection.execute(f"INSERT INTO {name} SELECT * FROM temp.qb_keep")
                    connection.execute("DROP TABLE temp.qb_keep")
                else:
                    connection.execute(
                        f"DELETE FROM {name} WHERE _rowid_ NOT IN "
                        f"(SELECT _rowid_ FROM {name} ORDER BY _rowid_ LIMIT {int(max_rows)})"
                    )
                sampled.append(table)
            if sampled:
                connection.execute("VACUUM")
        finally:
            connection.close()
        return sorted(sampled)

    def copy(self, golden: str, name: str) -> None:
        source_path = self._path(golden)
        if not source_path.is_file():
            raise CopyFailed(f"The golden copy {golden} is missing.")
        try:
            self._backup(sqlite3.connect(f"{source_path.as_uri()}?mode=ro", uri=True), self._path(name))
        except sqlite3.Error as error:
            self.drop(name)
            raise CopyFailed(f"Copying the SQLite file failed: {error}") from error

    def drop(self, name: str) -> None:
        path = self._path(name)
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def size_bytes(self, name: str) -> int:
        path = self._path(name)
        return path.stat().st_size if path.is_file() else 0

    def load_table(self, name: str, table: str, columns: list[UploadColumn], rows: Iterable[list]) -> None:
        definition = ", ".join(f"{_quoted(column.name)} {_UPLOAD_TYPES[column.type]}" for column in columns)
        insert = (
            f"INSERT INTO {_quoted(table)} ({', '.join(_quoted(column.name) for column in columns)}) "
            f"VALUES ({', '.join(['?'] * len(columns))})"
        )
        # Autocommit mode with an explicit BEGIN: the module would otherwise commit before
        # the CREATE TABLE, and a failed load would leave the table behind.
        connection = sqlite3.connect(self._path(name), isolation_level=None)
        try:
            connection.execute("BEGIN")
            connection.execute(f"CREATE TABLE {_quoted(table)} ({definition})")
            connection.executemany(insert, ([_sqlite_value(value) for value in row] for row in rows))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise CopyFailed(f"Loading the rows failed: {error}") from error
        finally:
            connection.close()

    def quote_name(self, name: str) -> str:
        return _quoted(name)

    def quote_table(self, schema: str, table: str) -> str:
        return _quoted(table)

    def key_columns(self, name: str, schema: str, table: str) -> list[str]:
        connection = sqlite3.connect(f"{self._path(name).as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(f"PRAGMA table_info({_quoted(table)})").fetchall()
        except sqlite3.Error as error:
            raise CopyFailed(f"Reading the copy failed: {error}") from error
        finally:
            connection.close()
        return [row[1] for row in sorted(rows, key=lambda row: row[5]) if row[5]]

    def database_of(self, name: str) -> str:
        return str(self._path(name))
