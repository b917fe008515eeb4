from django.contrib import admin

from apps.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Searchable, read-only view of the log: nobody adds, edits or deletes here."""

    list_display = ("created_at", "actor_username", "action", "object_type", "object_repr", "ip_address", "request_id")
    list_filter = ("action", "object_type")
    search_fields = ("actor_username", "action", "object_repr", "object_id", "ip_address", "request_id")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
