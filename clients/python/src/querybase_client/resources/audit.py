"""The audit reports: a record's lifetime, a user's events or a time window, full text.
Auditors and admins see everyone's events; anyone else only their own."""

from __future__ import annotations

from datetime import datetime

from querybase_client.models import AuditEvent
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import Transport


def _moment(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class Audit(Resource):
    def __init__(self, transport: Transport, datasources: DataSources):
        super().__init__(transport)
        self._datasources = datasources

    def records(
        self, datasource: SourceRef, table: str, *, key: str | None = None, limit: int | None = 200
    ) -> list[AuditEvent]:
        """Every run, request, review and execution whose SQL touched `table` on the
        source (and named `key`), oldest first."""
        params = {"datasource": self._datasources.id_of(datasource), "table": table, "key": key}
        return self._events("/audit/records", params, limit)

    def events(
        self,
        *,
        user: str | None = None,
        after: datetime | str | None = None,
        before: datetime | str | None = None,
        datasource: SourceRef | None = None,
        action: str | None = None,
        limit: int | None = 200,
    ) -> list[AuditEvent]:
        """A user's events, or those of a time window, newest first."""
        params = {
            "user": user,
            "after": _moment(after),
            "before": _moment(before),
            "datasource": self._datasources.id_of(datasource) if datasource is not None else None,
            "action": action,
        }
        return self._events("/audit/events", params, limit)

    def search(self, text: str, *, limit: int | None = 200) -> list[AuditEvent]:
        """Events whose SQL, reason, comment or error contains every word of `text`."""
        return self._events("/audit/search", {"q": text}, limit)

    def export_csv(self, report: str, **params) -> bytes:
        """A whole report ('records', 'events' or 'search', with its API parameters:
        datasource, table, key, user, after, before, action, q) as CSV."""
        if report not in ("records", "events", "search"):
            raise ValueError("report must be records, events or search")
        return self._transport.send("GET", f"/audit/{report}", params={**params, "format": "csv"}).content

    def _events(self, path: str, params: dict, limit: int | None) -> list[AuditEvent]:
        params = {**params, "page_size": min(limit or 500, 500)}
        return [AuditEvent.from_api(item) for item in self._transport.paginate(path, params=params, limit=limit)]
