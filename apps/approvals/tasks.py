from celery import shared_task

from apps.approvals import services


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
    return services.execute_approved(request_id).status


@shared_task(name="maintenance.expire_approval_requests")
def expire_approval_requests() -> int:
    return services.expire_pending_requests()


@shared_task(name="maintenance.settle_approval_requests")
def settle_approval_requests() -> dict[str, int]:
    """Executing requests whose worker is gone are settled; approved ones whose message
    was lost are queued again."""
    return {"settled": services.settle_interrupted_requests(), "queued": services.queue_unqueued_requests()}
