from django.contrib import admin, messages
from django.http import HttpRequest

from apps.sandboxes import lifecycle
from apps.sandboxes.exceptions import SandboxError
from apps.sandboxes.golden import refresh_golden
from apps.sandboxes.models import GoldenCopy, Sandbox
from querybase.types import signed_in_user


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    """Every sandbox with its size and last use; deleting drops the copy for real."""

    list_display = ("id", "datasource", "owner", "state", "size_bytes", "last_used_at", "created_at")
    list_filter = ("state", "datasource")
    search_fields = ("owner__username", "database_name")
    readonly_fields = [field.name for field in Sandbox._meta.fields]
    actions = ["drop_sandboxes"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # rows stay as history; the action below drops the copies

    @admin.action(description="Drop the selected sandboxes")
    def drop_sandboxes(self, request: HttpRequest, queryset) -> None:
        for sandbox in queryset:
            try:
                lifecycle.delete_sandbox(signed_in_user(request), sandbox.pk, request=request)
            except SandboxError as error:
                self.message_user(request, f"{sandbox}: {error.message}", messages.ERROR)


@admin.register(GoldenCopy)
class GoldenCopyAdmin(admin.ModelAdmin):
    list_display = ("database_name", "datasource", "is_current", "size_bytes", "refreshed_at", "dropped_at")
    list_filter = ("is_current", "datasource")
    readonly_fields = [field.name for field in GoldenCopy._meta.fields]
    actions = ["refresh_from_source"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Refresh from the source")
    def refresh_from_source(self, request: HttpRequest, queryset) -> None:
        for datasource in {golden.datasource for golden in queryset}:
            try:
                refresh_golden(datasource, actor=signed_in_user(request))
            except SandboxError as error:
                self.message_user(request, f"{datasource}: {error.message}", messages.ERROR)
