"""Rights are those of *now*: results need a read right now, reviews count while their
reviewer may still approve, and an approved request runs only on an active source with
approvals that still count. Staff status grants none of it."""

import pytest

from apps.approvals.models import ApprovalRequest, ApprovalReview
from apps.approvals.tasks import execute_approved_request
from apps.audit.models import AuditEvent
from tests.support.approvals import Team, ledger, settle
from tests.support.factories import client_for, make_user, reader
from tests.support.worker import wait_until_worker_idle

pytestmark = pytest.mark.django_db(transaction=True)


def run_query(user, source, sql: str = "SELECT id, amount FROM ledger ORDER BY id") -> dict:
    response = client_for(user).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql, "wait": 10, "max_age": 0}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


# Who sees result rows ------------------------------------------------------------------------


def test_staff_without_read_rights_gets_no_rows(team):
    analyst_run = run_query(team.analyst, team.source)
    assert analyst_run["result"]["rows"]
    staff = make_user("staff-no-rights", is_admin=True)
    response = client_for(staff).get(f"/api/v1/queries/{analyst_run['id']}")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "result_not_visible"
    assert "rows" not in response.content.decode()
    # The metadata stays visible to an admin, without rows.
    history = client_for(staff).get("/api/v1/queries/history").json()
    listed = history["results"] if isinstance(history, dict) else history
    assert any(run["id"] == analyst_run["id"] for run in listed)
    assert all("result" not in run for run in listed)


def test_staff_with_read_rights_sees_the_rows(team):
    analyst_run = run_query(team.analyst, team.source)
    staff_reader = reader("staff-reader", team.source)
    staff_reader.is_staff = True
    staff_reader.save()
    response = client_for(staff_reader).get(f"/api/v1/queries/{analyst_run['id']}")
    assert response.status_code == 200
    assert response.json()["result"]["rows"] == analyst_run["result"]["rows"]


def test_revoked_reader_no_longer_reads_their_old_result(team):
    former = reader("former-reader", team.source)
    old_run = run_query(former, team.source)
    former.groups.clear()
    response = client_for(former).get(f"/api/v1/queries/{old_run['id']}")
    assert response.status_code in {403, 404}
    assert "rows" not in response.content.decode()


def test_reader_of_a_deactivated_source_no_longer_reads_old_results(team):
    old_run = run_query(team.analyst, team.source)
    team.source.is_active = False
    team.source.save()
    assert client_for(team.analyst).get(f"/api/v1/queries/{old_run['id']}").status_code in {403, 404}


# Whose reviews count -------------------------------------------------------------------------


def test_a_review_by_a_since_demoted_approver_does_not_approve(team, postgres_server):
    team.source.approvals_required = 2
    team.source.save()
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    assert team.review(request_id, "approve").status_code == 200
    team.approver.groups.clear()  # loses can_approve
    response = team.review(request_id, "approve", user=team.second_approver)
    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["approvals"] == 1
    assert ledger(postgres_server) == (5, 50)


def test_a_review_by_a_since_deactivated_approver_does_not_approve(team):
    team.source.approvals_required = 2
    team.source.save()
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    team.review(request_id, "approve")
    team.approver.is_active = False
    team.approver.save()
    assert team.review(request_id, "approve", user=team.second_approver).json()["status"] == "pending"


def test_a_demoted_approver_can_no_longer_review(team):
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id = 1")["id"]
    team.approver.groups.clear()
    assert team.review(request_id, "approve").status_code in {403, 404}


# What runs -----------------------------------------------------------------------------------


def approve_without_queueing(team: Team, request_id: int) -> None:
    """Approved by an eligible reviewer, the job not queued yet: the world changes between
    the approval and the worker picking the job up."""
    ApprovalReview.objects.create(request_id=request_id, reviewer=team.approver, decision="approve")
    ApprovalRequest.objects.filter(pk=request_id).update(status="approved")


@pytest.mark.usefixtures("celery_worker")
def test_an_approved_request_on_a_since_deactivated_source_does_not_run(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    team.source.is_active = False
    team.source.save()
    execute_approved_request.delay(request_id)
    approval = settle(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "datasource_inactive"
    assert "deactivated" in approval.error_message
    assert ledger(postgres_server) == (5, 50)
    assert AuditEvent.objects.filter(action="approval.failed", object_id=str(request_id)).exists()
    body = client_for(team.analyst).get(f"/api/v1/approvals/{request_id}").json()
    assert body["execution"]["error"]["code"] == "datasource_inactive"
    # Nothing re-runs it, even once the source is back.
    team.source.is_active = True
    team.source.save()
    execute_approved_request.delay(request_id)
    wait_until_worker_idle()
    assert ApprovalRequest.objects.get(pk=request_id).status == "failed"
    assert ledger(postgres_server) == (5, 50)


@pytest.mark.usefixtures("celery_worker")
def test_an_approved_request_whose_approver_was_deactivated_before_execution_does_not_run(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    team.approver.is_active = False
    team.approver.save()
    execute_approved_request.delay(request_id)
    approval = settle(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "approvals_withdrawn"
    assert ledger(postgres_server) == (5, 50)
    assert AuditEvent.objects.filter(action="approval.failed", object_id=str(request_id)).exists()
    # A second delivery of the job leaves it failed.
    execute_approved_request.delay(request_id)
    wait_until_worker_idle()
    assert ApprovalRequest.objects.get(pk=request_id).status == "failed"
    assert ledger(postgres_server) == (5, 50)


@pytest.mark.usefixtures("celery_worker")
def test_an_approved_request_whose_requester_lost_the_write_right_does_not_run(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    team.analyst.groups.clear()  # no longer may request writes on the source
    execute_approved_request.delay(request_id)
    approval = settle(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "requester_may_not_write"
    assert ledger(postgres_server) == (5, 50)
    failed = AuditEvent.objects.get(action="approval.failed", object_id=str(request_id))
    assert failed.detail["error_code"] == "requester_may_not_write"


@pytest.mark.usefixtures("celery_worker")
def test_an_approved_request_whose_requester_was_deactivated_does_not_run(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    team.analyst.is_active = False
    team.analyst.save()
    execute_approved_request.delay(request_id)
    assert settle(request_id).error_code == "requester_may_not_write"
    assert ledger(postgres_server) == (5, 50)


@pytest.mark.usefixtures("celery_worker")
def test_an_approved_request_whose_kind_of_write_was_since_forbidden_does_not_run(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    team.source.allowed_write_kinds = ["ddl"]
    team.source.save()
    execute_approved_request.delay(request_id)
    approval = settle(request_id)
    assert approval.error_code == "write_kind_forbidden"
    assert ledger(postgres_server) == (5, 50)


@pytest.mark.usefixtures("celery_worker")
@pytest.mark.parametrize(
    ("field", "value"),
    [("host", "localhost"), ("database", "postgres"), ("port", 1), ("username", "someone_else")],
)
def test_an_approved_request_whose_source_was_pointed_elsewhere_does_not_run(team, postgres_server, field, value):
    """The approver approved a write on the source as it was; an admin repointing it
    afterwards (another host, database, port or login) must not carry the write there."""
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    approve_without_queueing(team, request_id)
    setattr(team.source, field, value)
    team.source.save()
    execute_approved_request.delay(request_id)
    approval = settle(request_id)
    assert approval.status == "failed"
    assert approval.error_code == "datasource_changed"
    assert field in approval.error_message
    assert ledger(postgres_server) == (5, 50)
    failed = AuditEvent.objects.get(action="approval.failed", object_id=str(request_id))
    assert failed.detail["error_code"] == "datasource_changed"
    body = client_for(team.approver).get(f"/api/v1/approvals/{request_id}").json()
    assert body["execution"]["error"]["code"] == "datasource_changed"


def test_a_request_whose_source_was_pointed_elsewhere_can_no_longer_be_reviewed(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0")["id"]
    team.source.host = "localhost"
    team.source.save()
    response = team.review(request_id, "approve")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"
    assert "host" in response.json()["error"]["message"]
    dry_run = client_for(team.approver).post(f"/api/v1/approvals/{request_id}/dry-run")
    assert dry_run.status_code == 400
    assert dry_run.json()["error"]["code"] == "dry_run_not_allowed"
    assert "host" in dry_run.json()["error"]["message"]
    assert ApprovalRequest.objects.get(pk=request_id).status == "pending"
    assert not ApprovalReview.objects.filter(request_id=request_id).exists()
    assert ledger(postgres_server) == (5, 50)
