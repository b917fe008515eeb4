"""Dashboard (session) logins reach the audit log through Django's auth signals; a new
password revokes the old refresh tokens. (Failed logins are counted by the throttle in
the authentication backend itself, before the password is checked.)"""

from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_init, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from apps.accounts.services import record_failed_login, record_login, revoke_refresh_tokens
from apps.accounts.throttling import refusal_of
from querybase.types import ClientRequest


@receiver(user_logged_in)
def audit_login(sender, request: HttpRequest, user: User, **kwargs) -> None:
    record_login(user, request=request, method="session")


@receiver(user_login_failed)
def audit_failed_login(sender, credentials, request: ClientRequest | None = None, **kwargs) -> None:
    # Only session logins are recorded here; the JWT view records its own, with its method.
    if request is not None and request.path.startswith("/api/"):
        return
    # A login the throttle refused had no password checked: like the API, not a failed login.
    if refusal_of(request) is not None:
        return
    record_failed_login(credentials.get("username", ""), request=request, method="session")


@receiver(post_init, sender=User)
def remember_password_hash(sender, instance, **kwargs) -> None:
    # Not `instance.password`: a user from the rights cache defers the hash, and reading it
    # here would cost every such user a query (None then counts as "changed" on save).
    instance._loaded_password_hash = instance.__dict__.get("password")


@receiver(post_save, sender=User)
def revoke_tokens_on_password_change(sender, instance, created, update_fields=None, **kwargs) -> None:
    """Whoever changed the password (the user, an admin, a script), tokens issued under
    the old one must stop working: a refresh token would otherwise live for a day."""
    if update_fields is not None and "password" not in update_fields:
        return
    # A new user has no tokens yet; the hash is remembered so that saving the same object
    # again (with the same password) revokes nothing.
    if not created and instance.password != getattr(instance, "_loaded_password_hash", instance.password):
        revoke_refresh_tokens(instance)
    instance._loaded_password_hash = instance.password
