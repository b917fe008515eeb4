"""Maintenance: settle the writes a dead worker left `executing` (never re-run: from
the outcome marker their transaction wrote, where the source allows it, else `failed`
for a human), and queue approved requests whose execution was never queued."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.approvals.decisions import queue_execution
from apps.approvals.execution import (
    settle_interrupted,
)
from apps.approvals.locks import execution_lock
from apps.approvals.models import ApprovalRequest, ApprovalStatus
from querybase import session_locks
from querybase.logs import get_logger

logger = get_logger(__name__)


def settle_interrupted_requests() -> int:
    """`executing` requests whose execution lock is free (the worker is gone), settled as
    the next delivery of their task would settle them. Returns how many were settled."""
    if not session_locks.supported():
        return 0  # the embedded default runs writes in-process: nobody else to be gone
    settled = 0
    for request_id in ApprovalRequest.objects.filter(status=ApprovalStatus.EXECUTING).values_list("pk", flat=True):
        with execution_lock(request_id) as acquired:
            if not acquired:
                continue  # its worker is alive and still executing it
            approval = ApprovalRequest.objects.select_related("datasource", "requester").get(pk=request_id)
            if approval.status == ApprovalStatus.EXECUTING:
                settled += settle_interrupted(approval) != ApprovalStatus.EXECUTING
    return settled


def queue_unqueued_requests() -> int:
    """Approved requests still not executing QUERYBASE_SWEEP_GRACE_SECONDS after their
    approval (or their last re-send), queued again: their message was lost with the process
    that should have sent or run it. A duplicate delivery is harmless (execute_approved
    runs a request once); the re-send is stamped, so each gets at most one per grace."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.QUERYBASE_SWEEP_GRACE_SECONDS)
    stale = ApprovalRequest.objects.filter(status=ApprovalStatus.APPROVED, updated_at__lt=cutoff)
    queued = 0
    for request_id in stale.values_list("pk", flat=True):
        if ApprovalRequest.objects.filter(pk=request_id, status=ApprovalStatus.APPROVED).update(updated_at=now):
            queue_execution(request_id)
            queued += 1
    return queued
