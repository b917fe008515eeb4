"""Who may see, review, dry-run, cancel and execute approval requests. (The rules on
requests; see `apps.accounts.policy` for where the other rules live.)

A reviewer is an active user, not the requester, in a group with can_approve on the
request's (active) source. Reviews count only while their reviewer is still a reviewer:
a review by someone since demoted or deactivated stays on the record and counts for nothing.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.policy import is_active_user, is_admin
from apps.approvals.models import ApprovalRequest, ApprovalReview, ApprovalStatus, Decision
from apps.datasources.access import Action, datasources_user_may
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource
from querybase.types import AnyUser

_UNRECORDED = object()  # a request without a recorded target matches no source


def requests_visible_to(user: AnyUser) -> QuerySet[ApprovalRequest]:
    """Own requests, and requests on sources the user may approve; admins see all."""
    requests_ = ApprovalRequest.objects.all()
    if is_admin(user):
        return requests_
    if not is_active_user(user):
        return requests_.none()
    approvable = datasources_user_may(user, Action.APPROVE).values("pk")
    return requests_.filter(Q(requester=user) | Q(datasource__in=approvable))


def requests_awaiting_review_by(user: AnyUser) -> QuerySet[ApprovalRequest]:
    """Pending requests the user may still decide on: the queryset form of `may_review`."""
    if not is_active_user(user):
        return ApprovalRequest.objects.none()
    approvable = datasources_user_may(user, Action.APPROVE).values("pk")
    return (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, datasource__in=approvable)
        .exclude(requester=user)
        .exclude(reviews__reviewer=user)
    )


def may_view_request(user: AnyUser, approval: ApprovalRequest) -> bool:
    return requests_visible_to(user).filter(pk=approval.pk).exists()


def approvers_of(datasource: DataSource) -> QuerySet:
    """Active members of groups with can_approve on an active source."""
    if not datasource.is_active:
        return get_user_model().objects.none()
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__datasource_permissions__datasource=datasource,
            groups__datasource_permissions__can_approve=True,
        )
        .distinct()
        .order_by("username")
    )


def eligible_reviewers(approval: ApprovalRequest) -> QuerySet:
    """Who may review this request now: approvers of its source, minus the requester."""
    return approvers_of(approval.datasource).exclude(pk=approval.requester_id)


def is_eligible_reviewer(user: AnyUser, approval: ApprovalRequest) -> bool:
    return is_active_user(user) and eligible_reviewers(approval).filter(pk=user.pk).exists()


def counted_approvals(approval: ApprovalRequest) -> QuerySet[ApprovalReview]:
    """The approving reviews that still count: their reviewer is still eligible. A review by
    someone since demoted or deactivated is kept for the record but counts for nothing."""
    return approval.reviews.filter(decision=Decision.APPROVE, reviewer__in=eligible_reviewers(approval))


class RefusalKind(StrEnum):
    FORBIDDEN = "forbidden"  # the user may not, whatever the request's state
    CLOSED = "closed"  # the request's state does not allow it any more
    UNSUPPORTED = "unsupported"  # the source or the SQL does not allow it


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str


def target_changes(approval: ApprovalRequest) -> list[str]:
    """What of its source's target (engine, host, port, database, login) changed since the
    request was made: the SQL was asked for, and is reviewed, for the source as it was."""
    return [
        field
        for field, value in approval.datasource.write_target().items()
        if approval.write_target.get(field, _UNRECORDED) != value
    ]


def _moved_source_refusal(approval: ApprovalRequest, doing: str) -> Refusal | None:
    moved = target_changes(approval)
    if not moved:
        return None
    return Refusal(
        RefusalKind.CLOSED,
        f"The data source {approval.datasource.name} was changed after the request was made (its "
        f"{', '.join(moved)}); it can no longer be {doing}: the requester may submit it again.",
    )


def review_refusal(user: AnyUser, approval: ApprovalRequest) -> Refusal | None:
    """Why `user` may not review `approval` now (None: they may)."""
    if approval.status != ApprovalStatus.PENDING:
        return Refusal(RefusalKind.CLOSED, f"The request is {approval.status}; it can no longer be reviewed.")
    if approval.expires_at <= timezone.now():
        return Refusal(RefusalKind.CLOSED, "The request has expired.")
    return _reviewer_refusal(user, approval) or _moved_source_refusal(approval, "reviewed")


def _reviewer_refusal(user: AnyUser, approval: ApprovalRequest) -> Refusal | None:
    if is_active_user(user) and user.pk == approval.requester_id:
        return Refusal(RefusalKind.FORBIDDEN, "You cannot review your own request.")
    if not is_eligible_reviewer(user, approval):
        return Refusal(RefusalKind.FORBIDDEN, "You may not approve requests on this data source.")
    return None


def may_review(user: AnyUser, approval: ApprovalRequest) -> bool:
    """May decide now, and has not decided yet (the decision buttons)."""
    if review_refusal(user, approval) is not None:
        return False
    return not approval.reviews.filter(reviewer_id=user.pk).exists()


def dry_run_refusal(user: AnyUser, approval: ApprovalRequest) -> Refusal | None:
    """Why `user` may not dry-run `approval` now (None: they may, as far as rights, state
    and the source's settings go; whether the SQL is safe to dry-run is checked after)."""
    refusal = _reviewer_refusal(user, approval)
    if refusal is not None:
        return refusal
    if approval.status != ApprovalStatus.PENDING:
        return Refusal(RefusalKind.CLOSED, f"The request is {approval.status}; only pending requests can be dry-run.")
    if approval.expires_at <= timezone.now():
        return Refusal(RefusalKind.CLOSED, "The request has expired; it can no longer be dry-run.")
    moved = _moved_source_refusal(approval, "dry-run")
    if moved is not None:
        return moved
    datasource = approval.datasource
    if datasource.sandbox_enabled:
        # Tried in a fresh sandbox copy (apps/sandboxes/dry_runs.py): the source is not
        # touched, so any kind the sandboxes run may be tried.
        if set(approval.write_kinds) - (set(datasource.sandbox_write_kinds) - NEVER_IN_SANDBOXES):
            return Refusal(RefusalKind.UNSUPPORTED, "This source's sandboxes do not run these kinds of statement.")
        return None
    if not datasource.dry_run_enabled:
        return Refusal(RefusalKind.UNSUPPORTED, "Dry-runs are turned off for this data source.")
    if set(approval.write_kinds) != {"dml"}:
        return Refusal(
            RefusalKind.UNSUPPORTED, "Only data changes (INSERT/UPDATE/DELETE) can be dry-run; DDL and others cannot."
        )
    return None


def may_dry_run(user: AnyUser, approval: ApprovalRequest) -> bool:
    return dry_run_refusal(user, approval) is None


def may_cancel_request(user: AnyUser, approval: ApprovalRequest) -> bool:
    """Only the requester withdraws a request (whether it is still pending is the state
    machine's business: cancelling a decided request is a conflict, not a refusal)."""
    return is_active_user(user) and approval.requester_id == user.pk


def execution_refusal(approval: ApprovalRequest) -> tuple[str, str] | None:
    """Why an approved request must not run now, as (error code, message); None: it may.
    Asked by the worker just before it runs: rights, and the source's settings, are those
    at execution time; the source must still point where the request was made for."""
    datasource = approval.datasource
    if not datasource.is_active:
        return (
            "datasource_inactive",
            f"The data source {datasource.name} was deactivated after approval; the request did not run.",
        )
    moved = target_changes(approval)
    if moved:
        return (
            "datasource_changed",
            f"The data source {datasource.name} was changed after the request was made (its "
            f"{', '.join(moved)}): it no longer points where the write was asked for and reviewed; "
            "the request did not run. Submit it again if it is meant for the source as it is now.",
        )
    requester = approval.requester
    # Read from the database, not the rights cache: this decides whether a write runs.
    if not datasources_user_may(requester, Action.WRITE).filter(pk=datasource.pk).exists():
        return (
            "requester_may_not_write",
            f"{requester.username} may no longer request writes on {datasource.name} (deactivated, or "
            "the right was removed after the request was made); the request did not run.",
        )
    forbidden = sorted(set(approval.write_kinds) - set(datasource.allowed_write_kinds))
    if forbidden:
        return (
            "write_kind_forbidden",
            f"The data source {datasource.name} no longer accepts "
            f"{', '.join(kind.upper() for kind in forbidden)} statements; the request did not run.",
        )
    counted = counted_approvals(approval).count()
    if counted < approval.required_approvals:
        return (
            "approvals_withdrawn",
            f"Only {counted} of the {approval.required_approvals} required approvals are still from eligible "
            "reviewers (a reviewer lost the right to approve or was deactivated); the request did not run.",
        )
    return None
