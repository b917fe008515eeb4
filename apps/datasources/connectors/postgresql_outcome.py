"""PostgreSQL side of outcome markers: the table, the write's row, and settling a crash.

The write's row goes in last, after the approved statements and just before COMMIT, so
nothing it does can be seen by them (no `lastval()`, no row count, no trigger run first):
the approved text runs byte for byte as if the marker were not there.
"""

import psycopg
from psycopg import sql

from apps.datasources.connectors.base import OUTCOME_TABLE, WriteMarker, WriteOutcome, the_row

_CREATE = """
CREATE TABLE IF NOT EXISTS {} (
    request_id bigint NOT NULL,
    sql_sha256 char(64) NOT NULL,
    applied boolean NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, sql_sha256)
)
"""
_COMMENT = "COMMENT ON TABLE {} IS 'QueryBase: one row per approved write, telling whether it committed'"
_INSERT = "INSERT INTO {} (request_id, sql_sha256, applied) VALUES (%s, %s, %s)"
_APPLIED = "SELECT applied FROM {} WHERE request_id = %s AND sql_sha256 = %s"


def _table(schema: str) -> sql.Identifier:
    return sql.Identifier(schema, OUTCOME_TABLE)


def prepare(connection: psycopg.Connection) -> str | None:
    """The schema holding the marker table (created here on first use), or None where
    the credentials may not create it or write to it."""
    schema = the_row(connection.execute("SELECT current_schema()").fetchone())[0]
    if schema is None:
        return None
    table = _table(schema)
    qualified = table.as_string(connection)
    try:
        # Checked first: CREATE ... IF NOT EXISTS needs CREATE on the schema even when
        # the table is there, and an owner may have been given only the table.
        if the_row(connection.execute("SELECT to_regclass(%s)", [qualified]).fetchone())[0] is None:
            connection.execute(sql.SQL(_CREATE).format(table))
            connection.execute(sql.SQL(_COMMENT).format(table))
        insertable = the_row(connection.execute("SELECT has_table_privilege(%s, 'INSERT')", [qualified]).fetchone())[0]
        connection.commit()
    except psycopg.errors.InsufficientPrivilege:
        connection.rollback()
        return None
    return schema if insertable else None


def record(connection: psycopg.Connection, marker: WriteMarker) -> None:
    """The write's own row, inside its transaction."""
    connection.execute(
        sql.SQL(_INSERT).format(_table(marker.schema)), [marker.request_id, marker.sql_sha256, True], prepare=False
    )


def settle(connection: psycopg.Connection, marker: WriteMarker, wait_ms: int) -> WriteOutcome:
    table = _table(marker.schema)
    try:
        with connection.transaction():
            connection.execute(f"SET LOCAL lock_timeout = {int(wait_ms)}")
            connection.execute(sql.SQL(_INSERT).format(table), [marker.request_id, marker.sql_sha256, False])
        return WriteOutcome.NOT_APPLIED
    except psycopg.errors.UniqueViolation:
        pass  # a marker is there: the write's own, or an earlier settlement's
    except psycopg.errors.LockNotAvailable:
        return WriteOutcome.STILL_OPEN  # the write's transaction holds the key: not decided yet
    except psycopg.errors.UndefinedTable:
        return WriteOutcome.UNKNOWABLE
    row = the_row(
        connection.execute(sql.SQL(_APPLIED).format(table), [marker.request_id, marker.sql_sha256]).fetchone()
    )
    return WriteOutcome.COMMITTED if row[0] else WriteOutcome.NOT_APPLIED
