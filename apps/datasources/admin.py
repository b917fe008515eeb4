from django import forms
from django.contrib import admin, messages

from apps.datasources import services
from apps.datasources.models import DataSource, DataSourcePermission, WriteKind

LEAST_PRIVILEGE_NOTE = (
    "Give QueryBase least-privilege credentials: reads use the read-only user when one "
    "is set (grant it SELECT only), writes use the main user. A read-only transaction "
    "does not stop functions such as pg_read_file, lo_export or dblink, nor MySQL's "
    "INTO OUTFILE: the database grants are the last wall."
)


class DataSourceAdminForm(forms.ModelForm):
    """Passwords are write-only: the form never renders the stored value."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the stored password.",
    )
    clear_password = forms.BooleanField(required=False, help_text="Remove the stored password.")
    read_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Password of the read-only user. Leave empty to keep the stored one.",
    )
    chat_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        max_length=1000,
        help_text="Google Chat incoming webhook for this source's requests (else the global one).",
    )
    allowed_write_kinds = forms.MultipleChoiceField(
        choices=WriteKind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = DataSource
        fields = [
            "name",
            "description",
            "engine",
            "is_active",
            "host",
            "port",
            "database",
            "username",
            "read_username",
            "statement_timeout_ms",
            "max_rows",
            "cache_ttl_seconds",
            "approvals_required",
            "allowed_write_kinds",
            "dry_run_enabled",
            "chat_webhook_url",
        ]

    def clean(self):
        cleaned = super().clean()
        errors = services.config_errors(
            engine=cleaned.get("engine"),
            host=cleaned.get("host") or "",
            port=cleaned.get("port"),
            database=cleaned.get("database") or "",
            chat_webhook_url=cleaned.get("chat_webhook_url") or "",
        )
        for field, message in errors.items():
            self.add_error(field, message)
        return cleaned

    def datasource_fields(self) -> dict:
        """The changed fields, in the form the data source services take."""
        model_fields = {field.name for field in DataSource._meta.fields}
        fields = {name: self.cleaned_data[name] for name in self.changed_data if name in model_fields}
        if self.cleaned_data.get("password"):
            fields["password"] = self.cleaned_data["password"]
        elif self.cleaned_data.get("clear_password"):
            fields["password"] = ""
        if self.cleaned_data.get("read_password"):
            fields["read_password"] = self.cleaned_data["read_password"]
        return fields


class PermissionInline(admin.TabularInline):
    model = DataSourcePermission
    extra = 1


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceAdminForm
    inlines = [PermissionInline]
    list_display = ("name", "engine", "host", "database", "is_active", "has_password", "updated_at")
    list_filter = ("engine", "is_active")
    search_fields = ("name", "host", "database", "description")
    actions = ["test_connections"]
    fieldsets = (
        (None, {"fields": ("name", "description", "engine", "is_active")}),
        ("Connection", {"fields": ("host", "port", "database", "username", "password", "clear_password")}),
        ("Read-only credentials", {"description": LEAST_PRIVILEGE_NOTE, "fields": ("read_username", "read_password")}),
        (
            "Limits and approvals",
            {
                "fields": (
                    "statement_timeout_ms",
                    "max_rows",
                    "cache_ttl_seconds",
                    "approvals_required",
                    "allowed_write_kinds",
                    "dry_run_enabled",
                    "chat_webhook_url",
                )
            },
        ),
    )

    @admin.display(boolean=True)
    def has_password(self, obj: DataSource) -> bool:
        return obj.has_password

    def save_model(self, request, obj: DataSource, form: DataSourceAdminForm, change: bool) -> None:
        fields = form.datasource_fields()
        if change:
            # The form has already copied its values onto `obj`; compare against the stored row.
            stored = DataSource.objects.get(pk=obj.pk)
            services.update_datasource(stored, actor=request.user, fields=fields, request=request)
        else:
            obj.created_by = request.user
            services.create_datasource(actor=request.user, fields=fields, request=request, datasource=obj)

    def delete_model(self, request, obj: DataSource) -> None:
        services.delete_datasource(obj, actor=request.user, request=request)

    def delete_queryset(self, request, queryset) -> None:
        for datasource in queryset:
            services.delete_datasource(datasource, actor=request.user, request=request)

    def save_formset(self, request, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        for permission in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            services.record_permission_change(permission, actor=request.user, request=request)
        for permission in formset.deleted_objects:
            services.record_permission_change(permission, actor=request.user, request=request, deleted=True)

    @admin.action(description="Test connection")
    def test_connections(self, request, queryset) -> None:
        for datasource in queryset:
            result = services.test_datasource(datasource, actor=request.user, request=request)
            if result.ok:
                self.message_user(
                    request,
                    f"{datasource}: connected ({result.server_version}, {result.took_ms} ms).",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, f"{datasource}: {result.error_code}: {result.message}", messages.ERROR)


@admin.register(DataSourcePermission)
class DataSourcePermissionAdmin(admin.ModelAdmin):
    list_display = ("datasource", "group", "can_read", "can_write", "can_approve")
    list_filter = ("datasource", "group", "can_read", "can_write", "can_approve")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.record_permission_change(obj, actor=request.user, request=request)

    def delete_model(self, request, obj) -> None:
        services.record_permission_change(obj, actor=request.user, request=request, deleted=True)
        super().delete_model(request, obj)
