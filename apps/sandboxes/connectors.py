"""Connectors that run a user's SQL in a sandbox copy: the source's connectors, without a
pool, logged in as the copy's own restricted login (never the copy-maker), and on SQLite
confined to the copy's file. A login the server refuses is said to be the sandbox's.

A sandbox is used by one person now and then, and is dropped or replaced whole. A
connection pool per copy (the PostgreSQL connector keeps one per set of settings) would
keep worker threads and idle sessions alive for every copy ever used, sessions that a
reset or delete must then force out. One connection per run costs a few milliseconds.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import MySQLdb
import psycopg

from apps.datasources.connectors import connector_class
from apps.datasources.connectors.base import AuthenticationFailed, ConnectionSettings, Connector, ConnectorError
from apps.datasources.connectors.mysql import MySQLConnector
from apps.datasources.connectors.postgresql import PostgreSQLConnector, _configure
from apps.datasources.connectors.sqlite import SQLiteConnector
from apps.sandboxes.engines import CopyEngine, CopyFailed, copies_for
from apps.sandboxes.exceptions import SandboxUnavailable

if TYPE_CHECKING:
    from apps.sandboxes.models import Sandbox

# PRAGMAs a sandbox may run on SQLite: they describe the copy, or make a read read-only.
# Others (journal_mode, writable_schema, temp_store_directory, …) change how or where the
# file is kept.
_SQLITE_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
        "query_only",
    }
)


class SandboxLoginRefused(ConnectorError):
    """The sandbox server refused the copy's own login: its password was changed from
    inside the copy (every login may change its own), or the login is gone. QueryBase
    does not put it back: a reset makes a new copy with a new login."""

    code = "sandbox_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The sandbox server refused this sandbox's own login (its password was changed, or the login is "
            "gone); reset the sandbox to get a fresh copy with a new login."
        )


def _said_of_the_sandbox(error: ConnectorError) -> ConnectorError:
    return SandboxLoginRefused() if isinstance(error, AuthenticationFailed) else error


class UnpooledPostgreSQLConnector(PostgreSQLConnector):
    @contextmanager
    def _pooled_connection(self) -> Iterator[psycopg.Connection]:
        with self.connect() as connection:
            _configure(connection)
            yield connection

    def _translate(self, error: psycopg.OperationalError) -> ConnectorError:
        return _said_of_the_sandbox(super()._translate(error))


class SandboxMySQLConnector(MySQLConnector):
    def _translate(self, error: MySQLdb.OperationalError) -> ConnectorError:
        return _said_of_the_sandbox(super()._translate(error))


class ConfinedSQLiteConnector(SQLiteConnector):
    """SQLite has no logins: the connection's authorizer is the wall. It refuses ATTACH and
    DETACH (another file; VACUUM INTO asks as an ATTACH too), PRAGMAs beyond those that
    describe the copy, and load_extension()."""

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        with super().connect() as connection:
            connection.set_authorizer(confined_to_the_copy)
            yield connection


def confined_to_the_copy(
    action: int, first: str | None, second: str | None, database: str | None, source: str | None
) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (first or "").lower() not in _SQLITE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (second or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def sandbox_connector(engine: str, settings: ConnectionSettings) -> Connector:
    if engine == PostgreSQLConnector.engine:
        return UnpooledPostgreSQLConnector(settings)
    if engine == MySQLConnector.engine:
        return SandboxMySQLConnector(settings)
    if engine == SQLiteConnector.engine:
        return ConfinedSQLiteConnector(settings)
    return connector_class(engine)(settings)


def copy_connector(copies: CopyEngine, name: str, *, statement_timeout_ms: int) -> Connector:
    """The connector a user's SQL runs through in copy `name`: as the copy's own restricted
    login. Without one it fails closed (there is no fallback to the copy-maker)."""
    try:
        settings = copies.connection_settings(name, statement_timeout_ms=statement_timeout_ms)
    except CopyFailed as error:
        raise SandboxUnavailable(error.message) from error
    return sandbox_connector(copies.engine, settings)


def sandbox_copy_connector(sandbox: "Sandbox", copies: CopyEngine | None = None) -> Connector:
    """`copy_connector` for a user's sandbox, under its source's time limit (`copies`: the
    source's copy engine, where the caller holds it already)."""
    datasource = sandbox.datasource
    return copy_connector(
        copies or copies_for(datasource), sandbox.database_name, statement_timeout_ms=datasource.statement_timeout_ms
    )
