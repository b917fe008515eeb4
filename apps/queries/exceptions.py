"""What reading SQL refuses or fails with: each error carries its stable code and HTTP status."""

from apps.datasources.connectors.base import (
    ConnectionFailed,
    ConnectionTimedOut,
    ConnectorError,
)
from apps.queries.models import QueryRun
from querybase.errors import NotAllowed, QueryBaseError


class DataSourceNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class RunNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class EmptyQuery(QueryBaseError):
    code = "empty_query"
    status = 400


class ApprovalRequired(QueryBaseError):
    """The SQL is not provably a read: it can only run through an approval request."""

    code = "approval_required"
    status = 409


class InvalidParameters(QueryBaseError):
    code = "invalid_parameters"
    status = 400


class CredentialMaterialRefused(QueryBaseError):
    code = "credential_material"
    status = 403


class ResultNotVisible(QueryBaseError):
    code = "result_not_visible"
    status = 403


class RunNotCancellable(QueryBaseError):
    code = "not_cancellable"
    status = 409


# Failures of the data source itself rather than of the SQL: the gateway's fault, 502.
DATASOURCE_UNAVAILABLE = "datasource_unavailable"


_UPSTREAM_CODES = {DATASOURCE_UNAVAILABLE, "authentication_failed", "credentials_unreadable"}


# A run the worker refused answers with the status the API gives the same refusal.
_REFUSAL_STATUS = {
    error.code: error.status for error in (NotAllowed, EmptyQuery, ApprovalRequired, CredentialMaterialRefused)
}


class QueryError(QueryBaseError):
    """A query the database failed, refused, timed out or cancelled, with the database's message."""

    def __init__(self, code: str, message: str, *, details=None):
        super().__init__(message, details=details)
        self.code = code
        if code in _UPSTREAM_CODES:
            self.status = 502
        elif code == "query_cancelled":
            self.status = 409
        else:
            self.status = _REFUSAL_STATUS.get(code, 400)

    @classmethod
    def of_run(cls, run: QueryRun) -> "QueryError":
        return cls(run.error_code or "query_failed", run.error_message, details={"run": str(run.pk)})

    @classmethod
    def of_connector(cls, error: ConnectorError) -> "QueryError":
        return cls(error_code_of(error), error.message, details={"reason": error.code})


def error_code_of(error: ConnectorError) -> str:
    """The code users see: a source that cannot be reached, or that dropped the connection
    even on a second try, is `datasource_unavailable` whatever the engine said."""
    if isinstance(error, (ConnectionFailed, ConnectionTimedOut)):
        return DATASOURCE_UNAVAILABLE
    return error.code


class TransientSourceError(Exception):
    """Raised to the task so it retries a read that failed to reach its source."""
