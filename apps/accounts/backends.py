"""Django's model backend, refusing logins while the account or address is locked out.

Every password login goes through `authenticate()`: the API's JWT view, the dashboard's
login page and Django admin's. Refusing here covers all three; the first two also check
first themselves, to answer 429 with a clear message instead of a plain failure.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from apps.accounts.throttling import LoginThrottle
from apps.audit.services import client_ip


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        throttle = LoginThrottle.from_settings()
        if throttle.retry_after(username, client_ip(request)) is not None:
            # PermissionDenied stops every backend and counts as a failed login.
            raise PermissionDenied("Too many failed logins.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and username:
            throttle.succeeded(username)
        return user
