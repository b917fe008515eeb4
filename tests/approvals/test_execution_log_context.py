"""An approved write runs in the worker, logged with the approval's id and the id of the
review request that approved it."""

import pytest
from django.conf import settings

from tests.support.approvals import settle
from tests.support.factories import client_for
from tests.support.logs import wait_for_json_line

pytestmark = pytest.mark.usefixtures("celery_worker")


def test_the_worker_logs_an_approved_write_with_the_approval_and_the_approving_request(team):
    approval_id = team.request_write("UPDATE ledger SET amount = 11 WHERE id = 1")["id"]
    review = client_for(team.approver).post(
        f"/api/v1/approvals/{approval_id}/review",
        {"decision": "approve"},
        format="json",
        HTTP_X_REQUEST_ID="req-approve-7",
    )
    assert review.status_code == 200, review.content
    assert settle(approval_id).status == "succeeded"

    executed = wait_for_json_line(
        settings.DATA_DIR / "celery-worker.log",
        lambda line: line["event"] == "approval request executed" and line.get("approval_id") == str(approval_id),
    )
    assert executed["status"] == "succeeded"
    assert executed["request_id"] == "req-approve-7"
    assert executed["username"] == team.approver.username
    assert executed["task"] == "queries.execute_approved_request"
