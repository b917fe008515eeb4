"""Promote: the writes tried in a sandbox become one approval request on the real source,
and the approver sees what they did in the sandbox. Dry-runs of pending requests run in a
fresh copy instead of the source where the source has sandboxes. The source never changes."""

import hashlib

import pytest

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from apps.sandboxes.engines import copies_for
from apps.sandboxes.models import Sandbox, SandboxState
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def run(client, source, sandbox_id, sql, **extra):
    response = client.post(
        "/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def team(source):
    analyst = reader("ada", source, write=True)
    approver = reader("bob", source, approve=True)
    return analyst, approver


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_writes_tried_in_a_sandbox_become_one_request_with_what_they_did_there(engine, request):
    source = sandbox_source(engine, request)
    analyst, approver = team(source)
    before = source_checksum(source)
    client = client_for(analyst)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    first = run(client, source, sandbox_id, "UPDATE customers SET name = 'renamed' WHERE id <= 3")
    # The write's own answer says what it changed, before it is ever promoted.
    assert first["result"]["changes"]["tables"][0]["updated"] == 3
    run(client, source, sandbox_id, "SELECT count(*) FROM customers")
    run(client, source, sandbox_id, "DELETE FROM orders WHERE id = 1; INSERT INTO customers (name) VALUES ('newcomer')")

    promoted = client.post(f"/api/v1/sandboxes/{sandbox_id}/promote", {"reason": "clean up"}, format="json")
    assert promoted.status_code == 201, promoted.content
    body = promoted.json()
    assert body["status"] == "pending" and body["reason"] == "clean up" and body["datasource"] == source.pk
    # The writes, in the order they ran; the read is left out.
    assert [statement["text"] for statement in body["classification"]["statements"]] == [
        "UPDATE customers SET name = 'renamed' WHERE id <= 3",
        "DELETE FROM orders WHERE id = 1",
        "INSERT INTO customers (name) VALUES ('newcomer')",
    ]
    assert body["sql_sha256"] == hashlib.sha256(body["sql"].encode()).hexdigest()
    assert body["write_kinds"] == ["dml"]

    # What the approver sees beside the SQL.
    seen = client_for(approver).get(f"/api/v1/approvals/{body['id']}").json()
    evidence = seen["sandbox_evidence"]
    assert evidence["sandbox"] == sandbox_id and "customers" in " ".join(evidence["sampled_tables"])
    update, delete_and_insert = evidence["runs"]
    assert [(s["kind"], s["affected_rows"]) for s in update["statements"]] == [("dml", 3)]
    (customers,) = update["tables"]
    assert customers["table"] == "customers" and customers["key"] == ["id"] and customers["updated"] == 3
    names = customers["columns_before"].index("name")
    sample = customers["sample"][0]
    assert sample["change"] == "updated"
    assert sample["before"][names] == "customer 1" and sample["after"][names] == "renamed"
    assert [s["affected_rows"] for s in delete_and_insert["statements"]] == [1, 1]
    changed = {table["table"]: table for table in delete_and_insert["tables"]}
    assert changed["orders"]["deleted"] == 1 and changed["orders"]["sample"][0]["before"][0] == 1
    assert changed["customers"]["inserted"] == 1
    assert changed["customers"]["sample"][0]["after"][names] == "newcomer"

    # Created by the approvals' own use case: approvers are told, the creation is audited.
    assert Notification.objects.filter(recipient=approver, event="approval.created").count() == 1
    event = AuditEvent.objects.get(action="approval.create")
    assert event.detail["from_sandbox"] == sandbox_id
    assert source_checksum(source) == before


def test_only_the_named_runs_are_requested(request):
    source = sandbox_source("postgresql", request)
    analyst, _ = team(source)
    client = client_for(analyst)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    run(client, source, sandbox_id, "DELETE FROM orders WHERE id = 2")
    second = run(client, source, sandbox_id, "UPDATE orders SET total = 0 WHERE id = 3")

    promoted = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/promote", {"runs": [second["id"]], "reason": "fix totals"}, format="json"
    )
    assert promoted.status_code == 201, promoted.content
    assert promoted.json()["sql"] == "UPDATE orders SET total = 0 WHERE id = 3;"

    foreign = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/promote", {"runs": ["00000000-0000-0000-0000-000000000000"]}, format="json"
    )
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "promotion_refused"


def test_what_a_promotion_refuses(request):
    source = sandbox_source("sqlite", request)
    analyst, approver = team(source)
    only_reads = reader("cy", source)
    client = client_for(analyst)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    empty = client.post(f"/api/v1/sandboxes/{sandbox_id}/promote", {}, format="json")
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "nothing_to_promote"

    run(client, source, sandbox_id, "UPDATE customers SET name = :name WHERE id = 1", params={"name": "x"})
    with_params = client.post(f"/api/v1/sandboxes/{sandbox_id}/promote", {}, format="json")
    assert with_params.status_code == 400 and with_params.json()["error"]["code"] == "promotion_refused"

    # Somebody else's sandbox, even for an approver.
    other = client_for(approver).post(f"/api/v1/sandboxes/{sandbox_id}/promote", {}, format="json")
    assert other.status_code == 404 and other.json()["error"]["code"] == "sandbox_not_found"

    # Reading a source is enough for a sandbox, not for requesting writes on it.
    reader_client = client_for(only_reads)
    own = reader_client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    run(reader_client, source, own, "DELETE FROM orders")
    refused = reader_client.post(f"/api/v1/sandboxes/{own}/promote", {}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert not ApprovalRequest.objects.exists()

    bad = client.post(f"/api/v1/sandboxes/{sandbox_id}/promote", {"runs": "all"}, format="json")
    assert bad.status_code == 400


def test_a_reset_starts_what_a_promotion_replays_over(request):
    source = sandbox_source("sqlite", request)
    analyst, _ = team(source)
    client = client_for(analyst)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    run(client, source, sandbox_id, "DELETE FROM orders")
    assert client.post(f"/api/v1/sandboxes/{sandbox_id}/reset").status_code == 200
    run(client, source, sandbox_id, "UPDATE orders SET total = 1 WHERE id = 1")
    promoted = client.post(f"/api/v1/sandboxes/{sandbox_id}/promote", {"reason": "fix a total"}, format="json")
    assert promoted.json()["sql"] == "UPDATE orders SET total = 1 WHERE id = 1;"


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_dry_runs_of_pending_requests_run_in_a_fresh_copy_not_on_the_source(engine, request):
    source = sandbox_source(engine, request)
    analyst, approver = team(source)
    before = source_checksum(source)
    # DDL: on the source MySQL commits it at once, so a rollback could not undo it there.
    sql = "UPDATE customers SET name = 'dry' WHERE id <= 2; ALTER TABLE orders ADD COLUMN note VARCHAR(20)"
    asked = client_for(analyst).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql, "reason": "try it"}, format="json"
    )
    assert asked.status_code == 202, asked.content
    request_id = asked.json()["approval"]["id"]

    tried = client_for(approver).post(f"/api/v1/approvals/{request_id}/dry-run")
    assert tried.status_code == 200, tried.content
    outcome = tried.json()["dry_run_result"]
    assert outcome["ok"] and outcome["where"] == "sandbox", outcome
    assert outcome["statements"][0]["affected_rows"] == 2
    changed = {table["table"]: table for table in outcome["changes"]["tables"]}
    assert changed["customers"]["updated"] == 2
    assert "note" in changed["orders"]["columns_after"] and "note" not in changed["orders"]["columns_before"]

    assert source_checksum(source) == before
    copies = Sandbox.objects.filter(for_dry_run=True)
    assert [copy.state for copy in copies] == [SandboxState.DELETED]
    assert not copies_for(source).exists(copies[0].database_name)


def test_without_sandboxes_a_dry_run_keeps_the_source_rules(request):
    source = sandbox_source("mysql", request, sandbox_enabled=False)
    analyst, approver = team(source)
    asked = client_for(analyst).post(
        "/api/v1/queries",
        {"datasource": source.pk, "sql": "ALTER TABLE orders ADD COLUMN note VARCHAR(20)", "reason": "r"},
        format="json",
    )
    request_id = asked.json()["approval"]["id"]
    refused = client_for(approver).post(f"/api/v1/approvals/{request_id}/dry-run")
    assert refused.status_code == 400 and refused.json()["error"]["code"] in {"dry_run_unsafe", "dry_run_not_allowed"}
    assert not Sandbox.objects.exists()
