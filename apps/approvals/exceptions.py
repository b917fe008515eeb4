"""What write requests refuse or fail with: each error carries its stable code and HTTP status."""

from querybase.errors import NotFound, QueryBaseError


class RequestNotFound(NotFound):
    """No such request, or none the user may see."""


class NotAWrite(QueryBaseError):
    code = "not_a_write"


class WriteKindForbidden(QueryBaseError):
    code = "write_kind_forbidden"


class RequestClosed(QueryBaseError):
    """The request is no longer in a state that allows this."""

    code = "invalid_state"


class DuplicateRequest(QueryBaseError):
    """The same write (text and parameters) is already waiting or running for this requester."""

    code = "duplicate_request"


class AlreadyReviewed(QueryBaseError):
    code = "already_reviewed"


class DryRunNotAllowed(QueryBaseError):
    code = "dry_run_not_allowed"


class DryRunRefused(QueryBaseError):
    """The SQL could leave something behind that a rollback does not undo."""

    code = "dry_run_unsafe"


class ReasonRequired(QueryBaseError):
    """A write request says why it is needed: approvers decide on the reason as much as on the SQL."""

    code = "reason_required"


class CommentRequired(QueryBaseError):
    """A rejection says why, so the requester knows what to change."""

    code = "comment_required"
