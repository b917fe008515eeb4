"""Python SDK for QueryBase, the approval-gated SQL query broker."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from querybase_client.auth import Tokens
    from querybase_client.client import QueryBaseClient
    from querybase_client.errors import (
        ApprovalRequiredError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        NotFoundError,
        PermissionDeniedError,
        QueryBaseAPIError,
        QueryBaseConnectionError,
        QueryBaseError,
        QueryFailedError,
        RateLimitedError,
        RunStillPending,
        SandboxStillCopying,
        ServerError,
        SourceUnavailableError,
    )
    from querybase_client.events import LiveEvent
    from querybase_client.models import (
        Analysis,
        ApiKey,
        ApprovalRequest,
        AuditEvent,
        Classification,
        Column,
        DataSource,
        ExportSummary,
        Profile,
        QueryResult,
        QueryRun,
        Sandbox,
        SavedQuery,
        StatementVerdict,
        Table,
    )

# What `from querybase_client import X` finds, and the module that defines it. They are
# loaded on first use rather than here: every `querybase` command imports this package
# first, and `querybase --help` or a mistyped option should not wait for httpx.
_EXPORTS = {
    "Analysis": "querybase_client.models",
    "ApiKey": "querybase_client.models",
    "ApprovalRequest": "querybase_client.models",
    "ApprovalRequiredError": "querybase_client.errors",
    "AuditEvent": "querybase_client.models",
    "AuthenticationError": "querybase_client.errors",
    "BadRequestError": "querybase_client.errors",
    "Classification": "querybase_client.models",
    "Column": "querybase_client.models",
    "ConflictError": "querybase_client.errors",
    "DataSource": "querybase_client.models",
    "ExportSummary": "querybase_client.models",
    "LiveEvent": "querybase_client.events",
    "NotFoundError": "querybase_client.errors",
    "PermissionDeniedError": "querybase_client.errors",
    "Profile": "querybase_client.models",
    "QueryBaseAPIError": "querybase_client.errors",
    "QueryBaseClient": "querybase_client.client",
    "QueryBaseConnectionError": "querybase_client.errors",
    "QueryBaseError": "querybase_client.errors",
    "QueryFailedError": "querybase_client.errors",
    "QueryResult": "querybase_client.models",
    "QueryRun": "querybase_client.models",
    "RateLimitedError": "querybase_client.errors",
    "RunStillPending": "querybase_client.errors",
    "Sandbox": "querybase_client.models",
    "SandboxStillCopying": "querybase_client.errors",
    "SavedQuery": "querybase_client.models",
    "ServerError": "querybase_client.errors",
    "SourceUnavailableError": "querybase_client.errors",
    "StatementVerdict": "querybase_client.models",
    "Table": "querybase_client.models",
    "Tokens": "querybase_client.auth",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # found once, then an ordinary attribute
    return value


__all__ = [
    "Analysis",
    "ApiKey",
    "ApprovalRequest",
    "ApprovalRequiredError",
    "AuditEvent",
    "AuthenticationError",
    "BadRequestError",
    "Classification",
    "Column",
    "ConflictError",
    "DataSource",
    "ExportSummary",
    "LiveEvent",
    "NotFoundError",
    "PermissionDeniedError",
    "Profile",
    "QueryBaseAPIError",
    "QueryBaseClient",
    "QueryBaseConnectionError",
    "QueryBaseError",
    "QueryFailedError",
    "QueryResult",
    "QueryRun",
    "RateLimitedError",
    "RunStillPending",
    "Sandbox",
    "SandboxStillCopying",
    "SavedQuery",
    "ServerError",
    "SourceUnavailableError",
    "StatementVerdict",
    "Table",
    "Tokens",
]
