"""Python SDK for QueryBase, the approval-gated SQL query broker."""

__version__ = "0.1.0"

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
from querybase_client.resources.queries import RunStillPending
from querybase_client.resources.sandboxes import SandboxStillCopying

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
