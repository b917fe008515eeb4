"""Write requests: create, review, cancel, expire, dry-run, and execute exactly once.

Invariants (docs/architecture.md §2): the text that runs is the stored text whose SHA-256 was
approved; the executing state is taken by a conditional update, and the execution is
guarded by a session lock, so two workers, a duplicate delivery or a double click
cannot run it twice; a worker that dies mid-write leaves the request `failed` for a
human, never re-run; nobody reviews their own request.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts import policy
from apps.approvals.locks import execution_lock
from apps.approvals.models import ApprovalRequest, ApprovalReview, ApprovalStatus, Decision
from apps.approvals.notify import notify_decision, notify_executed, notify_new_request
from apps.approvals.state import transition
from apps.audit.services import record_event
from apps.datasources.access import Action, rights_on
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import ConnectorError, DryRunUnsafe
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.queries.services import DataSourceNotFound, EmptyQuery, bind_statements, classify_for_source, sha256_of
from apps.sqlcore.classification import Classification, classify_sql, side_effect_calls
from apps.sqlcore.parameters import Params
from querybase.errors import InvalidInput, NotAllowed, QueryBaseError
from querybase.logs import bind_context, get_logger

logger = get_logger(__name__)


class RequestNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class NotAWrite(QueryBaseError):
    code = "not_a_write"
    status = 400


class WriteKindForbidden(QueryBaseError):
    code = "write_kind_forbidden"
    status = 403


class RequestClosed(QueryBaseError):
    """The request is no longer in a state that allows this."""

    code = "invalid_state"
    status = 409


class AlreadyReviewed(QueryBaseError):
    code = "already_reviewed"
    status = 409


class DryRunNotAllowed(QueryBaseError):
    code = "dry_run_not_allowed"
    status = 400


class DryRunRefused(QueryBaseError):
    """The SQL could leave something behind that a rollback does not undo."""

    code = "dry_run_unsafe"
    status = 400


# Creation --------------------------------------------------------------------------------


def create_request(
    user, *, datasource_id: int, sql: str, params: Params = None, reason: str = "", request=None
) -> ApprovalRequest:
    """A write request for approval: rights first, then classification and the source's
    rules on write kinds, then the parameters."""
    datasource, rights = rights_on(user, datasource_id)
    if datasource is None:
        raise DataSourceNotFound("No data source with this id, or you have no rights on it.")
    if Action.WRITE not in rights:
        raise NotAllowed("You may not request writes on this data source.")
    classification = classify_for_source(datasource, sql)
    if classification.is_empty:
        raise EmptyQuery("The SQL contains no statement.")
    if classification.is_read:
        raise NotAWrite("This SQL only reads: run it directly, no approval is needed.")
    _check_write_kinds(datasource, classification)
    bind_statements(datasource, sql, params, classification)  # refuses bad parameters now, not at execution
    with transaction.atomic():
        approval = ApprovalRequest.objects.create(
            datasource=datasource,
            requester=user,
            sql=sql,
            sql_sha256=sha256_of(sql),
            params=params,
            reason=reason,
            classification=classification.as_dict(),
            risk=classification.risk.value,
            write_kinds=sorted(classification.write_kinds),
            required_approvals=datasource.approvals_required,
            expires_at=timezone.now() + timedelta(hours=settings.QUERYBASE_APPROVAL_TTL_HOURS),
        )
        bind_context(approval_id=approval.pk)
        record_event(
            "approval.create",
            actor=user,
            target=approval,
            request=request,
            detail={"datasource": datasource.pk, "risk": approval.risk, "write_kinds": approval.write_kinds},
        )
        notify_new_request(approval, eligible_approvers(approval))
    return approval


def _check_write_kinds(datasource: DataSource, classification: Classification) -> None:
    forbidden = sorted(classification.write_kinds - set(datasource.allowed_write_kinds))
    if forbidden:
        raise WriteKindForbidden(
            f"This data source does not accept {', '.join(kind.upper() for kind in forbidden)} statements.",
            details={"forbidden_kinds": forbidden, "allowed_kinds": datasource.allowed_write_kinds},
        )


# Who may review ------------------------------------------------------------------------------


def approvers_of(datasource: DataSource) -> QuerySet:
    """Active members of groups with can_approve on an active source."""
    return policy.approvers_of(datasource)


def eligible_approvers(approval: ApprovalRequest) -> QuerySet:
    """Approvers of the source, minus the requester (separation of duties)."""
    return policy.eligible_reviewers(approval)


def _refuse(refusal: policy.Refusal | None, closed: type[QueryBaseError], unsupported: type[QueryBaseError]) -> None:
    """Turn the policy's answer into the error the API shows."""
    if refusal is None:
        return
    if refusal.kind is policy.RefusalKind.FORBIDDEN:
        raise NotAllowed(refusal.message)
    raise (closed if refusal.kind is policy.RefusalKind.CLOSED else unsupported)(refusal.message)


# Reading -------------------------------------------------------------------------------------


def visible_requests(user) -> QuerySet[ApprovalRequest]:
    """Own requests, and requests on sources the user may approve; admins see all."""
    return policy.requests_visible_to(user).select_related("datasource", "requester")


def awaiting_review_by(user) -> QuerySet[ApprovalRequest]:
    """Pending requests the user may still decide on."""
    return policy.requests_awaiting_review_by(user).select_related("datasource", "requester")


def get_request(user, request_id: int) -> ApprovalRequest:
    approval = visible_requests(user).filter(pk=request_id).first()
    if approval is None:
        raise RequestNotFound("No approval request with this id.")
    return approval


# Decisions -----------------------------------------------------------------------------------


def review_request(user, request_id: int, *, decision: str, comment: str = "", request=None) -> ApprovalRequest:
    """Record one reviewer's decision. A reject ends the request; the Nth approval approves
    it and queues its execution. The row is locked, so concurrent reviews are serialised."""
    bind_context(approval_id=request_id)
    get_request(user, request_id)  # 404 before 403 for requests the user cannot see
    with transaction.atomic():
        approval = ApprovalRequest.objects.select_for_update().select_related("datasource").get(pk=request_id)
        _refuse(policy.review_refusal(user, approval), closed=RequestClosed, unsupported=RequestClosed)
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
        _decide(approval, decision)
    approval.refresh_from_db()
    notify_decision(approval, reviewer=user, decision=decision, comment=comment)
    return approval


def _decide(approval: ApprovalRequest, decision: str) -> None:
    now = timezone.now()
    if decision == Decision.REJECT:
        transition(approval.pk, ApprovalStatus.PENDING, ApprovalStatus.REJECTED, decided_at=now)
        record_event("approval.rejected", target=approval)
        return
    # Only reviews whose reviewer is still eligible now count (not one since demoted).
    approvals = policy.counted_approvals(approval).count()
    if approvals >= approval.required_approvals and transition(
        approval.pk, ApprovalStatus.PENDING, ApprovalStatus.APPROVED, decided_at=now
    ):
        record_event("approval.approved", target=approval, detail={"approvals": approvals})
        from apps.approvals.tasks import execute_approved_request

        transaction.on_commit(lambda: execute_approved_request.delay(approval.pk))


def cancel_request(user, request_id: int, *, request=None) -> ApprovalRequest:
    bind_context(approval_id=request_id)
    approval = get_request(user, request_id)
    if not policy.may_cancel_request(user, approval):
        raise NotAllowed("Only the requester may cancel a request.")
    if not transition(approval.pk, ApprovalStatus.PENDING, ApprovalStatus.CANCELLED, decided_at=timezone.now()):
        raise RequestClosed(f"The request is {approval.status}; only pending requests can be cancelled.")
    record_event("approval.cancel", actor=user, target=approval, request=request)
    approval.refresh_from_db()
    return approval


def expire_pending_requests() -> int:
    """Pending requests past their expiry become `expired` (periodic maintenance task)."""
    expired = 0
    for approval in ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=timezone.now()):
        if transition(approval.pk, ApprovalStatus.PENDING, ApprovalStatus.EXPIRED, decided_at=timezone.now()):
            record_event("approval.expired", target=approval)
            approval.status = ApprovalStatus.EXPIRED
            notify_decision(approval, reviewer=None, decision="expire", comment="")
            expired += 1
    return expired


# Dry-run -------------------------------------------------------------------------------------


def dry_run(user, request_id: int, *, request=None) -> ApprovalRequest:
    """Run the DML in a transaction that is rolled back, and keep the affected row counts.

    Only when every effect is undone by the rollback (security invariant 10): no call of a
    function whose effect outlives the transaction or that runs SQL given as text, and
    (checked by the connector, in the transaction itself) only tables a rollback restores.
    Anything else is refused with the reasons, before a single statement runs.
    """
    bind_context(approval_id=request_id)
    approval = get_request(user, request_id)
    _refuse(policy.dry_run_refusal(user, approval), closed=DryRunNotAllowed, unsupported=DryRunNotAllowed)
    datasource = approval.datasource
    reasons = side_effect_calls(approval.sql, datasource.engine)
    if reasons:
        _refuse_dry_run(user, approval, reasons, request)
    statements = _verified_statements(approval)
    started = time.monotonic()
    try:
        affected = connector_for(datasource, CredentialRole.OWNER).dry_run(statements, datasource.statement_timeout_ms)
        outcome = {"ok": True, "statements": _statement_results(approval, affected)}
    except DryRunUnsafe as error:
        _refuse_dry_run(user, approval, error.reasons, request)
    except ConnectorError as error:
        outcome = {"ok": False, "error": {"code": error.code, "message": error.message}}
    outcome["took_ms"] = round((time.monotonic() - started) * 1000, 1)
    ApprovalRequest.objects.filter(pk=approval.pk).update(dry_run_result=outcome, dry_run_at=timezone.now())
    record_event("approval.dry_run", actor=user, target=approval, request=request, detail={"ok": outcome["ok"]})
    approval.refresh_from_db()
    return approval


def _refuse_dry_run(user, approval: ApprovalRequest, reasons: list[str], request) -> None:
    record_event(
        "approval.dry_run_refused", actor=user, target=approval, request=request, detail={"reasons": reasons[:20]}
    )
    shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    raise DryRunRefused(
        f"This cannot be dry-run on the real data source: a rollback would not undo everything it does ({shown}).",
        details={"reasons": reasons},
    )


# Execution -----------------------------------------------------------------------------------


class HashMismatch(Exception):
    pass


def _verified_statements(approval: ApprovalRequest):
    """The stored text, bound, after checking it is the text that was approved."""
    if sha256_of(approval.sql) != approval.sql_sha256:
        raise HashMismatch("the stored SQL does not match the approved SHA-256")
    classification = classify_sql(approval.sql, approval.datasource.engine)
    return bind_statements(approval.datasource, approval.sql, approval.params, classification)


def _statement_results(approval: ApprovalRequest, affected: list[int]) -> list[dict[str, Any]]:
    texts = [statement["text"] for statement in approval.classification.get("statements", [])]
    return [
        {"statement": texts[index] if index < len(texts) else "", "affected_rows": count}
        for index, count in enumerate(affected)
    ]


@dataclass(frozen=True)
class ExecutionOutcome:
    ran: bool
    status: str


INTERRUPTED_MESSAGE = (
    "The worker executing this request stopped before reporting a result. The statements may or "
    "may not have been applied: check the database before submitting the change again. QueryBase "
    "never re-runs an interrupted write by itself."
)


def execute_approved(request_id: int) -> ExecutionOutcome:
    """Run an approved request, once.

    The session lock tells "someone is executing it right now" (do nothing) from "it was
    being executed by a worker that died" (status executing, lock free: mark it failed).
    """
    bind_context(approval_id=request_id)
    with execution_lock(request_id) as acquired:
        if not acquired:
            return ExecutionOutcome(ran=False, status=ApprovalStatus.EXECUTING)
        approval = ApprovalRequest.objects.select_related("datasource", "requester").get(pk=request_id)
        if approval.status == ApprovalStatus.EXECUTING:
            _finish(approval, ApprovalStatus.FAILED, error_code="interrupted", error_message=INTERRUPTED_MESSAGE)
            return ExecutionOutcome(ran=False, status=ApprovalStatus.FAILED)
        if approval.status == ApprovalStatus.APPROVED and _refused_at_execution(approval):
            return ExecutionOutcome(ran=False, status=ApprovalStatus.FAILED)
        started = timezone.now()
        if not transition(request_id, ApprovalStatus.APPROVED, ApprovalStatus.EXECUTING, started_at=started):
            return ExecutionOutcome(ran=False, status=approval.status)
        record_event("approval.execute", target=approval)
        approval.started_at = started
        _run(approval)
        approval.refresh_from_db()
        return ExecutionOutcome(ran=True, status=approval.status)


def _refused_at_execution(approval: ApprovalRequest) -> bool:
    """Rights are those at execution time: a source switched off, or an approval whose
    reviewer has since lost the right, stops the request for good (failed, never re-run)."""
    refusal = policy.execution_refusal(approval)
    if refusal is None:
        return False
    code, message = refusal
    with transaction.atomic():  # the status, its audit event and the notification together
        if transition(
            approval.pk,
            ApprovalStatus.APPROVED,
            ApprovalStatus.FAILED,
            finished_at=timezone.now(),
            error_code=code,
            error_message=message,
        ):
            record_event("approval.failed", target=approval, detail={"error_code": code, "before_execution": True})
            approval.refresh_from_db()
            notify_executed(approval)
    return True


def _run(approval: ApprovalRequest) -> None:
    started = time.monotonic()
    try:
        statements = _verified_statements(approval)
        affected = connector_for(approval.datasource, CredentialRole.OWNER).run_write(
            statements, approval.datasource.statement_timeout_ms
        )
    except HashMismatch as error:
        _finish(approval, ApprovalStatus.FAILED, error_code="hash_mismatch", error_message=str(error), started=started)
    except (ConnectorError, QueryBaseError) as error:
        _finish(approval, ApprovalStatus.FAILED, error_code=error.code, error_message=error.message, started=started)
    except CredentialDecryptionError as error:
        _finish(
            approval,
            ApprovalStatus.FAILED,
            error_code="credentials_unreadable",
            error_message=str(error),
            started=started,
        )
    else:
        _finish(
            approval,
            ApprovalStatus.SUCCEEDED,
            statement_results=_statement_results(approval, affected),
            started=started,
        )


def _finish(approval: ApprovalRequest, status: str, *, started: float | None = None, **fields) -> None:
    duration = round((time.monotonic() - started) * 1000, 1) if started is not None else None
    # One transaction: whoever sees the final status also finds its audit event and the
    # requester's notification.
    with transaction.atomic():
        if not transition(
            approval.pk, ApprovalStatus.EXECUTING, status, finished_at=timezone.now(), duration_ms=duration, **fields
        ):
            return
        record_event(f"approval.{status}", target=approval, detail={"error_code": fields.get("error_code", "")})
        logger.info(
            "approval request executed", status=status, duration_ms=duration, error_code=fields.get("error_code")
        )
        approval.refresh_from_db()
        notify_executed(approval)


def validate_decision(decision: str) -> str:
    if decision not in Decision.values:
        raise InvalidInput("decision must be approve or reject.", details={"decision": decision})
    return decision
