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
        if not isinstance(result, dict):
            return super().render(data, accepted_media_type, renderer_context)
        # Everything but the rows goes through DRF as usual; rows already written, or
        # holding documents, replace tokens no value can contain (fresh UUIDs), written
        # with their documents raw: the result's own, and each of its statements'.
        rows_of_token: dict[str, str] = {}
        tokenised = _tokenised(result, rows_of_token)
        statements = result.get("statements")
        if isinstance(statements, list):
            entries = [_tokenised(entry, rows_of_token) if isinstance(entry, dict) else entry for entry in statements]
            tokenised = {**tokenised, "statements": entries}
        if not rows_of_token:
            return super().render(data, accepted_media_type, renderer_context)
        outer = super().render(
            tokenised if top_level else {**data, "result": tokenised}, accepted_media_type, renderer_context
        )
        for token, rows in rows_of_token.items():
            outer = outer.replace(f'"{token}"'.encode(), rows.encode(), 1)
        return outer


def _tokenised(result: dict[str, Any], rows_of_token: dict[str, str]) -> dict[str, Any]:
    """`result` with its rows replaced by a token (noted in `rows_of_token` with the rows'
    JSON) where they must be written as they are; else `result` itself."""
    column_types = _document_result_types(result)
    raw = isinstance(result.get("rows"), JsonRows)
    if column_types is None and not raw:
        return result
    token = f"querybase-rows-{uuid.uuid4().hex}"
    rows_of_token[token] = result["rows"] if raw else json_rows_encoder(column_types or [])(result["rows"])
    return {**result, "rows": token}


def _document_result_types(result: Any) -> list[str] | None:
    """The column types of a result holding JSON documents; None for anything else."""
    if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
        return None
    types = [column.get("type", "") for column in result.get("columns") or () if isinstance(column, dict)]
    return types if any(is_json_document_type(type_name) for type_name in types) else None
