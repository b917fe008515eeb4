"""What admins do in Django admin reaches the audit log, whatever the model: every add,
change and delete (one by one or through the list's delete action), with who, from where,
and which fields. Django's own admin history (LogEntry) is kept as it is; it lives in a
table anyone with the app's login may rewrite, so it is no audit trail."""

import json
from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.services import record_event

_stock_log_addition = admin.ModelAdmin.log_addition
_stock_log_change = admin.ModelAdmin.log_change
_stock_log_deletions = admin.ModelAdmin.log_deletions


def _changed_fields(message: Any) -> list[str]:
    """The field names in the admin's change message (a list of {"changed": {"fields": …}},
    or its JSON text), inlines' included; the values are left out (they may be secrets)."""
    if isinstance(message, str):
        try:
            message = json.loads(message) if message else []
        except ValueError:
            return []
    fields: list[str] = []
    for entry in message if isinstance(message, list) else []:
        for change in entry.values() if isinstance(entry, dict) else []:
            name = change.get("name") if isinstance(change, dict) else None
            for field in change.get("fields", []) if isinstance(change, dict) else []:
                fields.append(f"{name}: {field}" if name else str(field))
    return fields


def _record(action: str, request: HttpRequest, obj: models.Model, detail: dict[str, Any]) -> None:
    record_event(action, actor=request.user, target=obj, request=request, detail=detail)


def log_addition(self: admin.ModelAdmin, request: HttpRequest, obj: models.Model, message: Any):
    _record("admin.add", request, obj, {"fields": _changed_fields(message)})
    return _stock_log_addition(self, request, obj, message)


def log_change(self: admin.ModelAdmin, request: HttpRequest, obj: models.Model, message: Any):
    _record("admin.change", request, obj, {"fields": _changed_fields(message)})
    return _stock_log_change(self, request, obj, message)


def log_deletions(self: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet):
    # Called before the rows go, in the deletion's transaction.
    for obj in queryset:
        _record("admin.delete", request, obj, {})
    return _stock_log_deletions(self, request, queryset)


def install() -> None:
    """On every ModelAdmin, ours and Django's (users, groups) alike."""
    admin.ModelAdmin.log_addition = log_addition  # type: ignore[method-assign]
    admin.ModelAdmin.log_change = log_change  # type: ignore[method-assign]
    admin.ModelAdmin.log_deletions = log_deletions  # type: ignore[method-assign]
