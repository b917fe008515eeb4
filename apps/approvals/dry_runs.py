"""Use case: an approver tries a pending write in a transaction that is rolled back,
only where the rollback undoes every effect."""

import time

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
from apps.sqlcore.classification import side_effect_calls
from querybase.logs import bind_context
from querybase.types import ClientRequest


def dry_run(user: User, request_id: int, *, request: ClientRequest | None = None) -> ApprovalRequest:
    """Run the DML in a transaction that is rolled back, and keep the affected row counts.

    Only when every effect is undone by the rollback (security invariant 10): no call of a
    function whose effect outlives the transaction or that runs SQL given as text, and
    (checked by the connector, in the transaction itself) only tables a rollback restores.
    Anything else is refused with the reasons, before a single statement runs.
    """
    bind_context(approval_id=request_id)
    approval = get_request(user, request_id)
    refuse(policy.dry_run_refusal(user, approval), closed=DryRunNotAllowed, unsupported=DryRunNotAllowed)
    datasource = approval.datasource
    reasons = side_effect_calls(approval.sql, datasource.engine)
    if reasons:
        _refuse_dry_run(user, approval, reasons, request)
    statements = verified_statements(approval)
    started = time.monotonic()
    try:
        affected = connector_for(datasource, CredentialRole.OWNER).dry_run(statements, datasource.statement_timeout_ms)
        outcome = {"ok": True, "statements": statement_results(approval, affected)}
    except DryRunUnsafe as error:
        _refuse_dry_run(user, approval, error.reasons, request)
    except ConnectorError as error:
        outcome = {"ok": False, "error": {"code": error.code, "message": error.message}}
    outcome["took_ms"] = round((time.monotonic() - started) * 1000, 1)
    ApprovalRequest.objects.filter(pk=approval.pk).update(dry_run_result=outcome, dry_run_at=timezone.now())
    record_event("approval.dry_run", actor=user, target=approval, request=request, detail={"ok": outcome["ok"]})
    approval.refresh_from_db()
    return approval


def _refuse_dry_run(user: User, approval: ApprovalRequest, reasons: list[str], request: ClientRequest | None) -> None:
    record_event(
        "approval.dry_run_refused", actor=user, target=approval, request=request, detail={"reasons": reasons[:20]}
    )
    shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    raise DryRunRefused(
        f"This cannot be dry-run on the real data source: a rollback would not undo everything it does ({shown}).",
        details={"reasons": reasons},
    )
