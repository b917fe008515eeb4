from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, JsonResponse
from django.urls import path
from django.utils.html import format_html, format_html_join

from apps.datasources import credential_audit, services
from apps.datasources.credential_audit import high_finding_warning, stored_audit_summary
from apps.datasources.exceptions import DataSourceUnavailable
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource, DataSourcePermission, WriteKind
from querybase.types import signed_in_user

LEAST_PRIVILEGE_NOTE = (
    "Give QueryBase least-privilege credentials: reads use the read-only user when one "
    "is set (grant it SELECT only), writes use the main user. A read-only transaction "
    "does not stop functions such as pg_read_file, lo_export or dblink, nor MySQL's "
    "INTO OUTFILE: the database grants are the last wall."
)


AUDIT_NOTE = (
    "The credential audit checks what the credentials reads use can do beyond reading "
    "(superuser, file and program access, signalling other sessions, write grants) and says how "
    "to fix each finding. It runs with the list's “Test connection” and “Audit read credentials” actions, "
    "GET /api/v1/datasources/{id}/credential-audit and manage.py audit_credentials. With "
    "“require least privilege” on, reads are refused until the latest audit has no high finding; "
    "changing the credentials drops the stored audit."
)

SANDBOX_NOTE = (
    "Sandboxes are private writable copies where a user's writes run at once, without approval. "
    "Copies are made from a golden copy refreshed from the source, which is only ever read. "
    "By default they live on the source's own server, made with its main credentials; set a sandbox "
    "server to keep them apart. Those credentials only make and drop copies: users' SQL runs as a "
    "restricted login they create per source, which reaches the sandboxes and nothing else. So they "
    "need to create databases and roles (PostgreSQL: CREATEDB and CREATEROLE; MySQL: CREATE USER and "
    "ALL on the copies' names WITH GRANT OPTION), and no more (not a superuser). Without that, making "
    "a sandbox fails and says which right is missing."
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
    sandbox_password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Password of the sandbox server's user. Leave empty to keep the stored one.",
    )
    sandbox_write_kinds = forms.MultipleChoiceField(
        choices=[choice for choice in WriteKind.choices if choice[0] not in NEVER_IN_SANDBOXES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Access control (GRANT/REVOKE) never runs in a sandbox.",
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
            "write_outcome_marker",
            "chat_webhook_url",
            "require_least_privilege",
            "sandbox_enabled",
            "sandbox_host",
            "sandbox_port",
            "sandbox_username",
            "sandbox_max_rows_per_table",
            "sandbox_idle_ttl_hours",
            "sandbox_pool_size",
            "sandbox_write_kinds",
        ]

    # Sandbox settings left out of a submitted form keep their defaults: a form written
    # before sandboxes existed (a script, a bookmarked POST) still saves.
    SANDBOX_DEFAULTED = ("sandbox_max_rows_per_table", "sandbox_idle_ttl_hours", "sandbox_pool_size")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.SANDBOX_DEFAULTED:
            self.fields[name].required = False

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        for name in self.SANDBOX_DEFAULTED:
            if cleaned.get(name) is None:
                cleaned[name] = getattr(self.instance, name)
        errors = services.config_errors(
            engine=cleaned.get("engine"),
            host=cleaned.get("host") or "",
            port=cleaned.get("port"),
            database=cleaned.get("database") or "",
            chat_webhook_url=cleaned.get("chat_webhook_url") or "",
        )
        errors.update(
            services.sandbox_config_errors(
                engine=cleaned.get("engine"),
                sandbox_host=cleaned.get("sandbox_host") or "",
                sandbox_write_kinds=cleaned.get("sandbox_write_kinds") or [],
            )
        )
        for field, message in errors.items():
            self.add_error(field, message)
        return cleaned

    # What a connection uses: the only fields whose errors stop "Test connection".
    CONNECTION_FIELDS = (
        "engine",
        "host",
        "port",
        "database",
        "username",
        "password",
        "clear_password",
        "read_username",
        "read_password",
    )

    def settings_to_try(self) -> tuple[DataSource | None, dict[str, list[str]]]:
        """The source as the form's values describe it, not saved (call after is_valid()),
        or the errors of its connection fields: the same checks saving makes (host, port,
        database, the engine's own rules). An empty password field keeps the stored one."""
        errors = {
            name: [str(message) for message in messages]
            for name, messages in self.errors.items()
            if name in self.CONNECTION_FIELDS
        }
        if errors:
            return None, errors
        # ModelForm copied the cleaned values onto the instance (never saved here).
        source = self.instance
        if self.cleaned_data.get("password"):
            source.set_password(self.cleaned_data["password"])
        elif self.cleaned_data.get("clear_password"):
            source.set_password("")
        if self.cleaned_data.get("read_password"):
            source.set_read_password(self.cleaned_data["read_password"])
        return source, {}

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
        if self.cleaned_data.get("sandbox_password"):
            fields["sandbox_password"] = self.cleaned_data["sandbox_password"]
        return fields


class PermissionInline(admin.TabularInline):
    model = DataSourcePermission
    extra = 1


@admin.register(DataSource)
class DataSourceAdmin(admin.ModelAdmin):
    form = DataSourceAdminForm
    inlines = [PermissionInline]
    list_display = ("name", "engine", "host", "database", "is_active", "has_password", "credentials", "updated_at")
    list_filter = ("engine", "is_active")
    search_fields = ("name", "host", "database", "description")
    actions = ["test_connections", "audit_credentials"]
    readonly_fields = ("credential_audit_report",)
    fieldsets = (
        (None, {"fields": ("name", "description", "engine", "is_active")}),
        ("Connection", {"fields": ("host", "port", "database", "username", "password", "clear_password")}),
        ("Read-only credentials", {"description": LEAST_PRIVILEGE_NOTE, "fields": ("read_username", "read_password")}),
        (
            "Credential audit",
            {
                "description": AUDIT_NOTE,
                "fields": ("require_least_privilege", "credential_audit_report"),
            },
        ),
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
                    "write_outcome_marker",
                    "chat_webhook_url",
                )
            },
        ),
        (
            "Sandboxes",
            {
                "description": SANDBOX_NOTE,
                "fields": (
                    "sandbox_enabled",
                    "sandbox_host",
                    "sandbox_port",
                    "sandbox_username",
                    "sandbox_password",
                    "sandbox_max_rows_per_table",
                    "sandbox_idle_ttl_hours",
                    "sandbox_pool_size",
                    "sandbox_write_kinds",
                ),
            },
        ),
    )

    @admin.display(boolean=True)
    def has_password(self, obj: DataSource) -> bool:
        return obj.has_password

    @admin.display(description="Credential audit")
    def credentials(self, obj: DataSource) -> str:
        summary = stored_audit_summary(obj)
        if summary["warning"]:
            return format_html("<strong style='color:#ba2121'>{}</strong>", "⚠ HIGH: can do more than read")
        return {"not_audited": "not audited", "clean": "clean"}.get(summary["status"], summary["status"])

    @admin.display(description="Latest audit")
    def credential_audit_report(self, obj: DataSource) -> str:
        """The stored findings, worst first, with their fixes (rendered from the row, no connection)."""
        audit = obj.credential_audit if obj.pk else None
        if not audit:
            return "Not audited since the credentials were last set. Use the action “Audit read credentials”."
        warning = high_finding_warning(audit)
        header = format_html(
            "<p>{} credentials, login {}, audited {}.</p>",
            audit["credentials"].capitalize(),
            audit["login"] or "(none)",
            audit["audited_at"],
        )
        findings = format_html_join(
            "",
            "<li><strong>[{}] {}</strong> ({}): {}<br><code>{}</code></li>",
            (
                (item["severity"].upper(), item["title"], item["code"], item["description"], item["fix"])
                for item in audit["findings"]
            ),
        )
        notes = format_html_join("", "<p>{}</p>", ((note,) for note in audit.get("notes", [])))
        body = format_html("<ul>{}</ul>", findings) if audit["findings"] else "No findings."
        alert = format_html("<p style='color:#ba2121'><strong>{}</strong></p>", warning) if warning else ""
        return format_html("{}{}{}{}", alert, header, body, notes)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        datasource = self.get_object(request, object_id)
        if datasource is not None and request.method == "GET":
            warning = high_finding_warning(datasource.credential_audit)
            if warning:
                self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: DataSource, form: DataSourceAdminForm, change: bool) -> None:
        fields = form.datasource_fields()
        if change:
            # The form has already copied its values onto `obj`; compare against the stored row.
            stored = DataSource.objects.get(pk=obj.pk)
            services.update_datasource(stored, actor=signed_in_user(request), fields=fields, request=request)
        else:
            obj.created_by = signed_in_user(request)
            services.create_datasource(actor=signed_in_user(request), fields=fields, request=request, datasource=obj)

    def delete_model(self, request: HttpRequest, obj: DataSource) -> None:
        services.delete_datasource(obj, actor=signed_in_user(request), request=request)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for datasource in queryset:
            services.delete_datasource(datasource, actor=signed_in_user(request), request=request)

    def save_formset(self, request: HttpRequest, form, formset, change) -> None:
        super().save_formset(request, form, formset, change)
        for permission in [*formset.new_objects, *(obj for obj, _ in formset.changed_objects)]:
            services.record_permission_change(permission, actor=signed_in_user(request), request=request)
        for permission in formset.deleted_objects:
            services.record_permission_change(permission, actor=signed_in_user(request), request=request, deleted=True)

    # The form's "Test connection" button (static/querybase/admin_test_connection.js) posts
    # the form's values here, saved or not, new source or not: the server connects with them
    # and answers JSON that never holds a credential. The list's "Test connection" action
    # tests saved sources, and audits their read credentials.
    def get_urls(self):
        test_connection = self.admin_site.admin_view(self.test_connection_view)
        return [
            path("test-connection/", test_connection, name="datasources_datasource_test_new_connection"),
            path("<path:object_id>/test-connection/", test_connection, name="datasources_datasource_test_connection"),
            *super().get_urls(),
        ]

    def test_connection_view(self, request: HttpRequest, object_id: str | None = None):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        stored = None
        if object_id is not None:
            stored = self.get_object(request, object_id)
            if stored is None or not self.has_change_permission(request, stored):
                raise Http404("No such data source.")
        elif not self.has_add_permission(request):
            raise PermissionDenied
        form = DataSourceAdminForm(data=request.POST, instance=stored or DataSource())
        form.is_valid()  # errors of fields a connection does not use do not stop a test
        source, errors = form.settings_to_try()
        if source is None:
            return JsonResponse(
                {"ok": False, "message": "Fix the connection settings first.", "errors": errors}, status=400
            )
        result = services.test_unsaved_settings(source, stored=stored, actor=signed_in_user(request), request=request)
        if not result.ok:
            return JsonResponse({"ok": False, "error_code": result.error_code, "message": result.message})
        engine = source.get_engine_display()
        return JsonResponse(
            {
                "ok": True,
                "message": f"Connected to {engine}: {result.server_version} ({result.took_ms} ms).",
                "server_version": result.server_version,
                "took_ms": result.took_ms,
            }
        )

    @admin.action(description="Test connection")
    def test_connections(self, request: HttpRequest, queryset) -> None:
        for datasource in queryset:
            self._test_connection(request, datasource)

    def _test_connection(self, request: HttpRequest, datasource: DataSource) -> None:
        check = credential_audit.test_and_audit(datasource, actor=signed_in_user(request), request=request)
        result = check.result
        if result.ok:
            self.message_user(
                request,
                f"{datasource}: connected ({result.server_version}, {result.took_ms} ms).",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, f"{datasource}: {result.error_code}: {result.message}", messages.ERROR)
        self._report_audit(request, datasource, check.audit, check.audit_error)

    @admin.action(description="Audit read credentials")
    def audit_credentials(self, request: HttpRequest, queryset) -> None:
        for datasource in queryset:
            try:
                audit = credential_audit.audit_credentials(datasource, actor=signed_in_user(request), request=request)
            except DataSourceUnavailable as error:
                self._report_audit(request, datasource, None, error.message)
            else:
                self._report_audit(request, datasource, audit, "")

    def _report_audit(self, request: HttpRequest, datasource: DataSource, audit, error: str) -> None:
        if error:
            self.message_user(request, f"{datasource}: credential audit failed: {error}", messages.ERROR)
        elif audit is not None:
            warning = high_finding_warning(audit.as_dict())
            if warning:
                self.message_user(request, f"{datasource}: {warning}", messages.WARNING)
            else:
                level = audit.highest_severity or "no"
                self.message_user(request, f"{datasource}: credential audit: {level} findings.", messages.SUCCESS)


@admin.register(DataSourcePermission)
class DataSourcePermissionAdmin(admin.ModelAdmin):
    list_display = ("datasource", "group", "can_read", "can_write", "can_approve")
    list_filter = ("datasource", "group", "can_read", "can_write", "can_approve")

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        services.record_permission_change(obj, actor=signed_in_user(request), request=request)

    def delete_model(self, request: HttpRequest, obj) -> None:
        services.record_permission_change(obj, actor=signed_in_user(request), request=request, deleted=True)
        super().delete_model(request, obj)
