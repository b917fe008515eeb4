"""Write requests from submission to execution, through the API, with the real worker."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.approvals.models import ApprovalRequest
from apps.approvals.tasks import expire_approval_requests
from apps.audit.models import AuditEvent
from apps.notifications.models import Notification
from tests.support.approvals import ledger
from tests.support.factories import client_for
from tests.support.worker import wait_until_worker_idle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def wait_for_status(request_id: int, statuses: set[str], timeout: float = 20) -> ApprovalRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        approval = ApprovalRequest.objects.get(pk=request_id)
        if approval.status in statuses:
            return approval
        time.sleep(0.1)
    raise AssertionError(f"request {request_id} stayed {approval.status}")


def test_request_approve_and_execute(team, postgres_server):
    approval = team.request_write("UPDATE ledger SET amount = amount + 1 WHERE id <= 3", reason="refund")
    assert approval["status"] == "pending"
    assert approval["risk"] == "low" or approval["risk"] == "medium"
    assert approval["required_approvals"] == 1
    request_id = approval["id"]

    inbox = client_for(team.approver).get("/api/v1/approvals?awaiting_my_review=true").json()["results"]
    assert [row["id"] for row in inbox] == [request_id]
    assert client_for(team.analyst).get("/api/v1/approvals?awaiting_my_review=true").json()["results"] == []
    note = Notification.objects.get(recipient=team.approver, event="approval.created")
    assert note.link == f"/approvals/{request_id}"

    response = team.review(request_id, "approve", comment="ok")
    assert response.status_code == 200, response.content
    executed = wait_for_status(request_id, {"succeeded", "failed"})
    assert executed.status == "succeeded", executed.error_message
    assert ledger(postgres_server) == (5, 53)

    detail = client_for(team.analyst).get(f"/api/v1/approvals/{request_id}").json()
    assert detail["reviews"] == [
        {
            "reviewer": team.approver.username,
            "decision": "approve",
            "comment": "ok",
            "created_at": detail["reviews"][0]["created_at"],
        }
    ]
    assert detail["execution"]["statements"][0]["affected_rows"] == 3
    assert detail["execution"]["error"] is None
    events = set(Notification.objects.filter(recipient=team.analyst).values_list("event", flat=True))
    assert {"approval.approved", "approval.succeeded"} <= events
    actions = list(
        AuditEvent.objects.filter(object_type="approvals.approvalrequest", object_id=str(request_id))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "approval.create",
        "approval.review",
        "approval.approved",
        "approval.execute",
        "approval.succeeded",
    ]


def test_reject_ends_the_request_and_nothing_runs(team, postgres_server):
    request_id = team.request_write("DELETE FROM ledger WHERE id = 1")["id"]
    assert team.review(request_id, "reject", comment="no").json()["status"] == "rejected"
    assert team.review(request_id, "approve", user=team.second_approver).status_code == 409
    wait_until_worker_idle()  # anything the reject might (wrongly) have queued has run
    assert ledger(postgres_server) == (5, 50)
    note = Notification.objects.get(recipient=team.analyst, event="approval.rejected")
    assert "no" in note.body


def test_two_approvals_required(team, postgres_server):
    team.source.approvals_required = 2
    team.source.save()
    request_id = team.request_write("INSERT INTO ledger VALUES (6, 1)")["id"]
    assert team.review(request_id, "approve").json()["status"] == "pending"
    assert team.review(request_id, "approve").status_code == 409  # not twice by the same person
    assert team.review(request_id, "approve", user=team.second_approver).json()["status"] in {
        "approved",
        "executing",
        "succeeded",
    }
    assert wait_for_status(request_id, {"succeeded", "failed"}).status == "succeeded"
    assert ledger(postgres_server) == (6, 51)


def test_who_may_review(team):
    request_id = team.request_write("DELETE FROM ledger WHERE id = 2")["id"]
    assert team.review(request_id, "approve", user=team.analyst).status_code == 403
    assert team.review(request_id, "approve", user=team.outsider).status_code == 404
    bad = team.review(request_id, "maybe")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"


def test_requester_cancels_while_pending(team):
    request_id = team.request_write("DELETE FROM ledger WHERE id = 3")["id"]
    assert client_for(team.approver).post(f"/api/v1/approvals/{request_id}/cancel").status_code == 403
    cancelled = client_for(team.analyst).post(f"/api/v1/approvals/{request_id}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert client_for(team.analyst).post(f"/api/v1/approvals/{request_id}/cancel").status_code == 409
    assert team.review(request_id, "approve").status_code == 409


def test_pending_requests_expire(team):
    request_id = team.request_write("DELETE FROM ledger WHERE id = 4")["id"]
    ApprovalRequest.objects.filter(pk=request_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_approval_requests.delay().get(timeout=20) == 1  # on the maintenance queue
    assert ApprovalRequest.objects.get(pk=request_id).status == "expired"
    assert team.review(request_id, "approve").status_code == 409
    assert Notification.objects.filter(recipient=team.analyst, event="approval.expired").exists()


def test_submission_rules(team):
    reader_only = client_for(team.approver)
    refused = reader_only.post(
        "/api/v1/queries", {"datasource": team.source.pk, "sql": "DELETE FROM ledger"}, format="json"
    )
    assert refused.status_code == 403
    team.source.allowed_write_kinds = ["dml"]
    team.source.save()
    response = client_for(team.analyst).post(
        "/api/v1/queries", {"datasource": team.source.pk, "sql": "DROP TABLE ledger"}, format="json"
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "write_kind_forbidden"
    assert error["details"]["forbidden_kinds"] == ["ddl"]
    bad_params = client_for(team.analyst).post(
        "/api/v1/queries",
        {"datasource": team.source.pk, "sql": "DELETE FROM ledger WHERE id = $1", "params": []},
        format="json",
    )
    assert bad_params.status_code == 400


def test_list_filters_and_approvers(team):
    first = team.request_write("DELETE FROM ledger WHERE id = 1")["id"]
    second = team.request_write("DELETE FROM ledger WHERE id = 2")["id"]
    team.review(second, "reject")
    client = client_for(team.approver)
    assert [row["id"] for row in client.get("/api/v1/approvals?status=pending").json()["results"]] == [first]
    assert client.get(f"/api/v1/approvals?requester={team.analyst.username}").json()["count"] == 2
    assert client.get("/api/v1/approvals?status=bogus").status_code == 400
    assert client_for(team.outsider).get("/api/v1/approvals").json()["count"] == 0
    approvers = client_for(team.analyst).get(f"/api/v1/datasources/{team.source.pk}/approvers").json()["approvers"]
    assert {row["username"] for row in approvers} == {team.approver.username, team.second_approver.username}


def test_failed_execution_is_reported(team):
    request_id = team.request_write("INSERT INTO ledger VALUES (1, 1)")["id"]  # duplicate key
    team.review(request_id, "approve")
    failed = wait_for_status(request_id, {"succeeded", "failed"})
    assert failed.status == "failed"
    assert "duplicate key" in failed.error_message
    assert Notification.objects.filter(recipient=team.analyst, event="approval.failed").exists()
