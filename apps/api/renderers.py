"""The API's JSON renderer: DRF's, except that a query result's JSON documents go out
as the engine wrote them (see apps/datasources/connectors/values.py)."""

import uuid
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import JSONRenderer

from apps.datasources.connectors.values import JsonRows, is_json_document_type, json_rows_encoder


class ResultJSONRenderer(JSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        # A run's answer holds its result; a page of results (GET …/results) is one itself.
        top_level = isinstance(data, dict) and "result" not in data
        result = data if top_level else data.get("result") if isinstance(data, dict) else None
        column_types = _document_result_types(result)
        raw = isinstance(result, dict) and isinstance(result.get("rows"), JsonRows)
        if result is None or (column_types is None and not raw):
            return super().render(data, accepted_media_type, renderer_context)
        # Everything but the rows goes through DRF as usual; the rows replace a token no
        # value can contain (a fresh UUID), written with their documents raw.
        token = f"querybase-rows-{uuid.uuid4().hex}"
        tokenised = {**result, "rows": token}
        outer = super().render(
            tokenised if top_level else {**data, "result": tokenised}, accepted_media_type, renderer_context
        )
        rows = result["rows"] if raw else json_rows_encoder(column_types or [])(result["rows"])
        return outer.replace(f'"{token}"'.encode(), rows.encode(), 1)


def _document_result_types(result: Any) -> list[str] | None:
    """The column types of a result holding JSON documents; None for anything else."""
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        return None
    types = [column.get("type", "") for column in result.get("columns") or () if isinstance(column, dict)]
    return types if any(is_json_document_type(type_name) for type_name in types) else None
