"""MySQL/MariaDB side of outcome markers: the table (InnoDB, or no marker), the write's
row, and settling a crash.

The write's row goes in last, after the approved statements and just before COMMIT, so
nothing it does can be seen by them (no ROW_COUNT(), no trigger run first): the approved
text runs byte for byte as if the marker were not there. Only writes made of DML use a
marker (Connector.marker_statement_kinds): DDL and SET autocommit commit by themselves,
and a marker cannot vouch for a transaction that ends early.
"""

import MySQLdb

from apps.datasources.connectors.base import OUTCOME_TABLE, WriteMarker, WriteOutcome

_CREATE = """
CREATE TABLE IF NOT EXISTS {} (
    request_id BIGINT NOT NULL,
    sql_sha256 CHAR(64) NOT NULL,
    applied BOOLEAN NOT NULL,
    recorded_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (request_id, sql_sha256)
) ENGINE=InnoDB COMMENT='QueryBase: one row per approved write, telling whether it committed'
"""
_ENGINE = "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
_INSERT = "INSERT INTO {} (request_id, sql_sha256, applied) VALUES (%s, %s, %s)"
_APPLIED = "SELECT applied FROM {} WHERE request_id = %s AND sql_sha256 = %s"
_DENIED = {1044, 1142}  # access denied to the database / for this command on the table
_DUPLICATE_KEY, _LOCK_WAIT_TIMEOUT, _NO_SUCH_TABLE = 1062, 1205, 1146


def _table(schema: str) -> str:
    def quoted(name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    return f"{quoted(schema)}.{quoted(OUTCOME_TABLE)}"


def prepare(connection: MySQLdb.Connection) -> str | None:
    """The database holding the marker table (created here on first use), or None where
    the credentials may not create it, or it is not InnoDB (only InnoDB rolls back)."""
    cursor = connection.cursor()
    cursor.execute("SELECT DATABASE()")
    schema = cursor.fetchone()[0]
    if schema is None:
        return None
    engine = _engine_of_table(cursor, schema)
    if engine is None:
        try:
            cursor.execute(_CREATE.format(_table(schema)))  # DDL: commits by itself, before any write
        except MySQLdb.OperationalError as error:
            if error.args and error.args[0] in _DENIED:
                return None
            raise
        engine = _engine_of_table(cursor, schema)
    return schema if engine == "innodb" else None


def _engine_of_table(cursor, schema: str) -> str | None:
    cursor.execute(_ENGINE, [schema, OUTCOME_TABLE])
    row = cursor.fetchone()
    return None if row is None else str(row[0]).lower()


def record(cursor, marker: WriteMarker) -> None:
    """The write's own row, inside its transaction."""
    cursor.execute(_INSERT.format(_table(marker.schema)), [marker.request_id, marker.sql_sha256, True])


def settle(connection: MySQLdb.Connection, marker: WriteMarker, wait_ms: int) -> WriteOutcome:
    table = _table(marker.schema)
    cursor = connection.cursor()
    cursor.execute(f"SET SESSION innodb_lock_wait_timeout = {max(1, int(wait_ms) // 1000)}")
    try:
        cursor.execute(_INSERT.format(table), [marker.request_id, marker.sql_sha256, False])
        connection.commit()
        return WriteOutcome.NOT_APPLIED
    except MySQLdb.Error as error:
        connection.rollback()
        number = error.args[0] if error.args else None
        if number == _LOCK_WAIT_TIMEOUT:
            return WriteOutcome.STILL_OPEN  # the write's transaction holds the key: not decided yet
        if number == _NO_SUCH_TABLE:
            return WriteOutcome.UNKNOWABLE
        if number != _DUPLICATE_KEY:
            raise
    cursor.execute(_APPLIED.format(table), [marker.request_id, marker.sql_sha256])
    return WriteOutcome.COMMITTED if cursor.fetchone()[0] else WriteOutcome.NOT_APPLIED
