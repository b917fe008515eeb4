"""Security invariant: a sandbox is private and writes only to its copy. Its owner's
writes change the copy and never the source; nobody else runs SQL in it; access control
never runs there; nothing in it reaches beyond the copy (other databases or schemas of
the server, files, other connections) — refused first by the lexical guard, and, past
it, by the database: the SQL runs as a restricted role that can reach the copy only."""

import pytest

from apps.sandboxes.engines import copies_for
from apps.sandboxes.lifecycle import sandbox_for
from apps.sandboxes.models import GoldenCopy, SandboxRole
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
        # As to a random id: the answer does not even confirm the sandbox exists.
        assert answer.status_code == 404, answer.content
        assert answer.json()["error"]["code"] == "sandbox_not_found"
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


# The wall above is lexical (apps/sandboxes/guard.py). Behind it the database itself is
# the wall: a sandbox's SQL runs as the copy's own restricted login, which can reach the
# copy and nothing else. These run with the lexical wall switched off, so only the
# database decides; its refusal is what the user sees.
PAST_THE_GUARD = {
    "postgresql": [
        "ALTER DATABASE {source} RENAME TO stolen",
        "CREATE EXTENSION dblink",
        "COPY customers TO PROGRAM 'cat > /tmp/qb-sandbox-out'",
        "SELECT pg_read_file('/etc/passwd')",
        "SET ROLE postgres",
        "ALTER TABLE customers OWNER TO postgres",
    ],
    "mysql": [
        "UPDATE {source}.customers SET name = 'x'",
        "SELECT * FROM {source}.customers",
        "DROP DATABASE {source}",
        "CREATE VIEW v AS SELECT * FROM {source}.customers",
        "INSERT INTO {golden}.customers (name) VALUES ('x')",
        "SELECT * FROM customers INTO OUTFILE '/tmp/qb-sandbox-out'",
    ],
    "sqlite": [
        "ATTACH DATABASE '{path}' AS source",
        "PRAGMA writable_schema = ON",
    ],
}
REFUSALS = ("permission denied", "must be owner", "must be member", "must be superuser", "denied", "not authorized")


@pytest.mark.parametrize(
    ("engine", "sql"), [(engine, sql) for engine, statements in PAST_THE_GUARD.items() for sql in statements]
)
def test_the_database_refuses_what_the_guard_would_have(engine, sql, request, monkeypatch):
    monkeypatch.setattr("apps.sandboxes.execution.outside_reach", lambda *args, **kwargs: None)
    source = sandbox_source(engine, request, sandbox_write_kinds=["dml", "ddl", "other"])
    client = client_for(reader("ada", source))
    before = source_checksum(source)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    golden = GoldenCopy.objects.get(datasource=source, is_current=True).database_name

    answer = run(client, source, sandbox_id, sql.format(source=source.database, path=source.database, golden=golden))

    assert 400 <= answer.status_code < 500, answer.content
    message = answer.json()["error"]["message"].lower()
    assert any(refusal in message for refusal in REFUSALS), message
    assert source_checksum(source) == before
    assert run(client, source, sandbox_id, "SELECT count(*) FROM customers").json()["result"]["rows"] == [[10]]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_sandbox_sql_runs_as_the_restricted_role_not_the_copy_maker(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    role = SandboxRole.objects.get(datasource=source, dropped_at=None)

    who = "SELECT current_user" if engine == "postgresql" else "SELECT CURRENT_USER()"
    answer = run(client, source, sandbox_id, who)

    assert answer.status_code == 200, answer.content
    assert answer.json()["result"]["rows"][0][0].split("@")[0] == role.name
    assert role.name != source.username
