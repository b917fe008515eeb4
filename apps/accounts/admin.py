from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest, HttpResponse

from apps.accounts import admin_audit
from apps.accounts.forms import AdminLoginForm
from apps.accounts.models import ApiKey, GroupRights
from apps.audit.services import record_event
from apps.datasources import services as datasource_services
from apps.datasources.models import DataSourcePermission
from querybase.types import signed_in_user


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


class DataSourceRightsInline(admin.StackedInline):
    # Stacked, not tabular: each checkbox gets a label of its own (screen readers).
    model = DataSourcePermission
    extra = 1
    verbose_name = "right on a data source"
    verbose_name_plural = "Rights on data sources (what members may read, request and approve)"


# The admin's login page refuses an overlong username or password before authenticate(),
# with a 400 as the dashboard's does (the admin's own view answers a refused form 200).
admin.site.login_form = AdminLoginForm
_admin_login = admin.site.login


def _login_answering_400_to_overlong(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    response = _admin_login(request, extra_context)
    form = (getattr(response, "context_data", None) or {}).get("form")
    if isinstance(form, AdminLoginForm) and form.is_bound and form.is_overlong():
        response.status_code = 400
    return response


admin.site.login = _login_answering_400_to_overlong  # type: ignore[method-assign]
admin.site.unregister(Group)
admin.site.unregister(User)
admin_audit.install()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's, with group membership changes in the audit log by name: groups are where a
    user's rights come from, and the admin's own record only says "Groups" changed."""

    def save_related(self, request: HttpRequest, form, formsets, change) -> None:
        before = set(form.instance.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        after = set(form.instance.groups.values_list("name", flat=True))
        if before != after:
            record_event(
                "user.groups_changed",
                actor=request.user,
                target=form.instance,
                request=request,
                detail={"added": sorted(after - before), "removed": sorted(before - after)},
            )


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """A group's rights in QueryBase are its rights on data sources and the auditor right.
    Django's model permissions grant no data access (being staff administers, nothing more),
    so the form leaves them out rather than offer a list of checkboxes that look like access
    and are not."""

    fields = ("name",)
    filter_horizontal = ()
    inlines = [DataSourceRightsInline, GroupRightsInline]
    list_display = ("name", "is_auditor")

    @admin.display(boolean=True, description="auditor")
    def is_auditor(self, group: Group) -> bool:
        return GroupRights.objects.filter(group=group, can_audit=True).exists()

    def save_formset(self, request: HttpRequest, form, formset, change) -> None:
        # Rights changed here are audited as they are from the data source's own form.
        super().save_formset(request, form, formset, change)
        if formset.model is not DataSourcePermission:
            return
        actor = signed_in_user(request)
        for permission in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            datasource_services.record_permission_change(permission, actor=actor, request=request)
        for permission in formset.deleted_objects:
            datasource_services.record_permission_change(permission, actor=actor, request=request, deleted=True)
