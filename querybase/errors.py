"""The root of every error QueryBase reports, and the one table of what each code means.

Each app raises subclasses of QueryBaseError from its own `exceptions.py`, each with a
stable `code`. STATUS_OF_CODE gives every code its HTTP status, and apps.api.errors
applies it in one place; no class declares a status of its own. A code the table lacks
is a bug that tests/unit/test_error_codes.py catches.
"""

from typing import Any

STATUS_OF_CODE: dict[str, int] = {
    # The request itself is wrong.
    "invalid_request": 400,
    "invalid_parameters": 400,
    "empty_query": 400,
    "not_a_write": 400,
    "reason_required": 400,
    "comment_required": 400,
    "dry_run_not_allowed": 400,
    "dry_run_unsafe": 400,
    "webhook_refused": 400,
    "invalid_configuration": 400,
    "sandbox_error": 400,
    "sandbox_of_another_source": 400,
    "promotion_refused": 400,
    "upload_refused": 400,
    # The database refused or failed the SQL (its own message is shown).
    "query_failed": 400,
    "read_only_violation": 400,
    "query_timeout": 400,
    "row_too_large": 400,
    # Known user, missing right.
    "permission_denied": 403,
    "audit_not_allowed": 403,
    "result_not_visible": 403,
    "shared_query_not_readable": 403,
    "credential_material": 403,
    "querybase_database": 403,
    "credentials_not_least_privilege": 403,
    "write_kind_forbidden": 403,
    "not_sandbox_owner": 403,
    "sandbox_write_refused": 403,
    # No such object (or none the user may know of).
    "not_found": 404,
    "sandbox_not_found": 404,
    # The object is not in a state that allows this.
    "approval_required": 409,
    "invalid_state": 409,
    "already_reviewed": 409,
    "duplicate_request": 409,
    "not_cancellable": 409,
    "query_cancelled": 409,
    "datasource_has_history": 409,
    "sandbox_not_ready": 409,
    "sandboxes_disabled": 409,
    "sandbox_rights_missing": 409,
    "not_a_read": 409,
    # It was there, and is no more.
    "result_expired": 410,
    "sandbox_rows_gone": 410,
    "nothing_to_promote": 409,
    "sql_too_long": 413,
    "upload_too_large": 413,
    "too_many_login_attempts": 429,
    "too_many_streams": 429,
    # QueryBase itself failed.
    "internal_error": 500,
    "worker_lost": 500,
    # The data source failed, not the request: the gateway's fault.
    "datasource_unavailable": 502,
    "datasource_error": 502,
    "connection_failed": 502,
    "connection_lost": 502,
    "connection_timeout": 502,
    "datasource_authentication_failed": 502,
    "credentials_unreadable": 502,
    "sandbox_unavailable": 502,
    "audit_search_unavailable": 503,
    # A part of QueryBase this deployment does not run.
    "live_updates_unavailable": 503,
}


def status_of(code: str) -> int:
    """The HTTP status of `code`. A run's stored error code from an older release may be
    missing from the table: it is a failed request, 400."""
    return STATUS_OF_CODE.get(code, 400)


class QueryBaseError(Exception):
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return status_of(self.code)


class NotAllowed(QueryBaseError):
    """The user is known but lacks the right for this action."""

    code = "permission_denied"


class NotFound(QueryBaseError):
    """No such object, or none the user may know of: the same answer for both."""

    code = "not_found"


class InvalidInput(QueryBaseError):
    code = "invalid_request"
