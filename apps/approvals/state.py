"""Moving a request from one status to another: checked against TRANSITIONS, atomically,
and announced live (apps/live) to its requester and reviewers once committed."""

from collections.abc import Callable, Collection
from typing import Any

from django.utils import timezone

from apps.approvals import policy
from apps.approvals.models import TRANSITIONS, ApprovalRequest
from querybase.live_bus import publish
from querybase.state_machine import IllegalTransition, StateMachine

__all__ = ["REQUEST_STATUS", "IllegalTransition", "audience", "transition"]


def audience(approval: ApprovalRequest) -> list[int]:
    """Who hears live of a request: its requester and whoever may review it."""
    return [approval.requester_id, *policy.eligible_reviewers(approval).values_list("pk", flat=True)]


def announce_request_status(pk: Any, status: str, known_audience: Collection[int] | None = None) -> None:
    """After the move's commit. The reviewers are read now: who may review changes with groups."""
    if known_audience is not None:
        publish(known_audience, "approval.status", {"request": pk, "status": status})
        return
    approval = ApprovalRequest.objects.filter(pk=pk).select_related("datasource").first()
    if approval is not None:
        publish(audience(approval), "approval.status", {"request": approval.pk, "status": status})


REQUEST_STATUS = StateMachine(ApprovalRequest, TRANSITIONS, announce=announce_request_status)


def transition(
    request_id: int, source: str, target: str, *, then: Callable[[], object] | None = None, **fields
) -> bool:
    """Move request `request_id` from `source` to `target` if it is still in `source`.

    A conditional UPDATE: of two workers, clicks, deliveries or sweepers racing for the
    same move, exactly one gets True; `then` (its audit event) runs in the same transaction.
    """
    return REQUEST_STATUS.move(request_id, target, from_={source}, then=then, updated_at=timezone.now(), **fields)
