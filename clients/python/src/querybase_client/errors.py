"""One exception hierarchy for everything the SDK can fail with.

The server answers every error as `{"error": {"code", "message", "details"}}` with a 4xx
or 5xx status. `error_from_response` turns that into the most specific class below, so
callers can catch by family (`NotFoundError`) or look at `code` for the exact reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Annotations only: the CLI imports this module to map errors to exit codes, and
    # `querybase --help` should not pay for loading httpx.
    import httpx

    from querybase_client.models import QueryRun, Sandbox


class QueryBaseError(Exception):
    """The root: anything the SDK raises on purpose."""


class QueryBaseConnectionError(QueryBaseError):
    """The server could not be reached or did not answer in time (no HTTP status)."""


class QueryBaseAPIError(QueryBaseError):
    """The server answered with an error. `code` is the API's stable error code."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "error",
        status: int = 0,
        details: Any = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.message} ({self.code}, HTTP {self.status})" if self.status else f"{self.message} ({self.code})"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details, "status": self.status}


class BadRequestError(QueryBaseAPIError):
    """400 and the other 4xx without a family of their own: the request itself is wrong."""


class AuthenticationError(QueryBaseAPIError):
    """401: no credentials, bad credentials, or tokens that can no longer be refreshed."""


class PermissionDeniedError(QueryBaseAPIError):
    """403: the user is known but may not do this (including `credential_material`)."""


class NotFoundError(QueryBaseAPIError):
    """404: no such object, or none this user may see."""


class ConflictError(QueryBaseAPIError):
    """409: the object is not in a state that allows this (a decided request, a finished run)."""


class ApprovalRequiredError(ConflictError):
    """409 `approval_required`: the SQL is not a read and the submission asked not to
    create a request. `details` holds the classification."""


class QueryFailedError(BadRequestError):
    """The database failed, refused, timed out or the run was cancelled (`query_failed`,
    `query_timeout`, `query_cancelled`, …), with the database's message."""


class RateLimitedError(QueryBaseAPIError):
    """429: too many requests or failed logins; `retry_after` says when to try again."""


class ServerError(QueryBaseAPIError):
    """5xx other than an unreachable source: a server bug or outage."""


class SourceUnavailableError(ServerError):
    """502: the data source could not be reached or refused the broker's credentials."""


class RunStillPending(QueryBaseError):
    """`run(timeout=…)` gave up waiting; the run goes on. Poll it with `wait(run_id)` or
    stop it with `cancel(run_id)`."""

    def __init__(self, run: QueryRun):
        super().__init__(f"Run {run.id} is still {run.status}.")
        self.run = run


class SandboxStillCopying(QueryBaseError):
    """`wait(timeout=…)` gave up; the copy goes on. Wait again, or look with `get`."""

    def __init__(self, sandbox: Sandbox):
        super().__init__(f"Sandbox {sandbox.id} is still being copied ({sandbox.progress or sandbox.state}).")
        self.sandbox = sandbox


# Codes that name their own class whatever the status; the status family decides the rest.
_CLASS_BY_CODE: dict[str, type[QueryBaseAPIError]] = {
    "approval_required": ApprovalRequiredError,
    "query_failed": QueryFailedError,
    "query_timeout": QueryFailedError,
    "query_cancelled": QueryFailedError,
    "datasource_unavailable": SourceUnavailableError,
    "connection_failed": SourceUnavailableError,
    "connection_timeout": SourceUnavailableError,
}

_CLASS_BY_STATUS: dict[int, type[QueryBaseAPIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
    502: SourceUnavailableError,
}


def error_class_for(code: str, status: int) -> type[QueryBaseAPIError]:
    if code in _CLASS_BY_CODE:
        return _CLASS_BY_CODE[code]
    if status in _CLASS_BY_STATUS:
        return _CLASS_BY_STATUS[status]
    if status >= 500:
        return ServerError
    return BadRequestError


def error_from_body(body: Any, status: int, *, retry_after: float | None = None) -> QueryBaseAPIError:
    """The exception for an error body, whatever shape it has: the API's own, or
    something a proxy in front of it produced."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = str(error.get("code") or "error")
        message = str(error.get("message") or f"HTTP {status}")
        details = error.get("details")
    else:
        code, message, details = ("server_error" if status >= 500 else "error"), f"HTTP {status}", body
    return error_class_for(code, status)(message, code=code, status=status, details=details, retry_after=retry_after)


def error_from_response(response: httpx.Response) -> QueryBaseAPIError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:500] or None
    return error_from_body(body, response.status_code, retry_after=_retry_after(response))


def error_from_run(error: dict[str, Any], run_id: str) -> QueryBaseAPIError:
    """A run that finished without a result, as the API would have answered it inline."""
    code = str(error.get("code") or "query_failed")
    status = _RUN_ERROR_STATUS.get(code, 400)
    details = error.get("details") or {"run": run_id}
    return error_class_for(code, status)(str(error.get("message") or code), code=code, status=status, details=details)


# The statuses the API gives the same failures when it answers them inline.
_RUN_ERROR_STATUS = {
    "query_cancelled": 409,
    "approval_required": 409,
    "permission_denied": 403,
    "credential_material": 403,
    "connection_failed": 502,
    "connection_timeout": 502,
    "datasource_authentication_failed": 502,
    "credentials_unreadable": 502,
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
