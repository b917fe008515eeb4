"""Use case: an approver tries a pending write in a transaction that is rolled back,
only where the rollback undoes every effect."""

import time
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from apps.approvals import policy
from apps.approvals.exceptions import DryRunNotAllowed, DryRunRefused
from apps.approvals.execution import statement_results, verified_statements
from apps.approvals.models import ApprovalRequest
from apps.approvals.selectors import get_request, refuse
from apps.audit.services import record_event
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import ConnectorError, DryRunUnsafe
from apps.sandboxes.dry_runs import dry_run_in_copy
from apps.sandboxes.exceptions import SandboxRightsMissing, SandboxUnavailable
from apps.sqlcore.classification import side_effect_calls
from apps.sqlcore.statements import BoundStatement
from querybase.logs import bind_context
from querybase.types import ClientRequest


def dry_run(user: User, request_id: int, *, request: ClientRequest | None = None) -> ApprovalRequest:
    """Try the write and keep the affected row counts: in a fresh sandbox copy where the
    source has sandboxes (apps/sandboxes/dry_runs.py), else on the source in a transaction
    that is rolled back.

    On the source, only when every effect is undone by the rollback (security invariant 10): no call of a
    function whose effect outlives the transaction or that runs SQL given as text, and
    (checked by the connector, in the transaction itself) only tables a rollback restores.
    Anything else is refused with the reasons, before a single statement runs.
    """
    bind_context(approval_id=request_id)
    approval = get_request(user, request_id)
    refuse(policy.dry_run_refusal(user, approval), closed=DryRunNotAllowed, unsupported=DryRunNotAllowed)
    statements = verified_statements(approval)
    started = time.monotonic()
    outcome = _in_sandbox_copy(approval, statements)
    if outcome is None:
        outcome = _on_the_source(user, approval, statements, request)
    outcome["took_ms"] = round((time.monotonic() - started) * 1000, 1)
    ApprovalRequest.objects.filter(pk=approval.pk).update(dry_run_result=outcome, dry_run_at=timezone.now())
    record_event("approval.dry_run", actor=user, target=approval, request=request, detail={"ok": outcome["ok"]})
    approval.refresh_from_db()
    return approval


def _in_sandbox_copy(approval: ApprovalRequest, statements: list[BoundStatement]) -> dict[str, Any] | None:
    """Where the source has sandboxes, the dry-run runs in a fresh copy of it (made from
    the golden copy, dropped after): production is not touched at all. None when the
    source has none, or the SQL is not for a sandbox."""
    try:
        tried = dry_run_in_copy(approval.datasource, approval.sql, statements)
    except ConnectorError as error:
        return {"ok": False, "where": "sandbox", "error": {"code": error.code, "message": error.message}}
    except (SandboxUnavailable, SandboxRightsMissing) as error:
        return {"ok": False, "where": "sandbox", "error": {"code": error.code, "message": error.message}}
    if tried is None:
        return None
    return {
        "ok": True,
        "where": "sandbox",
        "golden_refreshed_at": tried.golden_refreshed_at,
        # Counts are those of the copy: a sampled table holds only part of the source's rows.
        "sampled_tables": tried.sampled_tables,
        "statements": statement_results(approval, tried.affected),
        "changes": tried.changes,
    }


def _on_the_source(
    user: User, approval: ApprovalRequest, statements: list[BoundStatement], request: ClientRequest | None
) -> dict[str, Any]:
    datasource = approval.datasource
    # Sandboxes on let a request be dry-run (policy.dry_run_refusal); on the source itself
    # only if the administrator turned dry-runs on, and only data changes.
    if not datasource.dry_run_enabled or set(approval.write_kinds) != {"dml"}:
        raise DryRunNotAllowed(
            "This cannot be dry-run in a sandbox copy, and dry-runs of data changes on the source itself are off."
        )
    reasons = side_effect_calls(approval.sql, datasource.engine)
    if reasons:
        _refuse_dry_run(user, approval, reasons, request)
    try:
        affected = connector_for(datasource, CredentialRole.OWNER).dry_run(statements, datasource.statement_timeout_ms)
    except DryRunUnsafe as error:
        _refuse_dry_run(user, approval, error.reasons, request)
        raise  # not reached: the refusal raises
    except ConnectorError as error:
        return {"ok": False, "where": "source", "error": {"code": error.code, "message": error.message}}
    return {"ok": True, "where": "source", "statements": statement_results(approval, affected)}


def _refuse_dry_run(user: User, approval: ApprovalRequest, reasons: list[str], request: ClientRequest | None) -> None:
    record_event(
        "approval.dry_run_refused", actor=user, target=approval, request=request, detail={"reasons": reasons[:20]}
    )
    shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    raise DryRunRefused(
        f"This cannot be dry-run on the real data source: a rollback would not undo everything it does ({shown}).",
        details={"reasons": reasons},
    )
