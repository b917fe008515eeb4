from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from apps.accounts.models import ApiKey, GroupRights


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Admins can see and revoke keys; keys are issued by their owners through the API."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("user", "name", "prefix", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest):
        return False


class GroupRightsInline(admin.StackedInline):
    model = GroupRights
    can_delete = False
    verbose_name_plural = "QueryBase rights"


# Django's own group admin, with the group's QueryBase rights (the auditor right) on its page.
admin.site.unregister(Group)


@admin.register(Group)
class GroupWithRightsAdmin(GroupAdmin):
    inlines = [GroupRightsInline]
    list_display = ("name", "is_auditor")

    @admin.display(boolean=True, description="auditor")
    def is_auditor(self, group: Group) -> bool:
        return GroupRights.objects.filter(group=group, can_audit=True).exists()
