"""Django's model backend, with the failed-login throttle in front of the password check.

Every password login goes through `authenticate()`: the API's JWT view, the dashboard's
login page and Django admin's. Taking the login's place in the throttle's logs here, in
the one backend, covers all three: a refused login never reaches the password. Django
only lets a backend say "no" (PermissionDenied); the reason is left on the request for
the API and the login page, which answer 429 with it. A username or password beyond its
bound (apps/accounts/login_limits.py) is refused before anything: the forms and the JWT
serializer answer it with a 400 of their own, this covers any other caller.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from apps.accounts.exceptions import LoginThrottled
from apps.accounts.login_limits import is_overlong
from apps.accounts.throttling import LoginThrottle, remember_refusal
from apps.audit.services import client_ip
from querybase.types import ClientRequest


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request: ClientRequest | None, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None  # no password to check (ModelBackend's own rule): nothing to throttle
        if is_overlong(str(username), str(password)):
            return None  # no account has it: not looked up, not hashed, not throttled
        throttle = LoginThrottle.from_settings()
        try:
            attempt = throttle.admit(str(username), client_ip(request))
        except LoginThrottled as refusal:
            remember_refusal(request, refusal)
            # PermissionDenied stops every backend and counts as a failed login.
            raise PermissionDenied(refusal.message) from refusal
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            throttle.succeeded(attempt)
        return user
