"""Security invariant: a sandbox is private and writes only to its copy. Its owner's
writes change the copy and never the source; nobody else runs SQL in it; access control
never runs there; nothing in it reaches beyond the copy (other databases or schemas of
the server, files, other connections)."""

import pytest

from apps.sandboxes.engines import copies_for
from apps.sandboxes.lifecycle import sandbox_for
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

WRITES = {
    "postgresql": [
        "UPDATE customers SET name = 'changed'",
        "DELETE FROM orders WHERE id > 2",
        "INSERT INTO customers (name) VALUES ('new')",
        "ALTER TABLE customers ADD COLUMN vip boolean",
        "CREATE INDEX customers_by_name ON customers (name)",
        "DROP VIEW big_orders",
        "TRUNCATE orders",
    ],
    "mysql": [
        "UPDATE customers SET name = 'changed'",
        "DELETE FROM orders WHERE id > 2",
        "INSERT INTO customers (name) VALUES ('new')",
        "ALTER TABLE customers ADD COLUMN vip BOOLEAN",
        "DROP VIEW big_orders",
        "TRUNCATE orders",
    ],
    "sqlite": [
        "UPDATE customers SET name = 'changed'",
        "DELETE FROM orders WHERE id > 2",
        "INSERT INTO customers (name) VALUES ('new')",
        "ALTER TABLE customers ADD COLUMN vip INTEGER",
        "DROP VIEW big_orders",
    ],
}


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_writes_in_a_sandbox_change_the_copy_and_never_the_source(engine, request):
    source = sandbox_source(engine, request)
    user = reader("ada", source)
    client = client_for(user)
    before = source_checksum(source)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    for sql in WRITES[engine]:
        answer = run(client, source, sandbox_id, sql)
        assert answer.status_code == 200, (sql, answer.content)

    assert run(client, source, sandbox_id, "SELECT count(*) FROM customers WHERE name = 'changed'").json()["result"][
        "rows"
    ] == [[10]]
    assert source_checksum(source) == before


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_dcl_never_runs_in_a_sandbox(engine, request):
    source = sandbox_source(engine, request, sandbox_write_kinds=["dml", "ddl", "dcl", "other"])
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    grant = "GRANT SELECT ON customers TO PUBLIC" if engine == "postgresql" else "GRANT SELECT ON customers TO root"

    refused = run(client, source, sandbox_id, grant)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "sandbox_write_refused"


def test_write_kinds_the_source_does_not_allow_are_refused(request):
    source = sandbox_source("sqlite", request, sandbox_write_kinds=["dml"])
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert run(client, source, sandbox_id, "DELETE FROM orders").status_code == 200
    refused = run(client, source, sandbox_id, "DROP TABLE orders")
    assert refused.status_code == 403 and "DDL" in refused.json()["error"]["message"]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_another_user_cannot_use_my_sandbox(engine, request):
    source = sandbox_source(engine, request)
    ada, ben = reader("ada", source), reader("ben", source)
    mine, _ = sandbox_for(ada, source.pk)
    intruder = client_for(ben)

    for answer in (
        run(intruder, source, mine.pk, "SELECT count(*) FROM customers"),
        run(intruder, source, mine.pk, "DELETE FROM customers"),
        intruder.post(f"/api/v1/sandboxes/{mine.pk}/reset"),
        intruder.delete(f"/api/v1/sandboxes/{mine.pk}"),
    ):
        assert answer.status_code == 403, answer.content
        assert answer.json()["error"]["code"] == "not_sandbox_owner"
    assert intruder.get(f"/api/v1/sandboxes/{mine.pk}").status_code == 404
    assert copies_for(source).exists(mine.database_name)


def test_a_user_who_lost_read_rights_cannot_use_their_sandbox(request):
    source = sandbox_source("sqlite", request)
    ada = reader("ada", source)
    mine, _ = sandbox_for(ada, source.pk)
    ada.groups.clear()
    answer = run(client_for(ada), source, mine.pk, "SELECT 1")
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("engine", "sql"),
    [
        ("postgresql", "DROP DATABASE {source}"),
        ("postgresql", "ALTER DATABASE {source} RENAME TO stolen"),
        ("postgresql", "CREATE EXTENSION dblink"),
        ("postgresql", "COPY customers TO PROGRAM 'cat > /tmp/out'"),
        ("postgresql", "SELECT pg_read_file('/etc/passwd')"),
        ("postgresql", "CREATE ROLE intruder LOGIN"),
        ("postgresql", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE 'SELECT 1'; END$$"),
        ("mysql", "INSERT INTO {source}.customers (name) VALUES ('x')"),
        ("mysql", "UPDATE `{source}`.customers SET name = 'x'"),
        ("mysql", "DROP DATABASE {source}"),
        ("mysql", "CREATE VIEW v AS SELECT * FROM {source}.customers"),
        ("mysql", "USE {source}"),
        ("mysql", "SELECT * FROM customers INTO OUTFILE '/tmp/out'"),
        ("mysql", "SELECT * FROM mysql.user"),
        ("sqlite", "ATTACH DATABASE '{path}' AS source"),
        ("sqlite", "VACUUM INTO '/tmp/out.sqlite3'"),
    ],
)
def test_nothing_in_a_sandbox_reaches_beyond_the_copy(engine, sql, request):
    source = sandbox_source(engine, request, sandbox_write_kinds=["dml", "ddl", "other"])
    client = client_for(reader("ada", source))
    before = source_checksum(source)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    answer = run(client, source, sandbox_id, sql.format(source=source.database, path=source.database))

    assert answer.status_code in (403, 409), answer.content
    assert answer.json()["error"]["code"] in ("sandbox_write_refused", "credential_material")
    assert source_checksum(source) == before
