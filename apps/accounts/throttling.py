"""Password logins are throttled per account and per client address, on the sliding-window
logs of querybase/rate_limits.py (Redis in production, so every web process counts alike).

Each login takes a place in its account's log and its address's log before the password
is checked, atomically and in both or neither: of any number of concurrent guesses, at
most the limit reach the password check; the rest are refused without it, the right
password included. A login whose password was right is taken out of the logs again, so
what the logs hold is failed logins (and those still being checked). Once a log is
full, logins through it are refused until its oldest failure is
QUERYBASE_LOGIN_LOCKOUT_SECONDS old: at most N guesses per account (or address) in any
such window. An account's limit does not stop the other accounts of the same address;
an address's limit stops everyone behind that address.

Before, the count was read before the password check and written after it: 50 wrong
passwords sent at once all passed the check and were all tried.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings

from apps.accounts.exceptions import LoginThrottled
from querybase.rate_limits import Log, admit, forget, new_member
from querybase.types import ClientRequest

# Where a refused login's reason waits for the view that answers it (the backend can only
# say "no" to Django's authenticate()); django-axes does the same.
_REFUSAL_ATTRIBUTE = "querybase_login_throttled"


@dataclass(frozen=True)
class LoginAttempt:
    """A login admitted to the password check: its place in the logs."""

    member: str
    account_key: str | None
    address_key: str | None


class LoginThrottle:
    #: The clock (epoch seconds); tests replace it instead of sleeping.
    clock = staticmethod(time.time)

    def __init__(self, *, per_account: int, per_address: int, lockout_seconds: int):
        self.per_account = per_account
        self.per_address = per_address
        self.lockout_seconds = lockout_seconds

    @classmethod
    def from_settings(cls) -> "LoginThrottle":
        return cls(
            per_account=settings.QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT,
            per_address=settings.QUERYBASE_LOGIN_FAILURES_PER_ADDRESS,
            lockout_seconds=settings.QUERYBASE_LOGIN_LOCKOUT_SECONDS,
        )

    def admit(self, username: str | None, address: str | None) -> LoginAttempt:
        """A place at the password check for `username` from `address`, or LoginThrottled
        (with the seconds to wait) while the account or the address has had its limit."""
        attempt = LoginAttempt(
            member=new_member(),
            account_key=_key("account", username) if username else None,
            address_key=_key("address", address) if address else None,
        )
        logs = [
            Log(key, limit)
            for key, limit in ((attempt.account_key, self.per_account), (attempt.address_key, self.per_address))
            if key is not None
        ]
        wait = admit(logs, now=self.clock(), window=self.lockout_seconds, member=attempt.member)
        if wait is not None:
            raise LoginThrottled(math.ceil(wait))
        return attempt

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The password was right: the account's count ends, and this login leaves the
        address's log (only this one: a valid account must not reset others' guessing)."""
        if attempt.account_key is not None:
            forget(attempt.account_key)
        if attempt.address_key is not None:
            forget(attempt.address_key, attempt.member)


def _key(scope: str, value: str) -> str:
    # Usernames and addresses may hold anything; keys get a fixed-size digest.
    return f"qb:login:{scope}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


def remember_refusal(request: ClientRequest | None, refusal: LoginThrottled) -> None:
    if request is not None:
        setattr(request, _REFUSAL_ATTRIBUTE, refusal)


def refusal_of(request: ClientRequest | None) -> LoginThrottled | None:
    """Why the throttle refused this request's login, if it did (else it was the password)."""
    return getattr(request, _REFUSAL_ATTRIBUTE, None)
