"""The one place that talks HTTP: JSON in and out, errors mapped, pages followed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from querybase_client.errors import QueryBaseConnectionError, error_from_response

API_PREFIX = "/api/v1"
TimeoutValue = httpx.Timeout | float | None
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Long enough for the server's longest `wait` (60 s by default) plus the answer.
WAITING_TIMEOUT = httpx.Timeout(90.0, connect=10.0)


class Transport:
    """An httpx client bound to one server and one identity.

    Paths are relative to /api/v1. Every non-2xx answer becomes the matching
    QueryBaseAPIError; a network failure becomes QueryBaseConnectionError.
    """

    def __init__(self, http: httpx.Client):
        self.http = http

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        files: dict | None = None,
        data: dict | None = None,
        timeout: TimeoutValue = None,
    ) -> Any:
        response = self.send(method, path, params=params, json=json, files=files, data=data, timeout=timeout)
        return response.json() if response.content else None

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        files: dict | None = None,
        data: dict | None = None,
        timeout: TimeoutValue = None,
    ) -> httpx.Response:
        """The raw response of a successful call, for callers that need its status.
        `files` (with form fields in `data`) sends a multipart body instead of JSON."""
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        if files is not None:
            extra.update(files=files, data=data)
        try:
            response = self.http.request(method, API_PREFIX + path, params=_clean(params), json=json, **extra)
        except httpx.TransportError as error:
            raise QueryBaseConnectionError(f"Could not reach {self.http.base_url}: {error}") from error
        if response.is_error:
            raise error_from_response(response)
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout: TimeoutValue = WAITING_TIMEOUT,
    ) -> Iterator[httpx.Response]:
        """A response whose body is read chunk by chunk by the caller."""
        try:
            with self.http.stream(method, API_PREFIX + path, json=json, headers=headers, timeout=timeout) as response:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as error:
            raise QueryBaseConnectionError(f"The transfer from {self.http.base_url} failed: {error}") from error

    def paginate(self, path: str, *, params: dict | None = None, limit: int | None = None) -> Iterator[dict]:
        """Items of a paginated list (DRF's {count, next, results}), page after page,
        stopping after `limit` items (None: all)."""
        page_params = dict(_clean(params) or {})
        page = 1
        yielded = 0
        while True:
            body = self.request("GET", path, params={**page_params, "page": page})
            items = body.get("results", []) if isinstance(body, dict) else body
            for item in items:
                if limit is not None and yielded >= limit:
                    return
                yield item
                yielded += 1
            if not isinstance(body, dict) or not body.get("next") or not items:
                return
            page += 1

    def close(self) -> None:
        self.http.close()


def _clean(params: dict | None) -> dict | None:
    """Query parameters without the unset ones; booleans as the API spells them."""
    if params is None:
        return None
    cleaned = {}
    for name, value in params.items():
        if value is None:
            continue
        cleaned[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return cleaned
