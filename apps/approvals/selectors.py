"""Who may approve a source's requests, and which requests a user may see or review."""

from django.db.models import QuerySet

from apps.approvals import policy
from apps.approvals.exceptions import RequestNotFound
from apps.approvals.models import ApprovalRequest
from apps.datasources.models import DataSource
from apps.queries.selectors import QueryToOpen, opening_of
from querybase.errors import NotAllowed, QueryBaseError
from querybase.types import AnyUser


def approvers_of(datasource: DataSource) -> QuerySet:
    """Active members of groups with can_approve on an active source."""
    return policy.approvers_of(datasource)


def eligible_approvers(approval: ApprovalRequest) -> QuerySet:
    """Approvers of the source, minus the requester (separation of duties)."""
    return policy.eligible_reviewers(approval)


def visible_requests(user: AnyUser) -> QuerySet[ApprovalRequest]:
    """Own requests, and requests on sources the user may approve; admins see all."""
    return policy.requests_visible_to(user).select_related("datasource", "requester")


def awaiting_review_by(user: AnyUser) -> QuerySet[ApprovalRequest]:
    """Pending requests the user may still decide on."""
    return policy.requests_awaiting_review_by(user).select_related("datasource", "requester")


def get_request(user: AnyUser, request_id: int) -> ApprovalRequest:
    approval = visible_requests(user).filter(pk=request_id).first()
    if approval is None:
        raise RequestNotFound("No approval request with this id.")
    return approval


def request_to_reopen(user: AnyUser, request_id: str) -> QueryToOpen:
    """A write request the user may see (a rejected one, to edit and send again), as the
    workspace opens it."""
    approval = visible_requests(user).filter(pk=request_id).first() if request_id.isdigit() else None
    if approval is None:
        return QueryToOpen(missing="This write request does not exist or is not visible to you.")
    return opening_of(user, approval.datasource, {"sql": approval.sql, "params": approval.params})


def refuse(refusal: policy.Refusal | None, closed: type[QueryBaseError], unsupported: type[QueryBaseError]) -> None:
    """Turn the policy's answer into the error the API shows."""
    if refusal is None:
        return
    if refusal.kind is policy.RefusalKind.FORBIDDEN:
        raise NotAllowed(refusal.message)
    raise (closed if refusal.kind is policy.RefusalKind.CLOSED else unsupported)(refusal.message)
