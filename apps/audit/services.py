"""Writing to the audit log. Every state change in QueryBase calls `record_event`."""

import ipaddress
import re
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth.models import User
from django.db import models

from apps.audit.models import AuditEvent
from querybase.celery import enqueue_on_commit
from querybase.types import AnyUser, ClientRequest

# Keys whose values never reach the log, whatever a caller passes in.
_SECRET_MARKERS = ("password", "secret", "token", "api_key", "ciphertext")
REDACTED = "[redacted]"
EMBEDDED_INDEX_BUDGET_SECONDS = 2


# SQL is kept in full (the audit search indexes it), except the literals that set or carry
# a password: `PASSWORD 'x'`, `IDENTIFIED [WITH plugin] BY 'x'`, and `password=x` inside a
# connection string (dblink).
_SQL_SECRET_LITERAL = re.compile(
    r"""(\b(?:PASSWORD|IDENTIFIED\s+(?:WITH\s+\S+\s+)?BY)\s*(?:=\s*)?)('(?:[^']|'')*'|"(?:[^"]|"")*")""",
    re.IGNORECASE,
)
_SQL_SECRET_OPTION = re.compile(r"(\bpassword\s*=\s*)([^\s'\"]+)", re.IGNORECASE)


def redact_sql(sql: str) -> str:
    """SQL text with the credentials it would carry replaced by '[redacted]'."""
    sql = _SQL_SECRET_LITERAL.sub(lambda match: f"{match.group(1)}'{REDACTED}'", sql)
    return _SQL_SECRET_OPTION.sub(lambda match: f"{match.group(1)}{REDACTED}", sql)


def _redact_entry(key: str, item: Any) -> Any:
    if any(marker in key.lower() for marker in _SECRET_MARKERS):
        return REDACTED
    if key == "sql" and isinstance(item, str):
        return redact_sql(item)
    return _redact(item)


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _redact_entry(str(key), item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(item) for item in value]
    return value


def client_ip(request: ClientRequest | None) -> str | None:
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
    actor: AnyUser | None = None,
    target: models.Model | None = None,
    request: ClientRequest | None = None,
    detail: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """Append one event. `actor_username` names an actor that is not a user row (a failed
    login). The database writes the event's outbox entry in the same statement (a trigger,
    migrations/audit/0004), so the search store's indexers find every event, however it was
    inserted."""
    event = new_event(action, actor=actor, target=target, request=request, detail=detail, actor_username=actor_username)
    event.save(force_insert=True)
    events_written()
    return event


def new_event(
    action: str,
    *,
    actor: AnyUser | None = None,
    target: models.Model | None = None,
    request: ClientRequest | None = None,
    detail: dict[str, Any] | None = None,
    actor_username: str = "",
) -> AuditEvent:
    """The event `record_event` appends, not yet saved: for a caller that writes it in one
    statement with the row it is about (querybase.inserts; call `events_written` after).
    The event's data source is taken from the target when the caller does not name it, so
    every report can filter by source."""
    user = actor if isinstance(actor, User) else None  # an anonymous actor is named, not linked
    detail = dict(detail or {})
    datasource_id = _datasource_of(target)
    if datasource_id is not None:
        detail.setdefault("datasource", datasource_id)
    request_id = getattr(request, "request_id", None) or structlog.contextvars.get_contextvars().get("request_id", "")
    return AuditEvent(
        actor=user,
        actor_username=user.get_username() if user is not None else actor_username,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        object_repr=_label_of(target),
        ip_address=client_ip(request),
        request_id=str(request_id)[:64],
        detail=_redact(detail),
    )


def events_written() -> None:
    """After events were appended. The embedded default has no beat and no worker: index
    right after the commit, briefly (whatever is left waits for the next event or
    `manage.py audit_indexer`)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        enqueue_on_commit("maintenance.index_audit_outbox", EMBEDDED_INDEX_BUDGET_SECONDS)


def _label_of(target: models.Model | None) -> str:
    """How the log names the object: its `audit_label` where it has one (a run's or a
    request's plain str() carries its status at the time, which reads as the outcome)."""
    if target is None:
        return ""
    return str(getattr(target, "audit_label", None) or target)[:200]


def _datasource_of(target: models.Model | None) -> int | None:
    if target is None:
        return None
    if target._meta.label_lower == "datasources.datasource":
        return target.pk
    value = getattr(target, "datasource_id", None)
    return value if isinstance(value, int) else None
