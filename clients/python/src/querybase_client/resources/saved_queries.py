"""Saved queries: named SQL with default parameters."""

from __future__ import annotations

from typing import Any

from querybase_client.models import SavedQuery
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import Transport


class SavedQueries(Resource):
    def __init__(self, transport: Transport, datasources: DataSources):
        super().__init__(transport)
        self._datasources = datasources

    def list(self, *, datasource: SourceRef | None = None, limit: int | None = None) -> list[SavedQuery]:
        params = {"datasource": self._datasources.id_of(datasource) if datasource is not None else None}
        items = self._transport.paginate("/saved-queries", params=params, limit=limit)
        return [SavedQuery.from_api(item) for item in items]

    def get(self, saved_query_id: int) -> SavedQuery:
        return SavedQuery.from_api(self._transport.request("GET", f"/saved-queries/{saved_query_id}"))

    def create(
        self,
        name: str,
        source: SourceRef,
        sql: str,
        *,
        description: str = "",
        default_params: list[Any] | dict[str, Any] | None = None,
        shared_with_groups: list[int] | None = None,
    ) -> SavedQuery:
        body = {
            "name": name,
            "datasource": self._datasources.id_of(source),
            "sql": sql,
            "description": description,
            "default_params": default_params,
            "shared_with_groups": shared_with_groups or [],
        }
        return SavedQuery.from_api(self._transport.request("POST", "/saved-queries", json=body))

    def delete(self, saved_query_id: int) -> None:
        self._transport.request("DELETE", f"/saved-queries/{saved_query_id}")
