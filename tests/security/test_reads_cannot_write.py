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
