"""Provoking the failures the sweeper settles: a source row held by another session, a
worker killed mid-work, and polling for the state that follows (never a fixed sleep)."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import MySQLdb
import psycopg

from tests.support.databases import SOURCE_DB, mysql_root


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def settle_with(sweep: Callable[[], object], settled: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Run the sweeper until `settled`: the database notices a dead client's connection
    (and frees its session locks) a moment after the kill, not at once."""
    wait_until(lambda: sweep() is not None and settled(), what, timeout)


@contextmanager
def postgres_holding(server, sql: str) -> Iterator[psycopg.Connection]:
    """A session of the test's own that runs `sql` (a lock) in an open transaction, which
    it rolls back on exit."""
    with psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB) as connection:
        connection.execute(sql)
        try:
            yield connection
        finally:
            connection.rollback()


def _postgres_admin(server) -> psycopg.Connection:
    return psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB, autocommit=True)


def postgres_lock_waiters(server) -> set[int]:
    """Server process ids of the source's sessions waiting for a lock."""
    with _postgres_admin(server) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [SOURCE_DB]
        ).fetchall()
    return {row[0] for row in rows}


def postgres_session_alive(server, pid: int) -> bool:
    """A killed worker's session lives on until the server notices its client is gone."""
    with _postgres_admin(server) as connection:
        return connection.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0] == 1


@contextmanager
def mysql_holding(sql: str) -> Iterator[MySQLdb.Connection]:
    connection = mysql_root()
    try:
        cursor = connection.cursor()
        cursor.execute("START TRANSACTION")
        cursor.execute(sql)
        yield connection
    finally:
        connection.rollback()
        connection.close()


def _mysql_rows(sql: str, params=()) -> list[tuple]:
    connection = mysql_root()
    try:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        connection.close()


def mysql_lock_waiters() -> set[int]:
    """Thread ids of the source's sessions running a statement that changes a row: while
    the test holds that row, they can only be waiting for it. (information_schema.INNODB_TRX
    does not always list a waiting transaction on MariaDB 10.11.)"""
    rows = _mysql_rows(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND COMMAND = 'Query' "
        "AND (INFO LIKE 'UPDATE %%' OR INFO LIKE 'DELETE %%' OR INFO LIKE 'INSERT %%')",
        [SOURCE_DB],
    )
    return {row[0] for row in rows}


def mysql_session_alive(thread_id: int) -> bool:
    return bool(_mysql_rows("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s", [thread_id]))


def mysql_rows(sql: str, params=()) -> list[tuple]:
    return _mysql_rows(sql, params)
