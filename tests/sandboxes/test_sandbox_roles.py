"""The restricted login a sandbox's SQL runs as, on real PostgreSQL and MariaDB.

Asked directly, with no lexical guard in the way, it cannot reach the source, the golden
copy, other databases, roles or the server; it owns the copy and changes anything in it;
and a copy-maker that may not create it makes nothing at all. That each copy has its own,
made and dropped with it, is tests/security/test_sandboxes_are_kept_apart_by_the_database.py."""

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import MySQLdb
import psycopg
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from apps.datasources.connectors.base import ConnectorError
from apps.datasources.crypto import current_key, generate_key
from apps.datasources.models import DataSource
from apps.sandboxes.connectors import copy_connector
from apps.sandboxes.engines import copies_for
from apps.sandboxes.lifecycle import sandbox_for
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole
from apps.sqlcore.statements import BoundStatement
from tests.support import databases
from tests.support.factories import client_for, reader
from tests.support.sandboxes import PREFIX, ROLE_PREFIX, sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


@contextmanager
def postgres_as_role(sandbox: Sandbox, database: str | None = None) -> Iterator[psycopg.Connection]:
    """A plain connection with the role's own credentials, as QueryBase gives them to a run."""
    settings = copies_for(sandbox.datasource).connection_settings(sandbox.database_name, statement_timeout_ms=10_000)
    with psycopg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password,
        dbname=database or settings.database,
        autocommit=True,
    ) as connection:
        yield connection


def mysql_as_role(sandbox: Sandbox):
    settings = copies_for(sandbox.datasource).connection_settings(sandbox.database_name, statement_timeout_ms=10_000)
    return databases.mysql_connection(settings)


POSTGRES_REFUSED = [
    "DROP DATABASE {source}",
    "ALTER DATABASE {source} RENAME TO stolen",
    "DROP DATABASE {golden}",
    "CREATE DATABASE qb_sandbox_intruder",
    "CREATE ROLE qb_sandbox_intruder LOGIN",
    "ALTER ROLE postgres PASSWORD 'stolen'",
    "GRANT pg_read_server_files TO CURRENT_USER",
    "SET ROLE postgres",
    "CREATE EXTENSION dblink",
    "COPY customers TO PROGRAM 'cat > /tmp/qb-sandbox-out'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM pg_authid",
]


@pytest.mark.parametrize("sql", POSTGRES_REFUSED)
def test_the_postgresql_role_cannot_reach_beyond_its_copy(sql, request):
    source = sandbox_source("postgresql", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    golden = GoldenCopy.objects.get(datasource=source, is_current=True).database_name
    before = source_checksum(source)

    with postgres_as_role(sandbox) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute(sql.format(source=source.database, golden=golden))

    assert source_checksum(source) == before


def test_the_postgresql_role_cannot_enter_the_golden_copy_nor_read_the_source(request):
    source = sandbox_source("postgresql", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    golden = GoldenCopy.objects.get(datasource=source, is_current=True).database_name

    with (
        pytest.raises(psycopg.OperationalError, match="permission denied for database"),
        postgres_as_role(sandbox, database=golden),
    ):
        pass
    # The source's database lets PUBLIC connect (as most do): the role still reads nothing there.
    with postgres_as_role(sandbox, database=source.database) as connection:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("SELECT * FROM customers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("DROP TABLE orders")
    with postgres_as_role(sandbox) as connection:
        rights = connection.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
    assert rights == (False, False, False, False, False)


MYSQL_REFUSED = [
    "SELECT * FROM {source}.customers",
    "UPDATE {source}.customers SET name = 'x'",
    "DROP DATABASE {source}",
    "DROP TABLE {source}.orders",
    "SELECT * FROM {golden}.customers",
    "CREATE DATABASE qb_sandbox_intruder",
    "CREATE USER qb_sandbox_intruder",
    "GRANT SELECT ON customers TO root@localhost",
    "SELECT * FROM mysql.user",
    "SELECT 1 INTO OUTFILE '/tmp/qb-sandbox-out'",
]


@pytest.mark.parametrize("sql", MYSQL_REFUSED)
def test_the_mysql_user_cannot_reach_beyond_its_schema(sql, request):
    source = sandbox_source("mysql", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    golden = GoldenCopy.objects.get(datasource=source, is_current=True).database_name
    before = source_checksum(source)
    connection = mysql_as_role(sandbox)
    try:
        with pytest.raises(MySQLdb.MySQLError, match="denied"):
            connection.cursor().execute(sql.format(source=source.database, golden=golden))
    finally:
        connection.close()
    assert source_checksum(source) == before


def test_the_mysql_user_sees_no_schema_but_its_sandboxes(request):
    source = sandbox_source("mysql", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    connection = mysql_as_role(sandbox)
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW DATABASES")
        seen = {row[0] for row in cursor.fetchall()}
        cursor.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cursor.fetchall())
    finally:
        connection.close()
    assert seen == {"information_schema", sandbox.database_name}
    assert "GRANT USAGE ON *.*" in grants and "WITH GRANT OPTION" not in grants


def test_the_mysql_copys_views_and_routines_are_defined_by_the_restricted_user(request):
    """Not by the copy-maker: a view of its would run, with its rights, any function the
    user replaces (SQL SECURITY INVOKER runs as the view's definer)."""
    source = sandbox_source("mysql", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    role = SandboxRole.objects.get(datasource=source, dropped_at=None)
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute(
            "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s UNION ALL "
            "SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
            [sandbox.database_name, sandbox.database_name],
        )
        definers = [row[0] for row in cursor.fetchall()]
    finally:
        root.close()
    assert definers == [f"{role.name}@%", f"{role.name}@%"]  # big_orders and doubled()


def test_sqlite_sandbox_sql_cannot_attach_another_file(request, tmp_path):
    source = sandbox_source("sqlite", request)
    sandbox, _ = sandbox_for(reader("ada", source), source.pk)
    connector = copy_connector(copies_for(source), sandbox.database_name, statement_timeout_ms=10_000)
    before = source_checksum(source)

    with pytest.raises(ConnectorError, match="not authorized"):
        connector.run_write([BoundStatement(f"ATTACH DATABASE '{source.database}' AS source")], 10_000)
    # Outside a transaction, as VACUUM must run: the authorizer refuses it as the ATTACH it is.
    with (
        connector.connect() as connection,
        pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"),
    ):
        connection.execute(f"VACUUM INTO '{tmp_path / 'out.sqlite3'}'")
    assert not (tmp_path / "out.sqlite3").exists()
    assert source_checksum(source) == before


OWNER_CAN = {
    "postgresql": [
        "CREATE TABLE notes (id serial PRIMARY KEY, body text)",
        "INSERT INTO notes (body) VALUES ('first'), ('second')",
        "CREATE INDEX notes_by_body ON notes (body)",
        "ALTER TABLE customers ADD COLUMN vip boolean",
        "INSERT INTO customers (name) VALUES ('new')",
        "CREATE FUNCTION tripled(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS 'SELECT x * 3'",
        "ALTER TYPE mood ADD VALUE 'sleepy'",
        "CREATE SCHEMA scratch",
        "CREATE TABLE scratch.t (a int)",
        "DROP VIEW big_orders",
        "DROP TABLE orders",
    ],
    "mysql": [
        "CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100))",
        "INSERT INTO notes (body) VALUES ('first'), ('second')",
        "CREATE INDEX notes_by_body ON notes (body)",
        "ALTER TABLE customers ADD COLUMN vip BOOLEAN",
        "INSERT INTO customers (name) VALUES ('new')",
        "CREATE FUNCTION tripled(x INT) RETURNS INT DETERMINISTIC RETURN x * 3",
        "DROP VIEW big_orders",
        "DROP TABLE orders",
    ],
}


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_the_owner_does_everything_in_the_copy(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    before = source_checksum(source)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    for sql in OWNER_CAN[engine]:
        answer = run(client, source, sandbox_id, sql)
        assert answer.status_code == 200, (sql, answer.content)
    # The copied sequence position is the source's: the new customer comes after its 30
    # (InnoDB may skip a value after the copy's INSERT … SELECT).
    newest = run(client, source, sandbox_id, "SELECT max(id) FROM customers").json()["result"]["rows"][0][0]
    assert newest == 31 if engine == "postgresql" else 31 <= newest <= 32
    assert run(client, source, sandbox_id, "SELECT count(*) FROM notes").json()["result"]["rows"] == [[2]]
    assert source_checksum(source) == before

    assert client.post(f"/api/v1/sandboxes/{sandbox_id}/reset").status_code == 200
    fresh = run(client, source, sandbox_id, "SELECT count(*) FROM orders")
    assert fresh.status_code == 200 and fresh.json()["result"]["rows"] == [[10]]
    assert client.delete(f"/api/v1/sandboxes/{sandbox_id}").status_code == 204


@pytest.fixture
def postgres_copy_maker(drop_copies_after):
    """A sandbox server login of the kind the README asks for, with or without CREATEROLE.
    Torn down before drop_copies_after: what it made is dropped with its own login first."""
    made = []

    def make(*rights: str) -> tuple[str, str]:
        name, password = f"{ROLE_PREFIX}maker_{secrets.token_hex(3)}", secrets.token_hex(12)
        with psycopg.connect(databases.postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' {' '.join(rights)}")
        made.append(name)
        return name, password

    yield make
    for source in DataSource.objects.filter(sandbox_username__in=made):
        copies = copies_for(source)
        for copy in [*Sandbox.objects.filter(datasource=source), *GoldenCopy.objects.filter(datasource=source)]:
            copies.drop(copy.database_name)
        for role in SandboxRole.objects.filter(datasource=source, dropped_at=None):
            copies.drop_login(role.name)
        SandboxRole.objects.filter(datasource=source).update(dropped_at=timezone.now())
        # Back to the source's own server, where drop_copies_after finds nothing left to drop.
        DataSource.objects.filter(pk=source.pk).update(sandbox_host="", sandbox_username="")
    with psycopg.connect(databases.postgres_admin_url(), autocommit=True) as admin:
        for name in made:
            admin.execute(f"DROP OWNED BY {name} CASCADE")
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def copies_named_for(source) -> list[str]:
    with psycopg.connect(databases.postgres_admin_url()) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [f"{PREFIX}{source.pk}\\_%"]
        ).fetchall()
    return [row[0] for row in rows]


def test_a_copy_maker_without_createrole_makes_no_sandbox_and_says_why(request, postgres_copy_maker):
    name, password = postgres_copy_maker("CREATEDB")
    source = sandbox_source("postgresql", request, sandbox_host="127.0.0.1", sandbox_port=5432, sandbox_username=name)
    source.set_sandbox_password(password)
    source.save()
    client = client_for(reader("ada", source))

    answer = client.post(f"/api/v1/datasources/{source.pk}/sandbox")

    assert answer.status_code == 409, answer.content
    error = answer.json()["error"]
    assert error["code"] == "sandbox_rights_missing"
    assert "CREATEROLE" in error["message"] and password not in error["message"]
    assert copies_named_for(source) == []
    assert not Sandbox.objects.filter(datasource=source).exists()
    assert not GoldenCopy.objects.filter(datasource=source).exists()
    assert not SandboxRole.objects.filter(datasource=source).exists()


def test_a_copy_maker_with_createrole_but_no_superuser_runs_sandboxes(request, postgres_copy_maker):
    name, password = postgres_copy_maker("CREATEDB", "CREATEROLE")
    source = sandbox_source("postgresql", request, sandbox_host="127.0.0.1", sandbox_port=5432, sandbox_username=name)
    source.set_sandbox_password(password)
    source.save()
    client = client_for(reader("ada", source))
    before = source_checksum(source)

    made = client.post(f"/api/v1/datasources/{source.pk}/sandbox")
    assert made.status_code == 201, made.content
    sandbox_id = made.json()["id"]
    for sql in ("UPDATE customers SET name = 'changed'", "CREATE INDEX customers_by_name ON customers (name)"):
        assert run(client, source, sandbox_id, sql).status_code == 200
    assert client.delete(f"/api/v1/sandboxes/{sandbox_id}").status_code == 204
    assert source_checksum(source) == before


def test_a_mysql_copy_maker_without_create_user_makes_no_sandbox_and_says_why(request):
    name = f"{ROLE_PREFIX}maker_{secrets.token_hex(3)}"
    root = databases.mysql_root()
    cursor = root.cursor()
    cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'maker-password'", [name])
    cursor.execute(f"GRANT ALL PRIVILEGES ON `{PREFIX.replace('_', chr(92) + '_')}%%`.* TO %s@'%%'", [name])
    try:
        source = sandbox_source("mysql", request, sandbox_host="127.0.0.1", sandbox_port=3306, sandbox_username=name)
        source.set_sandbox_password("maker-password")
        source.save()
        answer = client_for(reader("ada", source)).post(f"/api/v1/datasources/{source.pk}/sandbox")

        assert answer.status_code == 409, answer.content
        assert answer.json()["error"]["code"] == "sandbox_rights_missing"
        assert "CREATE USER" in answer.json()["error"]["message"]
        cursor.execute(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s", [f"%\\_{source.pk}\\_%"]
        )
        assert [row for row in cursor.fetchall() if row[0].startswith(PREFIX)] == []
        assert not Sandbox.objects.filter(datasource=source).exists()
        assert not SandboxRole.objects.filter(datasource=source).exists()
    finally:
        cursor.execute("DROP USER IF EXISTS %s@'%%'", [name])
        root.close()


def test_the_roles_password_is_encrypted_at_rest_and_rotates_with_the_key(request, settings, capsys):
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    role = SandboxRole.objects.get(datasource=source, dropped_at=None)
    password = role.get_password()
    assert password not in role.password_encrypted
    shown = client.get(f"/api/v1/sandboxes/{sandbox_id}").content.decode()
    assert password not in shown and role.password_encrypted not in shown

    settings.QUERYBASE_PREVIOUS_ENCRYPTION_KEYS = [settings.QUERYBASE_ENCRYPTION_KEY]
    settings.QUERYBASE_ENCRYPTION_KEY = generate_key()
    call_command("rotate_encryption_key")
    settings.QUERYBASE_PREVIOUS_ENCRYPTION_KEYS = []

    assert "Re-encrypted 1 secret(s)" in capsys.readouterr().out  # the role's (the test source has no password)
    role.refresh_from_db()
    assert role.password_encrypted.split(":")[1] == current_key().key_id
    assert run(client, source, sandbox_id, "SELECT count(*) FROM customers").json()["result"]["rows"] == [[10]]


def test_an_uploaded_table_and_an_index_are_made_by_the_role(request):
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    role = SandboxRole.objects.get(datasource=source, dropped_at=None)
    csv_file = SimpleUploadedFile("prices.csv", b"id,price\n1,12.5\n2,7\n")

    uploaded = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/uploads", {"file": csv_file, "table": "prices"}, format="multipart"
    )
    indexed = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/indexes", {"table": "prices", "columns": ["price"]}, format="json"
    )

    assert uploaded.status_code == 201, uploaded.content
    assert indexed.status_code == 200, indexed.content
    owners = run(
        client,
        source,
        sandbox_id,
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
        "WHERE c.relname IN ('prices', 'prices_price_idx') ORDER BY 1",
    ).json()["result"]["rows"]
    assert owners == [["prices", role.name], ["prices_price_idx", role.name]]
