"""Write requests: create, review, cancel, expire, dry-run, and execute exactly once.

Invariants (docs/architecture.md §2): the text that runs is the stored text whose SHA-256 was
approved; the executing state is taken by a conditional update, and the execution is
guarded by a session lock, so two workers, a duplicate delivery or a double click
cannot run it twice; a write whose worker dies is never re-run: it is settled from the
outcome marker its transaction writes where the source allows it (succeeded if it
committed, failed if not), else left `failed` for a human; nobody reviews their own request.
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
from apps.datasources.connectors.base import Connector, ConnectorError, DryRunUnsafe, WriteMarker, WriteOutcome
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.queries.services import DataSourceNotFound, EmptyQuery, bind_statements, classify_for_source, sha256_of
from apps.sqlcore.classification import Classification, classify_sql, side_effect_calls
from apps.sqlcore.function_effects import WAIT, effect_of
from apps.sqlcore.parameters import Params
from apps.sqlcore.tables import called_functions
from querybase import session_locks
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
        _queue_execution(approval.pk)


def _queue_execution(request_id: int) -> None:
    from apps.approvals.tasks import execute_approved_request

    # Once the approval is committed, or a fast worker would find it still pending.
    transaction.on_commit(lambda: execute_approved_request.delay(request_id))


def cancel_request(user, request_id: int, *, request=None) -> ApprovalRequest:
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
            then=lambda approval=approval: record_event("approval.expired", target=approval),
        ):
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
NOT_APPLIED_MESSAGE = (
    "The worker executing this request stopped before its transaction committed, so the database "
    "rolled the statements back: nothing was applied (the outcome marker in the source says so). "
    "QueryBase never re-runs an interrupted write by itself: submit the change again if it is still wanted."
)
# How long settling an interrupted write waits for its transaction, if that is still open
# in the source (a worker killed while its statement waits on a lock): it is asked again
# at the next sweep.
OUTCOME_WAIT_MS = 2000


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
            return ExecutionOutcome(ran=False, status=_settle_interrupted(approval))
        if approval.status == ApprovalStatus.APPROVED and _refused_at_execution(approval):
            return ExecutionOutcome(ran=False, status=ApprovalStatus.FAILED)
        started = timezone.now()
        if not transition(
            request_id,
            ApprovalStatus.APPROVED,
            ApprovalStatus.EXECUTING,
            started_at=started,
            then=lambda: record_event("approval.execute", target=approval),
        ):
            return ExecutionOutcome(ran=False, status=approval.status)
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

    def record() -> None:  # the status, its audit event and the notification together
        record_event("approval.failed", target=approval, detail={"error_code": code, "before_execution": True})
        approval.refresh_from_db()
        notify_executed(approval)

    transition(
        approval.pk,
        ApprovalStatus.APPROVED,
        ApprovalStatus.FAILED,
        finished_at=timezone.now(),
        error_code=code,
        error_message=message,
        then=record,
    )
    return True


def _run(approval: ApprovalRequest) -> None:
    started = time.monotonic()
    try:
        statements = _verified_statements(approval)
        connector = connector_for(approval.datasource, CredentialRole.OWNER)
        affected = connector.run_write(
            statements, approval.datasource.statement_timeout_ms, marker=_outcome_marker(approval, connector)
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


def _finish(
    approval: ApprovalRequest, status: str, *, started: float | None = None, audit: dict | None = None, **fields
) -> bool:
    duration = round((time.monotonic() - started) * 1000, 1) if started is not None else None

    # One transaction: whoever sees the final status also finds its audit event and the
    # requester's notification.
    def record() -> None:
        detail = {"error_code": fields.get("error_code", ""), **(audit or {})}
        record_event(f"approval.{status}", target=approval, detail=detail)
        logger.info(
            "approval request executed", status=status, duration_ms=duration, error_code=fields.get("error_code")
        )
        approval.refresh_from_db()
        notify_executed(approval)

    return transition(
        approval.pk,
        ApprovalStatus.EXECUTING,
        status,
        finished_at=timezone.now(),
        duration_ms=duration,
        then=record,
        **fields,
    )


def _outcome_marker(approval: ApprovalRequest, connector: Connector) -> WriteMarker | None:
    """The marker this write's transaction will insert, if the source keeps them and the
    write is one transaction a marker can vouch for: no transaction control of its own (nor,
    on MySQL, statements that commit by themselves), no call whose effect a rollback does
    not undo. Recorded on the request before the write starts: from then on, a crash is
    settled from the marker."""
    if not approval.datasource.write_outcome_marker:
        return None
    kinds = {statement["kind"] for statement in approval.classification.get("statements", [])}
    if not kinds or not kinds <= connector.marker_statement_kinds:
        return None
    if _acts_outside_its_transaction(approval):
        return None
    schema = connector.prepare_outcome_marker()
    if schema is None:
        return None
    ApprovalRequest.objects.filter(pk=approval.pk).update(outcome_marker_schema=schema)
    return WriteMarker(request_id=approval.pk, sql_sha256=approval.sql_sha256, schema=schema)


def _acts_outside_its_transaction(approval: ApprovalRequest) -> bool:
    """Whether the write calls a function whose effect a rollback does not undo (another
    connection, files, sequences, …): "did not commit" would not mean "nothing applied".
    Waiting (pg_sleep, SLEEP) leaves nothing behind."""
    calls = called_functions(approval.sql, approval.datasource.engine)
    return any(effect_of(call.name, call.schema) not in (None, WAIT) for call in calls)


def _settle_interrupted(approval: ApprovalRequest) -> str:
    """An `executing` request whose executor is gone (its lock is held by the caller now),
    never re-run: from its marker, succeeded (committed) or failed (not applied); without
    one, failed with its outcome unknown, for a human. Returns the status it is in after:
    still `executing` while its transaction is open in the source, or the source is down."""
    outcome = _interrupted_outcome(approval)
    if outcome is WriteOutcome.COMMITTED:
        # What committed is known; the affected row counts died with the worker.
        results = _statement_results(approval, [None] * len(approval.classification.get("statements", [])))
        _finish(approval, ApprovalStatus.SUCCEEDED, statement_results=results, audit={"settled": outcome.value})
    elif outcome is WriteOutcome.NOT_APPLIED:
        _finish(
            approval,
            ApprovalStatus.FAILED,
            error_code="interrupted_not_applied",
            error_message=NOT_APPLIED_MESSAGE,
            audit={"settled": outcome.value},
        )
    elif outcome is WriteOutcome.UNKNOWABLE:
        _finish(
            approval,
            ApprovalStatus.FAILED,
            error_code="interrupted",
            error_message=INTERRUPTED_MESSAGE,
            audit={"settled": outcome.value},
        )
    approval.refresh_from_db(fields=["status"])
    return approval.status


def _interrupted_outcome(approval: ApprovalRequest) -> WriteOutcome:
    if not approval.outcome_marker_schema:
        return WriteOutcome.UNKNOWABLE
    marker = WriteMarker(request_id=approval.pk, sql_sha256=approval.sql_sha256, schema=approval.outcome_marker_schema)
    try:
        return connector_for(approval.datasource, CredentialRole.OWNER).write_outcome(marker, OUTCOME_WAIT_MS)
    except (ConnectorError, CredentialDecryptionError) as error:
        logger.warning("cannot settle request %s from its marker yet: %s", approval.pk, error)
        return WriteOutcome.STILL_OPEN


# Maintenance -----------------------------------------------------------------------------------


def settle_interrupted_requests() -> int:
    """`executing` requests whose execution lock is free (the worker is gone), settled as
    the next delivery of their task would settle them. Returns how many were settled."""
    if not session_locks.supported():
        return 0  # the embedded default runs writes in-process: nobody else to be gone
    settled = 0
    for request_id in ApprovalRequest.objects.filter(status=ApprovalStatus.EXECUTING).values_list("pk", flat=True):
        with execution_lock(request_id) as acquired:
            if not acquired:
                continue  # its worker is alive and still executing it
            approval = ApprovalRequest.objects.select_related("datasource", "requester").get(pk=request_id)
            if approval.status == ApprovalStatus.EXECUTING:
                settled += _settle_interrupted(approval) != ApprovalStatus.EXECUTING
    return settled


def queue_unqueued_requests() -> int:
    """Approved requests still not executing QUERYBASE_SWEEP_GRACE_SECONDS after their
    approval (or their last re-send), queued again: their message was lost with the process
    that should have sent or run it. A duplicate delivery is harmless (execute_approved
    runs a request once); the re-send is stamped, so each gets at most one per grace."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.QUERYBASE_SWEEP_GRACE_SECONDS)
    stale = ApprovalRequest.objects.filter(status=ApprovalStatus.APPROVED, updated_at__lt=cutoff)
    queued = 0
    for request_id in stale.values_list("pk", flat=True):
        if ApprovalRequest.objects.filter(pk=request_id, status=ApprovalStatus.APPROVED).update(updated_at=now):
            _queue_execution(request_id)
            queued += 1
    return queued


def validate_decision(decision: str) -> str:
    if decision not in Decision.values:
        raise InvalidInput("decision must be approve or reject.", details={"decision": decision})
    return decision
