"""Invariant 2: defence in depth. A write the classifier missed (here: the connector is
called directly, as if the classifier had said "read") still cannot change anything,
because reads run in a read-only transaction that is rolled back."""

import contextlib

import psycopg
import pytest

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import BoundStatement, ConnectorError, QueryLimits, ReadOnlyViolation
from tests.support.databases import SOURCE_DB, mysql_root
from tests.support.factories import make_datasource, source_from_server

pytestmark = pytest.mark.django_db

LIMITS = QueryLimits(max_rows=100, timeout_ms=5000)


def read_with(source, sql: str):
    return connector_for(source, CredentialRole.READ).run_read([BoundStatement(sql)], LIMITS)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (99, 'Mallory', 'XX')",
        "UPDATE customers SET name = 'pwned'",
        "DELETE FROM orders",
        "CREATE TABLE evil (id int)",
        "DROP TABLE orders",
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "SELECT nextval('evil_seq')",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
    ],
)
def test_postgresql_refuses_writes_inside_a_read(postgres_server, sql):
    pg = source_from_server("pg", "postgresql", postgres_server)
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB, autocommit=True
    ) as admin:
        admin.execute("CREATE SEQUENCE IF NOT EXISTS evil_seq")
        before = admin.execute("SELECT nextval('evil_seq')").fetchone()[0]
    # Refused (most) or harmless and rolled back (set_config): either way nothing changes.
    with contextlib.suppress(ConnectorError):
        read_with(pg, sql)
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB
    ) as admin:
        assert admin.execute("SELECT count(*) FROM customers WHERE name IN ('Mallory', 'pwned')").fetchone()[0] == 0
        assert admin.execute("SELECT count(*) FROM orders").fetchone()[0] == 2
        assert admin.execute("SELECT to_regclass('evil')").fetchone()[0] is None
        assert admin.execute("SELECT last_value FROM evil_seq").fetchone()[0] == before


def test_a_postgresql_read_is_read_only_by_its_own_transaction(postgres_server):
    """Read credentials' sessions default to read-only; the read's own transaction is
    read-only too, with its time limit and tag, whatever the session (here the owner's,
    which may write). They travel in one flight with the statement, which runs only if
    they were all set (apps/datasources/connectors/postgresql_reads.py)."""
    pg = source_from_server("pg", "postgresql", postgres_server, statement_timeout_ms=60_000)
    owner = connector_for(pg, CredentialRole.OWNER)
    tag = owner.new_backend_id()
    settings_sql = (
        "SELECT current_setting('transaction_read_only'), current_setting('default_transaction_read_only'), "
        "current_setting('statement_timeout') <> '1min', current_setting('application_name')"
    )
    seen = owner.read_with([BoundStatement(settings_sql)], LIMITS, lambda columns, rows: list(rows), backend_id=tag)
    assert seen == [["on", "off", True, tag]]
    with pytest.raises(ReadOnlyViolation):
        owner.run_read([BoundStatement("DELETE FROM orders")], LIMITS)
    # Several statements: each runs in the same read-only transaction.
    with pytest.raises(ReadOnlyViolation):
        owner.run_read([BoundStatement("SELECT 1"), BoundStatement("UPDATE customers SET name = 'pwned'")], LIMITS)
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB
    ) as admin:
        assert admin.execute("SELECT count(*) FROM orders").fetchone()[0] == 2
        assert admin.execute("SELECT count(*) FROM customers WHERE name = 'pwned'").fetchone()[0] == 0


def test_postgresql_says_why(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    with pytest.raises(ReadOnlyViolation, match="read-only transaction"):
        read_with(pg, "DELETE FROM orders")


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO customers VALUES (99, 'Mallory', 'XX')",
        "UPDATE customers SET name = 'pwned'",
        "DELETE FROM orders",
        "CREATE TABLE evil (id int)",
        "DROP TABLE orders",
        "TRUNCATE TABLE orders",
    ],
)
def test_mariadb_refuses_writes_inside_a_read(mysql_server, sql):
    maria = source_from_server("maria", "mysql", mysql_server)
    with pytest.raises(ReadOnlyViolation):
        read_with(maria, sql)
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"SELECT count(*) FROM {SOURCE_DB}.orders")
    assert cursor.fetchone()[0] == 2
    cursor.execute(f"SELECT count(*) FROM {SOURCE_DB}.customers WHERE name IN ('Mallory', 'pwned')")
    assert cursor.fetchone()[0] == 0
    cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'evil'")
    assert cursor.fetchone()[0] == 0
    connection.close()


@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM orders", "UPDATE customers SET name = 'x'", "CREATE TABLE evil (id int)", "DROP TABLE orders"],
)
def test_sqlite_refuses_writes_inside_a_read(tmp_path, settings, shop_sqlite_path, sql):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    with pytest.raises(ReadOnlyViolation):
        read_with(shop, sql)
    assert read_with(shop, "SELECT count(*) FROM orders").rows == [[2500]]
