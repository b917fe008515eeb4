"""What the accounts app refuses or fails with; each code's HTTP status is in querybase/errors.py."""

import math

from querybase.errors import NotFound, QueryBaseError


class ApiKeyNotFound(NotFound):
    """No such API key of the user's."""


class LoginThrottled(QueryBaseError):
    code = "too_many_login_attempts"
    # "Attempts", not "failed logins": logins still being checked hold their place too, so
    # many right passwords at the same moment can be refused as well (apps/accounts/throttling.py).

    def __init__(self, retry_after: int):
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many login attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after
