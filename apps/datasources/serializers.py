from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.datasources.credential_audit import stored_audit_summary
from apps.datasources.models import DataSource, DataSourcePermission, WriteKind, all_write_kinds
from apps.datasources.services import config_errors, sandbox_config_errors


class FindingSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.ChoiceField(choices=["high", "medium", "low"])
    title = serializers.CharField()
    description = serializers.CharField()
    fix = serializers.CharField()


class CredentialAuditSerializer(serializers.Serializer):
    """What the credentials reads use can do beyond reading, worst first."""

    datasource_id = serializers.IntegerField()
    datasource_name = serializers.CharField()
    engine = serializers.CharField()
    credentials = serializers.ChoiceField(choices=["read", "main"], help_text="read: the separate read credentials.")
    login = serializers.CharField()
    findings = FindingSerializer(many=True)
    highest_severity = serializers.CharField(allow_null=True)
    clean = serializers.BooleanField(help_text="No high finding: reads are allowed under require_least_privilege.")
    notes = serializers.ListField(child=serializers.CharField())
    audited_at = serializers.DateTimeField()


class CredentialAuditSummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["not_audited", "clean", "low", "medium", "high"])
    audited_at = serializers.CharField(allow_null=True)
    credentials = serializers.CharField(allow_null=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    warning = serializers.BooleanField(help_text="A high finding stands.")


class DataSourceSerializer(serializers.ModelSerializer):
    """Passwords are write-only: accepted on input, never rendered. Omit a password to
    keep the stored one; send an empty string to clear it."""

    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=1024
    )
    read_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=1024
    )
    allowed_write_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=WriteKind.choices), required=False, allow_empty=True
    )
    sandbox_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, max_length=1024
    )
    sandbox_write_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=WriteKind.choices),
        required=False,
        allow_empty=True,
        help_text="Write kinds sandboxes run (dml, ddl, other); dcl is always refused.",
    )
    has_password = serializers.BooleanField(read_only=True)
    has_sandbox_password = serializers.SerializerMethodField()
    has_read_credentials = serializers.BooleanField(read_only=True)
    credential_audit = serializers.SerializerMethodField()

    class Meta:
        model = DataSource
        fields = [
            "id",
            "name",
            "description",
            "engine",
            "host",
            "port",
            "database",
            "username",
            "password",
            "has_password",
            "read_username",
            "read_password",
            "has_read_credentials",
            "statement_timeout_ms",
            "max_rows",
            "cache_ttl_seconds",
            "approvals_required",
            "allowed_write_kinds",
            "dry_run_enabled",
            "write_outcome_marker",
            "chat_webhook_url",
            "is_active",
            "require_least_privilege",
            "credential_audit",
            "sandbox_enabled",
            "sandbox_host",
            "sandbox_port",
            "sandbox_username",
            "sandbox_password",
            "has_sandbox_password",
            "sandbox_max_rows_per_table",
            "sandbox_idle_ttl_hours",
            "sandbox_pool_size",
            "sandbox_write_kinds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    @extend_schema_field(CredentialAuditSummarySerializer)
    def get_credential_audit(self, datasource: DataSource) -> dict:
        """The stored audit in brief: lists never connect to the sources."""
        return stored_audit_summary(datasource)

    def get_has_sandbox_password(self, datasource: DataSource) -> bool:
        return bool(datasource.sandbox_password_encrypted)

    def validate_allowed_write_kinds(self, value: list[str]) -> list[str]:
        return [kind for kind in all_write_kinds() if kind in value]

    def validate_sandbox_write_kinds(self, value: list[str]) -> list[str]:
        return [kind for kind in all_write_kinds() if kind in value]

    def validate(self, attrs: dict) -> dict:
        def current(name: str):
            return attrs.get(name, getattr(self.instance, name, None) if self.instance else None)

        errors = config_errors(
            engine=current("engine"),
            host=current("host") or "",
            port=current("port"),
            database=current("database") or "",
            chat_webhook_url=current("chat_webhook_url") or "",
        )
        errors.update(
            sandbox_config_errors(
                engine=current("engine"),
                sandbox_host=current("sandbox_host") or "",
                sandbox_write_kinds=current("sandbox_write_kinds") or [],
            )
        )
        if attrs.get("read_password") and not current("read_username"):
            errors["read_password"] = "Set read_username together with read_password."  # noqa: S105
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class DataSourceSummarySerializer(serializers.ModelSerializer):
    """What a non-admin user sees of a source they have rights on."""

    class Meta:
        model = DataSource
        fields = [
            "id",
            "name",
            "description",
            "engine",
            "max_rows",
            "statement_timeout_ms",
            "dry_run_enabled",
            "sandbox_enabled",
        ]
        read_only_fields = fields


class PermissionSerializer(serializers.ModelSerializer):
    group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all())
    group_name = serializers.CharField(source="group.name", read_only=True)

    class Meta:
        model = DataSourcePermission
        fields = ["group", "group_name", "can_read", "can_write", "can_approve"]


class PermissionSetSerializer(serializers.Serializer):
    """The full set of group rights on a source; it replaces what was there."""

    permissions = PermissionSerializer(many=True)

    def validate_permissions(self, value: list[dict]) -> list[dict]:
        groups = [grant["group"].pk for grant in value]
        if len(groups) != len(set(groups)):
            raise serializers.ValidationError("Each group may appear only once.")
        return value


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    nullable = serializers.BooleanField()


class PartitionSerializer(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    parent = serializers.CharField(  # type: ignore[assignment]  # the API's name; DRF takes it off the class
        help_text="The table it is a partition of (schema-qualified if elsewhere)."
    )
    bound = serializers.CharField(help_text="PostgreSQL's partition bound: FOR VALUES …, DEFAULT.")


class IndexSerializer(serializers.Serializer):
    name = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    unique = serializers.BooleanField()
    primary = serializers.BooleanField()


class TableSerializer(serializers.Serializer):
    schema = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["table", "view", "materialized view", "partitioned table", "foreign table"])
    columns = ColumnSerializer(many=True)
    partitions = PartitionSerializer(
        many=True, help_text="A partitioned table's partitions, sub-partitions included; they are not listed as tables."
    )
    indexes = IndexSerializer(many=True)


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    took_ms = serializers.FloatField()
    server_version = serializers.CharField()
    error_code = serializers.CharField()
    message = serializers.CharField()
    credential_audit = CredentialAuditSerializer(allow_null=True)
    audit_error = serializers.CharField(help_text="Why the audit could not run, if it could not.")
    warning = serializers.CharField(help_text="A plain warning while a high finding stands, else empty.")
