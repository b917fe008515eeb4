"""What the notifications app refuses or fails with; each code's HTTP status is in querybase/errors.py."""

from querybase.errors import NotFound, QueryBaseError


class NotificationNotFound(NotFound):
    """No such notification of the user's."""


class WebhookRefused(QueryBaseError):
    """The URL may not be called: malformed, ambiguous, or outside the allowlist."""

    code = "webhook_refused"
