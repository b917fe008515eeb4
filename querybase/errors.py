"""The root of every domain's exception hierarchy.

Each app raises subclasses with a stable `code` and an HTTP `status`; the API maps
them once, in apps.api.errors, to the JSON error shape.
"""

from typing import Any


class QueryBaseError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowed(QueryBaseError):
    """The user is known but lacks the right for this action."""

    code = "permission_denied"
    status = 403


class InvalidInput(QueryBaseError):
    code = "invalid_request"
    status = 400
