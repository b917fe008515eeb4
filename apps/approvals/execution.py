"""Worker side: run an approved write exactly once, in the exact text that was approved.

The text that runs is the stored text whose SHA-256 was approved; the executing state is
taken by a conditional update and the execution is guarded by a session lock, so two
workers, a duplicate delivery or a double click cannot run it twice
(docs/architecture.md §2)."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from apps.approvals import policy
from apps.approvals.locks import execution_lock
from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.approvals.notify import notify_executed
from apps.approvals.state import transition
from apps.audit.services import record_event
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import ConnectionLost, Connector, ConnectorError, WriteMarker, WriteOutcome
from apps.datasources.crypto import CredentialDecryptionError
from apps.queries import result_store
from apps.queries.plan import bind_statements, params_sha256_of, sha256_of
from apps.sqlcore.classification import classify_sql
from apps.sqlcore.function_effects import WAIT, effect_of
from apps.sqlcore.tables import called_functions
from querybase.errors import QueryBaseError
from querybase.logs import bind_context, get_logger

logger = get_logger(__name__)


class HashMismatch(Exception):
    pass


def verified_statements(approval: ApprovalRequest):
    """The stored text and parameters, bound, after checking they are what was approved."""
    if sha256_of(approval.sql) != approval.sql_sha256:
        raise HashMismatch("the stored SQL does not match the approved SHA-256")
    if params_sha256_of(approval.params) != approval.params_sha256:
        raise HashMismatch("the stored parameters do not match the approved SHA-256")
    classification = classify_sql(approval.sql, approval.datasource.engine)
    return bind_statements(approval.datasource, approval.sql, approval.params, classification)


def statement_results(approval: ApprovalRequest, affected: Sequence[int | None]) -> list[dict[str, Any]]:
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


CONNECTION_LOST_MESSAGE = (
    "The connection to the data source was lost during the write, before its result arrived. The "
    "statements may or may not have been applied (no outcome marker vouches for them): check the "
    "database before submitting the change again. QueryBase never re-runs an interrupted write by itself."
)


NOT_APPLIED_MESSAGE = (
    "The worker executing this request stopped before its transaction committed, so the database "
    "rolled the statements back: nothing was applied (the outcome marker in the source says so). "
    "QueryBase never re-runs an interrupted write by itself: submit the change again if it is still wanted."
)


SOURCE_CHANGED_NOTE = (
    " The data source was changed since the request was made (its {}), so whether the write was "
    "applied where it ran could not be checked."
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
            return ExecutionOutcome(ran=False, status=settle_interrupted(approval))
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
        statements = verified_statements(approval)
        connector = connector_for(approval.datasource, CredentialRole.OWNER)
        marker = _outcome_marker(approval, connector)
        try:
            affected = connector.run_write(statements, approval.datasource.statement_timeout_ms, marker=marker)
        finally:
            # Even a failed write may have changed something (a statement that commits by
            # itself, a script of several transactions): cached reads of the source go.
            result_store.forget_results_of(approval.datasource_id)
    except HashMismatch as error:
        finish(approval, ApprovalStatus.FAILED, error_code="hash_mismatch", error_message=str(error), started=started)
    except ConnectionLost as error:
        # The connection died under the write, perhaps after the source committed it (the
        # answer to COMMIT lost on the way): "failed" could be false. Settled as an
        # interrupted write is, from its marker; while that cannot be read, it stays
        # `executing` and the sweeper settles it.
        logger.warning("connection lost during an approved write; settling from its marker: %s", error.message)
        approval.refresh_from_db(fields=["outcome_marker_schema"])
        settle_interrupted(approval, unknown_message=CONNECTION_LOST_MESSAGE)
    except (ConnectorError, QueryBaseError) as error:
        finish(approval, ApprovalStatus.FAILED, error_code=error.code, error_message=error.message, started=started)
    except CredentialDecryptionError as error:
        finish(
            approval,
            ApprovalStatus.FAILED,
            error_code=CredentialDecryptionError.code,
            error_message=str(error),
            started=started,
        )
    else:
        finish(
            approval,
            ApprovalStatus.SUCCEEDED,
            statement_results=statement_results(approval, affected),
            started=started,
        )


def finish(
    approval: ApprovalRequest, status: str, *, started: float | None = None, audit: dict | None = None, **fields
) -> bool:
    duration = round((time.monotonic() - started) * 1000, 1) if started is not None else None

    # One transaction: whoever sees the final status also finds its audit event and the
    # requester's notification.
    def record() -> None:
        detail = {
            "error_code": fields.get("error_code", ""),
            "error_message": fields.get("error_message", ""),
            **(audit or {}),
        }
        if "statement_results" in fields:
            detail["affected_rows"] = [result.get("affected_rows") for result in fields["statement_results"]]
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


def settle_interrupted(approval: ApprovalRequest, *, unknown_message: str = INTERRUPTED_MESSAGE) -> str:
    """An `executing` request whose executor is gone (its lock is held by the caller now),
    never re-run: from its marker, succeeded (committed) or failed (not applied); without
    one, failed with its outcome unknown, for a human. Returns the status it is in after:
    still `executing` while its transaction is open in the source, or the source is down."""
    moved = policy.target_changes(approval)
    # The marker is where the write ran; a source pointed elsewhere since would be asked
    # about a database the write never touched, and find nothing there.
    outcome = WriteOutcome.UNKNOWABLE if moved else _interrupted_outcome(approval)
    if outcome in (WriteOutcome.COMMITTED, WriteOutcome.UNKNOWABLE):
        # Its worker died before it could drop the source's cached reads.
        result_store.forget_results_of(approval.datasource_id)
    if outcome is WriteOutcome.COMMITTED:
        # What committed is known; the affected row counts died with the worker.
        results = statement_results(approval, [None] * len(approval.classification.get("statements", [])))
        finish(approval, ApprovalStatus.SUCCEEDED, statement_results=results, audit={"settled": outcome.value})
    elif outcome is WriteOutcome.NOT_APPLIED:
        finish(
            approval,
            ApprovalStatus.FAILED,
            error_code="interrupted_not_applied",
            error_message=NOT_APPLIED_MESSAGE,
            audit={"settled": outcome.value},
        )
    elif outcome is WriteOutcome.UNKNOWABLE:
        finish(
            approval,
            ApprovalStatus.FAILED,
            error_code="interrupted",
            error_message=unknown_message + (SOURCE_CHANGED_NOTE.format(", ".join(moved)) if moved else ""),
            audit={"settled": outcome.value, **({"datasource_changed": moved} if moved else {})},
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
