"""A write request says why it is needed, and a rejection says why not: both are refused
with a stable code when missing, before anything is recorded."""

import pytest

from apps.approvals.models import ApprovalRequest, ApprovalReview
from apps.audit.models import AuditEvent
from tests.support.factories import client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.mark.parametrize("reason", [None, "", "   \n\t"])
def test_a_write_request_without_a_reason_is_refused(team, reason):
    body = {"datasource": team.source.pk, "sql": "UPDATE ledger SET amount = 0 WHERE id = 1"}
    if reason is not None:
        body["reason"] = reason
    response = client_for(team.analyst).post("/api/v1/queries", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "reason_required"
    assert "reason" in error["details"]
    assert ApprovalRequest.objects.count() == 0
    assert not AuditEvent.objects.filter(action="approval.create").exists()


def test_a_read_needs_no_reason(team):
    response = client_for(team.analyst).post(
        "/api/v1/queries", {"datasource": team.source.pk, "sql": "SELECT 1", "wait": 5}, format="json"
    )
    assert response.status_code == 200


def test_asking_only_for_the_classification_needs_no_reason_yet(team):
    """The workspace asks first (request_approval false) and shows the statements; the
    reason is asked for then."""
    response = client_for(team.analyst).post(
        "/api/v1/queries",
        {"datasource": team.source.pk, "sql": "DELETE FROM ledger", "request_approval": False},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "approval_required"


@pytest.mark.parametrize("comment", [None, "", "  "])
def test_a_rejection_without_a_comment_is_refused(team, comment):
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    body = {"decision": "reject"}
    if comment is not None:
        body["comment"] = comment
    response = client_for(team.approver).post(f"/api/v1/approvals/{request_id}/review", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "comment_required"
    assert ApprovalRequest.objects.get(pk=request_id).status == "pending"
    assert not ApprovalReview.objects.exists()


def test_an_approval_needs_no_comment_and_a_rejection_with_one_counts(team):
    first = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    second = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 2")["id"]
    assert team.review(first, "approve", comment="").status_code == 200
    rejected = team.review(second, "reject", comment="Wrong row")
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reviews"][0]["comment"] == "Wrong row"


def test_someone_who_may_not_review_hears_that_first(team):
    """The missing comment is not the first thing an outsider learns about a request."""
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    response = client_for(team.analyst).post(
        f"/api/v1/approvals/{request_id}/review", {"decision": "reject"}, format="json"
    )
    assert response.status_code == 403
