"""A run's end in the audit log: `query.finished`, with the status and the error.

The `query.run` event is written when the run is made, before its outcome is known; this
second event, in the same transaction as the status change, says how it ended, so the
audit search can tell succeeded from failed runs and show their errors.
"""

from typing import Any

from apps.audit.models import AuditEvent
from apps.audit.services import new_event, record_event
from apps.queries.models import QueryRun


def record_run_end(run: QueryRun, status: str, fields: dict[str, Any]) -> None:
    """Call inside the transaction that moved `run` to `status` (`then=` of the move)."""
    record_event("query.finished", actor=run.user, target=run, detail=_detail(run, status, fields))


def run_end_event(run: QueryRun, status: str, fields: dict[str, Any]) -> AuditEvent:
    """The same event, not yet saved: for the move that inserts it in its own statement
    (`record=` of the move; call `events_written` after)."""
    return new_event("query.finished", actor=run.user, target=run, detail=_detail(run, status, fields))


def _detail(run: QueryRun, status: str, fields: dict[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {"status": status, "datasource": run.datasource_id}
    for name in ("error_code", "error_message", "row_count", "truncated", "duration_ms"):
        if fields.get(name) not in (None, ""):
            detail[name] = fields[name]
    if run.sandbox_id is not None:
        detail["sandbox"] = run.sandbox_id
    return detail
