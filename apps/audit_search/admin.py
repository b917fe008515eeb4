from django.contrib import admin
from django.http import HttpRequest
from django.template.defaultfilters import truncatechars

from apps.audit.models import AuditEvent
from apps.audit_search.selectors import Subject, subjects_of

_SUBJECT = "_audit_subject"  # where a row keeps what its event was about


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Searchable, read-only view of the log: nobody adds, edits or deletes here.

    Events about a query run, a write request or a saved query also show its SQL and its
    status now (a request's final outcome), read from the object itself."""

    list_display = (
        "created_at",
        "actor_username",
        "action",
        "object_type",
        "object_repr",
        "sql",
        "final_status",
        "ip_address",
        "request_id",
    )
    list_filter = ("action", "object_type")
    search_fields = ("actor_username", "action", "object_repr", "object_id", "ip_address", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields] + ["subject_sql", "final_status"]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            # One lookup per kind of object for the whole page, kept on the rows themselves
            # (the admin object is shared between requests).
            subjects = subjects_of(changelist.result_list)
            for event in changelist.result_list:
                setattr(event, _SUBJECT, subjects.get(event.pk))
        return response

    def _subject(self, event: AuditEvent) -> Subject | None:
        if not hasattr(event, _SUBJECT):
            setattr(event, _SUBJECT, subjects_of([event]).get(event.pk))
        return getattr(event, _SUBJECT)

    @admin.display(description="SQL")
    def sql(self, event: AuditEvent) -> str:
        subject = self._subject(event)
        return truncatechars(subject.sql, 120) if subject else ""

    @admin.display(description="SQL")
    def subject_sql(self, event: AuditEvent) -> str:
        subject = self._subject(event)
        return subject.sql if subject else ""

    @admin.display(description="Status now")
    def final_status(self, event: AuditEvent) -> str:
        subject = self._subject(event)
        return subject.status if subject else ""

    def has_add_permission(self, request: HttpRequest):
        return False

    def has_change_permission(self, request: HttpRequest, obj=None):
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None):
        return False
