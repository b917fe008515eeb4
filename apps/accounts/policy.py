"""Who may do what: the one module that answers every "may X?" question.

Views, templates (through the `policy` template filters), serializers and services ask
here; none of them decides on its own. Rights on one data source come from
`apps.datasources.access` (group permissions, on active sources, for active users);
this module builds the product's questions on top of it (admins, reviewing, dry-runs,
runs and their results, requests). It lives in `accounts` rather than growing
`datasources.access`, because its questions are about users facing requests and runs:
`access` would otherwise have to import the approvals and queries apps, which import it.

Every answer is computed from the state *now*, never from what was true when a run was
made or a review given: a right revoked, a user deactivated or a source switched off
takes effect at the next question.

Rules:
- An admin (active staff member) administers the product: opens Django admin, sees
  every run's metadata and every request. Being an admin grants no right on data: rows
  and reviews need group rights like anyone else's (separation of duties).
- A result's rows are shown only to the run's owner, or an admin, who may read its
  source now.
- A reviewer is an active user, not the requester, in a group with can_approve on the
  request's (active) source. Reviews count only while their reviewer is still a reviewer.
"""

from dataclasses import dataclass
from enum import StrEnum

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, ApprovalReview, ApprovalStatus, Decision
from apps.datasources.access import Action, datasources_user_may, user_may
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource
from apps.queries.models import QueryRun


def _active(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


# Administration ------------------------------------------------------------------------------


def is_admin(user) -> bool:
    """An active staff member: administers the product, holds no right on data by that."""
    return _active(user) and user.is_staff


def may_administer_sources(user) -> bool:
    """Create, change and grant rights on data sources (a Django model permission)."""
    return _active(user) and user.has_perm("datasources.change_datasource")


def source_administrators() -> QuerySet:
    """Who grants rights on data sources: the people to ask for access. Superusers hold every
    permission; others hold the change permission through themselves or a group."""
    change = {"codename": "change_datasource", "content_type__app_label": "datasources"}
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(**{f"user_permissions__{name}": value for name, value in change.items()})
            | Q(**{f"groups__permissions__{name}": value for name, value in change.items()})
        )
        .distinct()
        .order_by("username")
    )


def may_share_with_any_group(user) -> bool:
    """Share saved queries with groups the user is not in."""
    return is_admin(user)


# Data sources --------------------------------------------------------------------------------


def may_read(user, datasource: DataSource) -> bool:
    return user_may(user, Action.READ, datasource)


def may_request_write(user, datasource: DataSource) -> bool:
    return user_may(user, Action.WRITE, datasource)


# Query runs ----------------------------------------------------------------------------------


def runs_visible_to(user) -> QuerySet[QueryRun]:
    """Runs whose metadata (SQL, status, timings) the user may see: their own; admins all."""
    runs = QueryRun.objects.all()
    if is_admin(user):
        return runs
    if not _active(user):
        return runs.none()
    return runs.filter(user=user)


def may_view_run(user, run: QueryRun) -> bool:
    return is_admin(user) or (_active(user) and run.user_id == user.pk)


def may_view_result(user, run: QueryRun) -> bool:
    """The rows: only to whoever may see the run *and* may read its source now."""
    return may_view_run(user, run) and may_read(user, run.datasource)


def may_cancel_run(user, run: QueryRun) -> bool:
    return _active(user) and run.user_id == user.pk


# Approval requests ---------------------------------------------------------------------------


def requests_visible_to(user) -> QuerySet[ApprovalRequest]:
    """Own requests, and requests on sources the user may approve; admins see all."""
    requests_ = ApprovalRequest.objects.all()
    if is_admin(user):
        return requests_
    if not _active(user):
        return requests_.none()
    approvable = datasources_user_may(user, Action.APPROVE).values("pk")
    return requests_.filter(Q(requester=user) | Q(datasource__in=approvable))


def requests_awaiting_review_by(user) -> QuerySet[ApprovalRequest]:
    """Pending requests the user may still decide on: the queryset form of `may_review`."""
    if not _active(user):
        return ApprovalRequest.objects.none()
    approvable = datasources_user_may(user, Action.APPROVE).values("pk")
    return (
        ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, datasource__in=approvable)
        .exclude(requester=user)
        .exclude(reviews__reviewer=user)
    )


def may_view_request(user, approval: ApprovalRequest) -> bool:
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


def is_eligible_reviewer(user, approval: ApprovalRequest) -> bool:
    return _active(user) and eligible_reviewers(approval).filter(pk=user.pk).exists()


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


def review_refusal(user, approval: ApprovalRequest) -> Refusal | None:
    """Why `user` may not review `approval` now (None: they may)."""
    if approval.status != ApprovalStatus.PENDING:
        return Refusal(RefusalKind.CLOSED, f"The request is {approval.status}; it can no longer be reviewed.")
    if approval.expires_at <= timezone.now():
        return Refusal(RefusalKind.CLOSED, "The request has expired.")
    return _reviewer_refusal(user, approval)


def _reviewer_refusal(user, approval: ApprovalRequest) -> Refusal | None:
    if _active(user) and user.pk == approval.requester_id:
        return Refusal(RefusalKind.FORBIDDEN, "You cannot review your own request.")
    if not is_eligible_reviewer(user, approval):
        return Refusal(RefusalKind.FORBIDDEN, "You may not approve requests on this data source.")
    return None


def may_review(user, approval: ApprovalRequest) -> bool:
    """May decide now, and has not decided yet (the decision buttons)."""
    if review_refusal(user, approval) is not None:
        return False
    return not approval.reviews.filter(reviewer=user).exists()


def dry_run_refusal(user, approval: ApprovalRequest) -> Refusal | None:
    """Why `user` may not dry-run `approval` now (None: they may, as far as rights, state
    and the source's settings go; whether the SQL is safe to dry-run is checked after)."""
    refusal = _reviewer_refusal(user, approval)
    if refusal is not None:
        return refusal
    if approval.status != ApprovalStatus.PENDING:
        return Refusal(RefusalKind.CLOSED, f"The request is {approval.status}; only pending requests can be dry-run.")
    if approval.expires_at <= timezone.now():
        return Refusal(RefusalKind.CLOSED, "The request has expired; it can no longer be dry-run.")
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


def may_dry_run(user, approval: ApprovalRequest) -> bool:
    return dry_run_refusal(user, approval) is None


def may_cancel_request(user, approval: ApprovalRequest) -> bool:
    """Only the requester withdraws a request (whether it is still pending is the state
    machine's business: cancelling a decided request is a conflict, not a refusal)."""
    return _active(user) and approval.requester_id == user.pk


def execution_refusal(approval: ApprovalRequest) -> tuple[str, str] | None:
    """Why an approved request must not run now, as (error code, message); None: it may.
    Asked by the worker just before it runs: rights are those at execution time."""
    if not approval.datasource.is_active:
        return (
            "datasource_inactive",
            f"The data source {approval.datasource.name} was deactivated after approval; the request did not run.",
        )
    counted = counted_approvals(approval).count()
    if counted < approval.required_approvals:
        return (
            "approvals_withdrawn",
            f"Only {counted} of the {approval.required_approvals} required approvals are still from eligible "
            "reviewers (a reviewer lost the right to approve or was deactivated); the request did not run.",
        )
    return None
