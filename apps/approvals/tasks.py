from celery import shared_task

from apps.approvals import decisions, execution, interrupted_writes


@shared_task(
    name="queries.execute_approved_request",
    acks_late=True,
    # A worker process killed mid-write puts the message back: the next delivery finds
    # the request `executing` with no lock holder and marks it failed, never re-runs it.
    reject_on_worker_lost=True,
    max_retries=0,
)
def execute_approved_request(request_id: int) -> str:
    """Writes are never retried: execute_approved runs a request at most once."""
    return execution.execute_approved(request_id).status


@shared_task(name="maintenance.expire_approval_requests")
def expire_approval_requests() -> int:
    return decisions.expire_pending_requests()


@shared_task(name="maintenance.settle_approval_requests")
def settle_approval_requests() -> dict[str, int]:
    """Executing requests whose worker is gone are settled; approved ones whose message
    was lost are queued again."""
    return {
        "settled": interrupted_writes.settle_interrupted_requests(),
        "queued": interrupted_writes.queue_unqueued_requests(),
    }
