"""Dashboard (session) logins reach the audit log through Django's auth signals."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from apps.accounts.services import record_failed_login, record_login


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs) -> None:
    record_login(user, request=request, method="session")


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request=None, **kwargs) -> None:
    # Only session logins are recorded here; the JWT view records its own, with its method.
    if request is not None and request.path.startswith("/api/"):
        return
    record_failed_login(credentials.get("username", ""), request=request, method="session")
