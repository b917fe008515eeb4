"""What write requests refuse or fail with: each error carries its stable code and HTTP status."""

from querybase.errors import QueryBaseError


class RequestNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class NotAWrite(QueryBaseError):
    code = "not_a_write"
    status = 400


class WriteKindForbidden(QueryBaseError):
    code = "write_kind_forbidden"
    status = 403


class RequestClosed(QueryBaseError):
    """The request is no longer in a state that allows this."""

    code = "invalid_state"
    status = 409


class AlreadyReviewed(QueryBaseError):
    code = "already_reviewed"
    status = 409


class DryRunNotAllowed(QueryBaseError):
    code = "dry_run_not_allowed"
    status = 400


class DryRunRefused(QueryBaseError):
    """The SQL could leave something behind that a rollback does not undo."""

    code = "dry_run_unsafe"
    status = 400
