"""What a dead worker leaves of an approved write is settled by the sweeper, never re-run."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from apps.approvals import services
from apps.approvals.models import ApprovalRequest, ApprovalReview
from apps.approvals.tasks import execute_approved_request
from tests.support.approvals import ledger, settle
from tests.support.crashes import (
    postgres_holding,
    postgres_lock_waiters,
    postgres_session_alive,
    settle_with,
    wait_until,
)
from tests.support.worker import PrivateWorker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def approved_but_not_queued(team, sql: str) -> int:
    """An approved request (by an eligible reviewer) whose execution nobody has sent yet."""
    request_id = team.request_write(sql)["id"]
    ApprovalReview.objects.create(request_id=request_id, reviewer=team.approver, decision="approve")
    ApprovalRequest.objects.filter(pk=request_id).update(status="approved", decided_at=timezone.now())
    return request_id


def status_of(request_id: int) -> str:
    return ApprovalRequest.objects.get(pk=request_id).status


def test_whole_worker_killed_during_a_write_waiting_on_a_lock_is_settled_and_never_rerun(team, postgres_server):
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 100 WHERE id = 1")
    log = settings.DATA_DIR / "private-worker.log"
    with (
        postgres_holding(postgres_server, "SELECT * FROM ledger WHERE id = 1 FOR UPDATE"),
        PrivateWorker(log) as worker,
    ):
        execute_approved_request.apply_async([request_id], queue=worker.queue)
        wait_until(lambda: len(postgres_lock_waiters(postgres_server)) == 1, "the write to wait on the lock")
        assert status_of(request_id) == "executing"
        (write_session,) = postgres_lock_waiters(postgres_server)
        assert services.settle_interrupted_requests() == 0  # its worker is alive: left alone
        worker.kill()
        settle_with(
            services.settle_interrupted_requests,
            lambda: status_of(request_id) != "executing",
            "the sweeper to settle the request",
        )
    approval = ApprovalRequest.objects.get(pk=request_id)
    assert approval.status == "failed"
    assert approval.error_code == "interrupted"
    assert "never re-runs" in approval.error_message
    wait_until(lambda: not postgres_session_alive(postgres_server, write_session), "the dead worker's session to end")
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (10,)
    assert services.settle_interrupted_requests() == 0
    assert status_of(request_id) == "failed"


def test_an_approved_request_whose_execution_was_never_queued_is_queued(team, postgres_server):
    request_id = approved_but_not_queued(team, "UPDATE ledger SET amount = amount + 1 WHERE id = 2")
    assert services.queue_unqueued_requests() == 0  # just approved: its message may be on its way
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
        assert services.queue_unqueued_requests() == 1
    assert settle(request_id).status == "succeeded"
    assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 2") == (11,)
