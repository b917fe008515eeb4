"""The sandbox API as a user meets it: get my sandbox, run reads and writes in it at
once, see it listed, reset it, delete it."""

import psycopg
import pytest

from apps.audit.models import AuditEvent
from apps.queries.models import QueryRun
from apps.sandboxes.engines import copies_for
from apps.sandboxes.models import Sandbox, SandboxState
from tests.support import databases
from tests.support.factories import client_for, make_datasource, make_user, reader
from tests.support.sandboxes import sandbox_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def run(client, source, sandbox_id, sql, **extra):
    return client.post(
        "/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql, **extra}, format="json"
    )


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_an_analyst_writes_in_their_sandbox_at_once_and_reads_the_effect(engine, request):
    source = sandbox_source(engine, request)
    analyst = reader("ada", source)
    client = client_for(analyst)

    got = client.post(f"/api/v1/datasources/{source.pk}/sandbox")
    assert got.status_code == 201, got.content
    sandbox = got.json()
    assert sandbox["state"] == "active" and sandbox["owner"] == "ada"
    assert any("customers" in table for table in sandbox["sampled_tables"])
    assert client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"] == sandbox["id"]  # the same one

    wrote = run(
        client, source, sandbox["id"], "UPDATE customers SET name = 'renamed' WHERE id <= 3; DELETE FROM orders"
    )
    assert wrote.status_code == 200, wrote.content
    body = wrote.json()
    assert body["sandbox"] == sandbox["id"] and body["verdict"] == "write"
    assert body["result"]["affected_rows"][0] == 3
    assert [row[1] for row in body["result"]["rows"]] == ["dml", "dml"]
    kept = client.get(f"/api/v1/queries/{body['id']}").json()["result"]
    assert kept["affected_rows"] == body["result"]["affected_rows"] and kept["rows"] == body["result"]["rows"]

    read = run(client, source, sandbox["id"], "SELECT count(*) FROM customers WHERE name = 'renamed'")
    assert read.status_code == 200, read.content
    assert read.json()["result"]["rows"] == [[3]]

    created = run(client, source, sandbox["id"], "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    assert created.status_code == 200, created.content

    history = client.get("/api/v1/queries/history").json()["results"]
    assert len(history) == 3 and all(entry["sandbox"] == sandbox["id"] for entry in history)
    # In order, from the copy's making on: what a promotion to an approval request would replay.
    runs = QueryRun.objects.filter(sandbox_id=sandbox["id"]).order_by("created_at")
    assert [entry.classification["verdict"] for entry in runs] == ["write", "read", "write"]
    assert AuditEvent.objects.filter(action="sandbox.query", actor=analyst).count() == 3


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_reads_of_several_statements_in_a_sandbox_answer_each_statements_result(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    answer = run(client, source, sandbox_id, "SELECT id FROM customers ORDER BY id LIMIT 2; SELECT 'x;y' AS b")

    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    assert result["rows"] == [["x;y"]] and result["statement"] == 2  # the last one's rows are the result's
    first, last = result["statements"]
    assert (first["statement"], first["sql"], first["rows"], first["row_count"]) == (
        1,
        "SELECT id FROM customers ORDER BY id LIMIT 2",
        [[1], [2]],
        2,
    )
    assert [column["name"] for column in first["columns"]] == ["id"]
    assert (last["statement"], last["sql"], last["rows_in_result"]) == (2, "SELECT 'x;y' AS b", True)
    kept = client.get(f"/api/v1/queries/{answer.json()['id']}").json()["result"]
    assert kept["statements"] == result["statements"]  # in the history as it was answered


def test_sandbox_list_shows_mine_and_admins_see_all_with_size_and_last_use(request, admin_client):
    source = sandbox_source("sqlite", request)
    ada, ben = reader("ada", source), reader("ben", source)
    client_for(ada).post(f"/api/v1/datasources/{source.pk}/sandbox")
    client_for(ben).post(f"/api/v1/datasources/{source.pk}/sandbox")

    mine = client_for(ada).get("/api/v1/sandboxes").json()["results"]
    assert [entry["owner"] for entry in mine] == ["ada"]
    every = admin_client.get("/api/v1/sandboxes").json()["results"]
    assert sorted(entry["owner"] for entry in every) == ["ada", "ben"]
    assert all(entry["size_bytes"] > 0 and entry["last_used_at"] for entry in every)


def test_a_sandbox_says_which_writes_its_source_lets_run_in_it(request):
    source = sandbox_source("sqlite", request, sandbox_write_kinds=["dml"])
    client = client_for(reader("ada", source))

    sandbox = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()

    assert sandbox["write_kinds"] == ["dml"]
    assert client.get(f"/api/v1/sandboxes/{sandbox['id']}").json()["write_kinds"] == ["dml"]


def test_reset_and_delete_through_the_api(request):
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert run(client, source, sandbox_id, "DELETE FROM orders").status_code == 200

    reset = client.post(f"/api/v1/sandboxes/{sandbox_id}/reset")
    assert reset.status_code == 200, reset.content
    assert run(client, source, sandbox_id, "SELECT count(*) FROM orders").json()["result"]["rows"][0][0] > 0

    name = Sandbox.objects.get(pk=sandbox_id).database_name
    # Runs leave no session behind in the copy (no pool per sandbox).
    with psycopg.connect(databases.postgres_admin_url()) as admin:
        assert admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name]).fetchone() == (0,)
    assert client.delete(f"/api/v1/sandboxes/{sandbox_id}").status_code == 204
    assert Sandbox.objects.get(pk=sandbox_id).state == SandboxState.DELETED
    assert not copies_for(source).exists(name)
    gone = run(client, source, sandbox_id, "SELECT 1")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "sandbox_not_found"


def test_sandboxes_need_read_rights_and_sandboxes_on():
    off = make_datasource("no sandboxes")
    outsider = make_user("outsider")
    assert client_for(outsider).post(f"/api/v1/datasources/{off.pk}/sandbox").status_code == 404
    refused = client_for(reader("ada", off)).post(f"/api/v1/datasources/{off.pk}/sandbox")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sandboxes_disabled"


def test_sandbox_requests_and_resets_are_rate_limited(request, settings):
    settings.QUERYBASE_SANDBOX_COPY_RATE = "2/hour"
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert client.post(f"/api/v1/sandboxes/{sandbox_id}/reset").status_code == 200
    limited = client.post(f"/api/v1/sandboxes/{sandbox_id}/reset")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"


def test_a_read_in_a_sandbox_with_a_row_over_the_row_limit_fails_cleanly(request, settings):
    """Kept like a read on the source: a row over QUERYBASE_MAX_ROW_BYTES fails the run
    (row_too_large), which does not stay running."""
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()
    settings.QUERYBASE_MAX_ROW_BYTES = 1000
    response = run(client, source, sandbox["id"], "SELECT 1 AS n, printf('%.5000c', 'y') AS v")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "row_too_large"
    assert QueryRun.objects.get(pk=error["details"]["run"]).status == "failed"


def test_a_sandbox_result_is_never_exported_from_the_source(request):
    """Found by an outside attack: exports read the source whatever the run, so the
    workspace's Export of a result in a sandbox (it sends the run's body, `sandbox`
    included) downloaded the real source's rows, not the sandbox's on screen; a run in a
    sandbox exported by id did the same. Both now export the sandbox's rows."""
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert run(client, source, sandbox_id, "UPDATE customers SET name = 'only in the sandbox'").status_code == 200
    shown = run(client, source, sandbox_id, "SELECT name FROM customers ORDER BY id")
    assert shown.json()["result"]["rows"][0] == ["only in the sandbox"]

    by_id = client.get(f"/api/v1/queries/{shown.json()['id']}/export?format=csv")
    assert by_id.status_code == 200
    assert b"".join(by_id.streaming_content).splitlines()[1] == b"only in the sandbox"
    sent_again = client.post(
        "/api/v1/queries/export",
        {"datasource": source.pk, "sandbox": sandbox_id, "sql": "SELECT name FROM customers ORDER BY id"},
        format="json",
    )
    assert sent_again.status_code == 200
    assert b"".join(sent_again.streaming_content).splitlines()[1] == b"only in the sandbox"
    # Without a sandbox the export is the source's, as it always was.
    from_source = client.post(
        "/api/v1/queries/export",
        {"datasource": source.pk, "sandbox": None, "sql": "SELECT name FROM customers ORDER BY id"},
        format="json",
    )
    assert from_source.status_code == 200
    assert b"only in the sandbox" not in b"".join(from_source.streaming_content)
