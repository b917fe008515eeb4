"""Data sources the user has rights on, and their schema."""

from __future__ import annotations

from querybase_client.errors import NotFoundError
from querybase_client.models import DataSource, Table
from querybase_client.resources.base import Resource

SourceRef = int | str | DataSource


class DataSources(Resource):
    def list(self) -> list[DataSource]:
        return [DataSource.from_api(item) for item in self._transport.paginate("/datasources")]

    def get(self, source: SourceRef) -> DataSource:
        return self.resolve(source)

    def resolve(self, source: SourceRef) -> DataSource:
        """A source by object, id, or name (exact, then case-insensitive; a name made of
        digits is a name first)."""
        if isinstance(source, DataSource):
            return source
        if isinstance(source, int):
            return DataSource.from_api(self._transport.request("GET", f"/datasources/{source}"))
        sources = self.list()
        for matches in (
            [item for item in sources if item.name == source],
            [item for item in sources if item.name.casefold() == source.casefold()],
            [item for item in sources if source.isdigit() and item.id == int(source)],
        ):
            if len(matches) == 1:
                return matches[0]
        raise NotFoundError(
            f"No data source named {source!r} that you have rights on.",
            code="not_found",
            status=404,
            details={"datasource": source, "known": [item.name for item in sources]},
        )

    def id_of(self, source: SourceRef) -> int:
        """The id to send, asking the server only when given a name."""
        if isinstance(source, DataSource):
            return source.id
        if isinstance(source, int):
            return source
        return self.resolve(source).id

    def schema(self, source: SourceRef) -> list[Table]:
        body = self._transport.request("GET", f"/datasources/{self.id_of(source)}/schema")
        tables = body.get("tables", []) if isinstance(body, dict) else body
        return [Table.from_api(table) for table in tables]
