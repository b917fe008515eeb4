"""Moving a request from one status to another: checked against TRANSITIONS, atomically."""

from collections.abc import Callable

from django.utils import timezone

from apps.approvals.models import TRANSITIONS, ApprovalRequest
from querybase.state_machine import IllegalTransition, StateMachine

__all__ = ["REQUEST_STATUS", "IllegalTransition", "transition"]

REQUEST_STATUS = StateMachine(ApprovalRequest, TRANSITIONS)


def transition(
    request_id: int, source: str, target: str, *, then: Callable[[], object] | None = None, **fields
) -> bool:
    """Move request `request_id` from `source` to `target` if it is still in `source`.

    A conditional UPDATE: of two workers, clicks, deliveries or sweepers racing for the
    same move, exactly one gets True; `then` (its audit event) runs in the same transaction.
    """
    return REQUEST_STATUS.move(request_id, target, from_={source}, then=then, updated_at=timezone.now(), **fields)
