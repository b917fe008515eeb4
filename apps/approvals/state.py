"""Moving a request from one status to another: checked against TRANSITIONS, atomically."""

from django.utils import timezone

from apps.approvals.models import TRANSITIONS, ApprovalRequest


class IllegalTransition(Exception):
    pass


def transition(request_id: int, source: str, target: str, **fields) -> bool:
    """Move request `request_id` from `source` to `target` if it is still in `source`.

    A conditional UPDATE: of two workers, clicks or deliveries racing for the same move,
    exactly one gets True.
    """
    if target not in TRANSITIONS.get(source, frozenset()):
        raise IllegalTransition(f"{source} → {target} is not a move a request can make")
    updated = ApprovalRequest.objects.filter(pk=request_id, status=source).update(
        status=target, updated_at=timezone.now(), **fields
    )
    return updated == 1
