"""What reading SQL refuses or fails with; each code's HTTP status is in querybase/errors.py."""

from apps.datasources.connectors.base import (
    ConnectionFailed,
    ConnectionTimedOut,
    ConnectorError,
)
from apps.queries.models import QueryRun
from querybase.errors import NotFound, QueryBaseError


class DataSourceNotFound(NotFound):
    """No such source, or none the user has any right on."""


class RunNotFound(NotFound):
    """No such run, or none the user may see."""


class ResultPageNotFound(NotFound):
    """A page beyond the last of a result."""


class ResultExpired(QueryBaseError):
    """The run succeeded, but its result is no longer kept (retention, or the store's size bound)."""

    code = "result_expired"


class EmptyQuery(QueryBaseError):
    code = "empty_query"


class ApprovalRequired(QueryBaseError):
    """The SQL is not provably a read: it can only run through an approval request."""

    code = "approval_required"


class InvalidParameters(QueryBaseError):
    code = "invalid_parameters"


class CredentialMaterialRefused(QueryBaseError):
    code = "credential_material"


class ResultNotVisible(QueryBaseError):
    code = "result_not_visible"


class RunNotCancellable(QueryBaseError):
    code = "not_cancellable"


# Failures of the data source itself rather than of the SQL: the gateway's fault, 502.
DATASOURCE_UNAVAILABLE = "datasource_unavailable"


class QueryError(QueryBaseError):
    """A query the database failed, refused, timed out or cancelled, with the database's
    message; or a refusal a worker met, under the code the API gives the same refusal."""

    def __init__(self, code: str, message: str, *, details=None):
        super().__init__(message, details=details)
        self.code = code

    @classmethod
    def of_run(cls, run: QueryRun) -> "QueryError":
        return cls(run.error_code or "query_failed", run.error_message, details={"run": str(run.pk)})

    @classmethod
    def of_connector(cls, error: ConnectorError) -> "QueryError":
        return cls(error_code_of(error), error.message, details={"reason": error.code})


class RowTooLarge(ConnectorError):
    """A row of a read's result larger than QUERYBASE_MAX_ROW_BYTES of JSON: the read
    fails rather than keep it (apps/queries/result_store.ResultBytes)."""

    code = "row_too_large"

    def __init__(self, number: int, size: int, limit: int):
        super().__init__(
            f"Row {number:,} of the result holds {size:,} bytes, over the limit of {limit:,} bytes per row. "
            "Select part of its large values (substring, left) or export the result instead."
        )


def error_code_of(error: ConnectorError) -> str:
    """The code users see: a source that cannot be reached, or that dropped the connection
    even on a second try, is `datasource_unavailable` whatever the engine said."""
    if isinstance(error, (ConnectionFailed, ConnectionTimedOut)):
        return DATASOURCE_UNAVAILABLE
    return error.code


class TransientSourceError(Exception):
    """Raised to the task so it retries a read that failed to reach its source."""


class TooLongToAnalyze(QueryBaseError):
    code = "sql_too_long"


class SavedQueryNotFound(NotFound):
    """No such saved query, or none the user may see."""


class SharedQueryNotReadable(QueryBaseError):
    """A share link's saved query, asked for by someone who may not read its source: the
    link gives its text only to readers of the source. `datasource` says whose rights to ask for."""

    code = "shared_query_not_readable"

    def __init__(self, message: str, *, datasource) -> None:
        super().__init__(message)
        self.datasource = datasource
