"""The CLI's exit statuses: stable, documented in the README, meant for scripts."""

from __future__ import annotations

from enum import IntEnum

from querybase_client.errors import (
    ApprovalRequiredError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueryBaseConnectionError,
    QueryBaseError,
    QueryFailedError,
    RateLimitedError,
    RunStillPending,
    SandboxStillCopying,
    SourceUnavailableError,
)


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # anything not below: a server error, a conflict, a declined confirmation
    USAGE = 2  # bad arguments or options, or input the server found invalid
    AUTH = 3  # not logged in, wrong password, session expired
    NOT_FOUND_OR_FORBIDDEN = 4  # no such source/request/run, or no right to it
    APPROVAL = 5  # the SQL became an approval request, needs one, or is still pending (a sandbox: copying)
    SOURCE_UNAVAILABLE = 6  # the data source could not be reached
    QUERY_FAILED = 7  # the database failed, refused, timed out or cancelled the query
    SERVER_UNREACHABLE = 8  # no answer from the QueryBase server
    RATE_LIMITED = 9  # too many requests or failed logins; try later


# Most specific first: QueryFailedError is a BadRequestError, SourceUnavailableError a ServerError.
_BY_ERROR: tuple[tuple[type[QueryBaseError], ExitCode], ...] = (
    (QueryFailedError, ExitCode.QUERY_FAILED),
    (ApprovalRequiredError, ExitCode.APPROVAL),
    (RunStillPending, ExitCode.APPROVAL),
    (SandboxStillCopying, ExitCode.APPROVAL),
    (AuthenticationError, ExitCode.AUTH),
    (PermissionDeniedError, ExitCode.NOT_FOUND_OR_FORBIDDEN),
    (NotFoundError, ExitCode.NOT_FOUND_OR_FORBIDDEN),
    (SourceUnavailableError, ExitCode.SOURCE_UNAVAILABLE),
    (RateLimitedError, ExitCode.RATE_LIMITED),
    (QueryBaseConnectionError, ExitCode.SERVER_UNREACHABLE),
)

# 400s that mean "what you typed is wrong"; other 400s (a refused dry-run, a write kind the
# source forbids) are refusals, not usage errors.
_INPUT_CODES = frozenset({"invalid_request", "malformed_body", "invalid_parameters", "empty_query"})


def exit_code_for(error: QueryBaseError) -> ExitCode:
    if isinstance(error, BadRequestError) and error.code in _INPUT_CODES:
        return ExitCode.USAGE
    for error_type, code in _BY_ERROR:
        if isinstance(error, error_type):
            return code
    return ExitCode.ERROR
