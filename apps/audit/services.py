"""Writing to the audit log. Every state change in QueryBase calls `record_event`."""

from typing import Any

from django.conf import settings
from django.db import models

from apps.audit.models import AuditEvent

# Keys whose values never reach the log, whatever a caller passes in.
_SECRET_MARKERS = ("password", "secret", "token", "api_key", "ciphertext")
REDACTED = "[redacted]"


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if any(marker in str(key).lower() for marker in _SECRET_MARKERS) else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact(item) for item in value]
    return value


def client_ip(request) -> str | None:
    """The address a request came from, trusting X-Forwarded-For only when configured."""
    if request is None:
        return None
    if settings.QUERYBASE_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def record_event(
    action: str,
    *,
    actor=None,
    target: models.Model | None = None,
    request=None,
    detail: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event. `actor_username` names an actor that is not a user row (a failed login)."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_username=actor.get_username() if is_user else actor_username,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        ip_address=client_ip(request),
        detail=_redact(detail or {}),
    )
