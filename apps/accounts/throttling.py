"""Failed logins are counted per account and per client address, in the shared cache
(Redis in production, so every web process sees the same counts).

Reaching a limit locks that account, or that address, out for
QUERYBASE_LOGIN_LOCKOUT_SECONDS: every login through it is refused before the password
is even checked, so guessing stops paying off. An account lock does not stop the other
accounts of the same address; an address lock stops everyone behind that address.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from apps.accounts.exceptions import LoginThrottled


@dataclass(frozen=True)
class _Scope:
    name: str  # "account" or "address"
    ident: str
    limit: int


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

    def retry_after(self, username: str | None, address: str | None) -> int | None:
        """Seconds until a login for `username` from `address` is allowed again, or None."""
        now = self.clock()
        waits = [
            until - now
            for scope in self._scopes(username, address)
            if (until := cache.get(self._lock_key(scope))) is not None and until > now
        ]
        return math.ceil(max(waits)) if waits else None

    def check(self, username: str | None, address: str | None) -> None:
        """Raise LoginThrottled while the account or the address is locked out."""
        wait = self.retry_after(username, address)
        if wait is not None:
            raise LoginThrottled(wait)

    def failed(self, username: str | None, address: str | None) -> None:
        """Count one failed login; lock out what reached its limit."""
        now = self.clock()
        window = int(now // self.lockout_seconds)
        for scope in self._scopes(username, address):
            key = f"login-failures:{scope.name}:{scope.ident}:{window}"
            cache.add(key, 0, timeout=self.lockout_seconds)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                count = 1
                cache.set(key, count, timeout=self.lockout_seconds)
            if count >= scope.limit:
                cache.set(self._lock_key(scope), now + self.lockout_seconds, timeout=self.lockout_seconds + 60)

    def succeeded(self, username: str) -> None:
        """A correct password ends the account's count (never the address's: one valid
        account must not reset the guessing of others)."""
        scope = _Scope("account", _ident(username), self.per_account)
        window = int(self.clock() // self.lockout_seconds)
        cache.delete(f"login-failures:{scope.name}:{scope.ident}:{window}")

    def _scopes(self, username: str | None, address: str | None) -> list[_Scope]:
        scopes = []
        if username:
            scopes.append(_Scope("account", _ident(username), self.per_account))
        if address:
            scopes.append(_Scope("address", _ident(address), self.per_address))
        return scopes

    @staticmethod
    def _lock_key(scope: _Scope) -> str:
        return f"login-lockout:{scope.name}:{scope.ident}"


def _ident(value: str) -> str:
    # Usernames and addresses may hold anything; cache keys get a fixed-size digest.
    return hashlib.sha256(value.encode()).hexdigest()[:32]
