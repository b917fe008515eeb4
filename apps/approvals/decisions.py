"""Use cases: review (approve or reject), cancel and expire requests. An approved
request is queued for execution."""

from functools import partial

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.approvals import policy
from apps.approvals.exceptions import AlreadyReviewed, CommentRequired, RequestClosed
from apps.approvals.models import ApprovalRequest, ApprovalReview, ApprovalStatus, Decision
from apps.approvals.notify import notify_decision
from apps.approvals.selectors import get_request, refuse
from apps.approvals.state import audience, transition
from apps.audit.services import record_event
from querybase.celery import enqueue_on_commit
from querybase.errors import InvalidInput, NotAllowed
from querybase.live_bus import publish_on_commit
from querybase.logs import bind_context
from querybase.types import ClientRequest


def review_request(
    user: User, request_id: int, *, decision: str, comment: str = "", request: ClientRequest | None = None
) -> ApprovalRequest:
    """Record one reviewer's decision. A reject ends the request; the Nth approval approves
    it and queues its execution. The row is locked, so concurrent reviews are serialised."""
    bind_context(approval_id=request_id)
    get_request(user, request_id)  # 404 before 403 for requests the user cannot see
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().select_related("datasource").get(pk=request_id)
        refuse(policy.review_refusal(user, approval), closed=RequestClosed, unsupported=RequestClosed)
        if decision == Decision.REJECT and not comment.strip():
            raise CommentRequired(
                "Say why you reject it: a rejection needs a comment for the requester.",
                details={"comment": ["This field is required to reject."]},
            )
        try:
            with transaction.atomic():
                ApprovalReview.objects.create(request=approval, reviewer=user, decision=decision, comment=comment)
        except IntegrityError as error:
            raise AlreadyReviewed("You have already reviewed this request.") from error
        record_event(
            "approval.review",
            actor=user,
            target=approval,
            request=request,
            detail={"decision": decision, "comment": comment[:500]},
        )
        publish_on_commit(
            partial(audience, approval),
            "approval.reviewed",
            {"request": approval.pk, "decision": decision, "reviewer": user.username},
        )
        _decide(approval, decision)
    approval.refresh_from_db()
    notify_decision(approval, reviewer=user, decision=decision, comment=comment)
    return approval


def _decide(approval: ApprovalRequest, decision: str) -> None:
    now = timezone.now()
    if decision == Decision.REJECT:
        transition(
            approval.pk,
            ApprovalStatus.PENDING,
            ApprovalStatus.REJECTED,
            decided_at=now,
            then=lambda: record_event("approval.rejected", target=approval),
        )
        return
    # Only reviews whose reviewer is still eligible now count (not one since demoted).
    approvals = policy.counted_approvals(approval).count()
    if approvals >= approval.required_approvals and transition(
        approval.pk,
        ApprovalStatus.PENDING,
        ApprovalStatus.APPROVED,
        decided_at=now,
        then=lambda: record_event("approval.approved", target=approval, detail={"approvals": approvals}),
    ):
        queue_execution(approval.pk)


def queue_execution(request_id: int) -> None:
    enqueue_on_commit("queries.execute_approved_request", request_id)


def cancel_request(user: User, request_id: int, *, request: ClientRequest | None = None) -> ApprovalRequest:
    bind_context(approval_id=request_id)
    approval = get_request(user, request_id)
    if not policy.may_cancel_request(user, approval):
        raise NotAllowed("Only the requester may cancel a request.")
    if not transition(
        approval.pk,
        ApprovalStatus.PENDING,
        ApprovalStatus.CANCELLED,
        decided_at=timezone.now(),
        then=lambda: record_event("approval.cancel", actor=user, target=approval, request=request),
    ):
        raise RequestClosed(f"The request is {approval.status}; only pending requests can be cancelled.")
    approval.refresh_from_db()
    return approval


def expire_pending_requests() -> int:
    """Pending requests past their expiry become `expired` (periodic maintenance task)."""
    expired = 0
    for approval in ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=timezone.now()):
        if transition(
            approval.pk,
            ApprovalStatus.PENDING,
            ApprovalStatus.EXPIRED,
            decided_at=timezone.now(),
            then=partial(record_event, "approval.expired", target=approval),
        ):
            approval.status = ApprovalStatus.EXPIRED
            notify_decision(approval, reviewer=None, decision="expire", comment="")
            expired += 1
    return expired


def validate_decision(decision: str) -> str:
    if decision not in Decision.values:
        raise InvalidInput("decision must be approve or reject.", details={"decision": decision})
    return decision
