"""Writing to the audit log. Every state change in QueryBase calls `record_event`."""

import ipaddress
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
    """The address a request came from, trusting X-Forwarded-For only when configured.

    Only the entries our own proxies appended are believed: each trusted proxy appends the
    address it saw, so the client is QUERYBASE_TRUSTED_PROXY_HOPS entries from the right.
    Anything further left was written by the client itself, and would let it pick the
    address that keys its login throttle.

    Whatever a header says, only an IP address comes out: the value is stored in an inet
    column and keys the login throttle. A forwarded value that is not one (`unknown`, a
    hostname, garbage) is ignored in favour of the connection's own address."""
    if request is None:
        return None
    if settings.QUERYBASE_TRUST_X_FORWARDED_FOR:
        entries = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        hops = settings.QUERYBASE_TRUSTED_PROXY_HOPS
        forwarded = _ip_address(entries[-hops]) if len(entries) >= hops else None
        if forwarded is not None:
            return forwarded
    return _ip_address(request.META.get("REMOTE_ADDR", ""))


def _ip_address(text: str) -> str | None:
    """`text` as a normalised IP address (a proxy may add :port or [brackets]), or None."""
    text = text.strip()
    candidates = [text]
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        candidates.append(text[1 : text.index("]")])
    elif text.count(":") == 1:  # 192.0.2.1:443
        candidates.append(text.split(":")[0])
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        # A zone (fe80::1%eth0) names an interface of the proxy, and inet refuses it.
        if getattr(address, "scope_id", None) is None:
            return str(address)
    return None


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
    event = new_event(action, actor=actor, target=target, request=request, detail=detail, actor_username=actor_username)
    event.save(force_insert=True)
    return event


def new_event(
    action: str,
    *,
    actor=None,
    target: models.Model | None = None,
    request=None,
    detail: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """The event `record_event` appends, not yet saved: for a caller that writes it in one
    statement with the row it is about (querybase.inserts)."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent(
        actor=actor if is_user else None,
        actor_username=actor.get_username() if is_user else actor_username,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=str(target)[:200] if target is not None else "",
        ip_address=client_ip(request),
        detail=_redact(detail or {}),
    )
