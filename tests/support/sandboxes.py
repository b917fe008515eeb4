"""Fixtures for sandbox tests: sources made on the real engines, and a sweep that drops every copy
a test made (names carry the test namespace, so parallel checkouts never collide)."""

import hashlib
import os

import psycopg
import pytest
from django.conf import settings

from apps.sandboxes.engines import copies_for
from apps.sandboxes.engines.sqlite import sandbox_directory
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole
from tests.support import databases
from tests.support.factories import make_datasource, source_from_server

NAMESPACE = os.environ.get("QUERYBASE_TEST_NAMESPACE", "")
# Copies (databases, schemas, files) and roles the tests make are named apart per checkout:
# no checkout's prefix starts another's ("qbts_" and "qbt_h1s_"), so one's sweep never
# drops what a checkout running beside it still uses.
PREFIX = f"qbt{NAMESPACE.lower()}s_"
ROLE_PREFIX = f"qbt{NAMESPACE.lower()}r_"
# The processes the tests start (the Celery worker, the shipped server) name them the same
# way: a copy the worker makes is the session's to sweep, never left on the server.
os.environ["QUERYBASE_SANDBOX_NAME_PREFIX"] = PREFIX
os.environ["QUERYBASE_SANDBOX_ROLE_PREFIX"] = ROLE_PREFIX
SOURCE = f"qb_sandbox_src{NAMESPACE.lower()}"
CUSTOMERS = 30

POSTGRES_SCHEMA = (
    "CREATE TYPE mood AS ENUM ('calm', 'busy')",
    "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, mood mood NOT NULL DEFAULT 'calm')",
    "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id), total numeric)",
    "CREATE INDEX orders_by_customer ON orders (customer_id)",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "CREATE FUNCTION doubled(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT x * 2'",
    # Runs SQL given as text: a golden copy leaves it out.
    "CREATE FUNCTION run_text(q text) RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE q; END$$",
    f"INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, {CUSTOMERS}) g",
    "INSERT INTO orders (customer_id, total) SELECT g, g * 10 FROM generate_series(1, 20) g",
)
MYSQL_SCHEMA = (
    "CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL)",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2), "
    "FOREIGN KEY (customer_id) REFERENCES customers (id))",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "CREATE FUNCTION doubled(x DECIMAL(10,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN x * 2",
    # Names the source's schema without quotes, so copying cannot repoint it: left out.
    f"CREATE PROCEDURE touch_source() INSERT INTO {SOURCE}.customers (name) VALUES ('via procedure')",
    f"INSERT INTO customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_{CUSTOMERS}",
    "INSERT INTO orders (customer_id, total) SELECT seq, seq * 10 FROM seq_1_to_20",
)
SQLITE_SCHEMA = (
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL)",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {CUSTOMERS}) "
    "INSERT INTO customers (name) SELECT 'customer ' || n FROM g",
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20) "
    "INSERT INTO orders (customer_id, total) SELECT n, n * 10 FROM g",
)


@pytest.fixture(autouse=True)
def _namespaced_copies(settings):
    settings.QUERYBASE_SANDBOX_NAME_PREFIX = PREFIX
    settings.QUERYBASE_SANDBOX_ROLE_PREFIX = ROLE_PREFIX


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern for names starting with `prefix` (its underscores literal)."""
    return prefix.replace("_", "\\_") + "%"


@pytest.fixture(scope="session")
def postgresql_sandbox_server():
    url = databases.postgres_admin_url()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {SOURCE}")
    server = databases.Server("127.0.0.1", 5432, "postgres", "", SOURCE)
    with psycopg.connect(host=server.host, port=server.port, user=server.username, dbname=SOURCE) as connection:
        for statement in POSTGRES_SCHEMA:
            connection.execute(statement)
    yield server
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)")
        for (name,) in connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [_like_prefix(PREFIX)]
        ):
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for (name,) in connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [_like_prefix(ROLE_PREFIX)]
        ):
            connection.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def mysql_sandbox_server():
    connection = databases.mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE}")
    cursor.execute(f"CREATE DATABASE {SOURCE}")
    cursor.execute(f"USE {SOURCE}")
    for statement in MYSQL_SCHEMA:
        cursor.execute(statement)
    connection.commit()
    connection.close()
    yield databases.Server("127.0.0.1", 3306, "root", "", SOURCE)
    connection = databases.mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE}")
    cursor.execute(
        "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s", [_like_prefix(PREFIX)]
    )
    for (name,) in cursor.fetchall():
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    cursor.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", [_like_prefix(ROLE_PREFIX)])
    for name, host in cursor.fetchall():
        cursor.execute("DROP USER IF EXISTS %s@%s", [name, host])
    connection.close()


@pytest.fixture(scope="session")
def sqlite_sandbox_path():
    import sqlite3

    path = settings.QUERYBASE_SQLITE_ROOTS[0] / f"{SOURCE}.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    for statement in SQLITE_SCHEMA:
        connection.execute(statement)
    connection.commit()
    connection.close()
    yield path
    path.unlink(missing_ok=True)
    for leftover in sandbox_directory().glob(PREFIX + "*"):
        leftover.unlink(missing_ok=True)


def sandbox_source(engine: str, request, **fields):
    """A source with sandboxes on, on the named engine's sandbox test server."""
    fields = {"sandbox_enabled": True, "sandbox_max_rows_per_table": 10, "sandbox_pool_size": 0, **fields}
    if engine == "sqlite":
        path = request.getfixturevalue("sqlite_sandbox_path")
        return make_datasource(f"sandboxed {engine}", engine="sqlite", database=str(path), **fields)
    server = request.getfixturevalue(f"{engine}_sandbox_server")
    return source_from_server(f"sandboxed {engine}", engine, server, **fields)


@pytest.fixture
def drop_copies_after():
    """Every copy and sandbox role the test made is dropped at its end, whatever the test did."""
    yield
    for sandbox in Sandbox.objects.select_related("datasource"):
        copies_for(sandbox.datasource).drop(sandbox.database_name)
    for golden in GoldenCopy.objects.select_related("datasource"):
        copies_for(golden.datasource).drop(golden.database_name)
    for role in SandboxRole.objects.filter(dropped_at=None).select_related("datasource"):
        copies_for(role.datasource).drop_login(role.name)


def source_checksum(datasource) -> str:
    """A digest of every row of the source's tables and of its list of objects."""
    if datasource.engine == "sqlite":
        return hashlib.sha256(open(datasource.database, "rb").read()).hexdigest()
    if datasource.engine == "postgresql":
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=datasource.database) as connection:
            rows = connection.execute(
                "SELECT (SELECT string_agg(c::text, ';' ORDER BY c.id) FROM customers c), "
                "(SELECT string_agg(o::text, ';' ORDER BY o.id) FROM orders o), "
                "(SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
                " WHERE relnamespace = 'public'::regnamespace), "
                "(SELECT last_value FROM customers_id_seq)"
            ).fetchone()
        return hashlib.sha256(repr(rows).encode()).hexdigest()
    connection = databases.mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"CHECKSUM TABLE {datasource.database}.customers, {datasource.database}.orders EXTENDED")
    checksums = cursor.fetchall()
    cursor.execute(
        "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME), MAX(AUTO_INCREMENT) FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s",
        [datasource.database],
    )
    objects = cursor.fetchall()
    connection.close()
    return hashlib.sha256(repr((checksums, objects)).encode()).hexdigest()
