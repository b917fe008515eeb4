"""Read-side questions about the audit log."""

from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from apps.queries.models import QueryRun, SavedQuery


@dataclass(frozen=True)
class Subject:
    """What an event was about, as it is now: its SQL and its final (or current) status."""

    sql: str
    status: str


# The kinds of objects whose events carry SQL, by the event's object_type.
_SQL_MODELS = {
    "queries.queryrun": QueryRun,
    "approvals.approvalrequest": ApprovalRequest,
    "queries.savedquery": SavedQuery,
}


def subjects_of(events: Iterable[AuditEvent]) -> dict[int, Subject]:
    """For each event about a query run, a write request or a saved query (by event id):
    the SQL and the status now. One query per kind of object, not one per event."""
    wanted: dict[str, set[str]] = defaultdict(set)
    events = list(events)
    for event in events:
        if event.object_type in _SQL_MODELS and event.object_id:
            wanted[event.object_type].add(event.object_id)
    found: dict[tuple[str, str], Subject] = {}
    for object_type, ids in wanted.items():
        model = _SQL_MODELS[object_type]
        for obj in model._default_manager.filter(pk__in=_valid_keys(model, ids)):
            found[(object_type, str(obj.pk))] = Subject(sql=getattr(obj, "sql", ""), status=getattr(obj, "status", ""))
    return {
        event.pk: found[(event.object_type, event.object_id)]
        for event in events
        if (event.object_type, event.object_id) in found
    }


def _valid_keys(model, ids: set[str]) -> list:
    """The ids that can be keys of `model` (a malformed id matches nothing, it never errs)."""
    keys = []
    for value in ids:
        with suppress(ValidationError):  # not a key of this model
            keys.append(model._meta.pk.to_python(value))
    return keys
