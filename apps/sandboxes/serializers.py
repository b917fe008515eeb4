from datetime import datetime, timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.sandboxes.models import Sandbox


class SandboxSerializer(serializers.ModelSerializer):
    datasource_name = serializers.CharField(source="datasource.name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    golden_refreshed_at = serializers.DateTimeField(
        source="golden.refreshed_at", read_only=True, default=None, allow_null=True
    )
    expires_at = serializers.SerializerMethodField(help_text="When the idle TTL ends if it is not used before.")
    progress = serializers.SerializerMethodField(help_text="While `creating`: what is being done.")
    write_kinds = serializers.ListField(
        source="datasource.sandbox_write_kinds",
        child=serializers.CharField(),
        read_only=True,
        help_text="The kinds of writes its source lets run in a sandbox (dml, ddl, …); an upload needs ddl.",
    )

    class Meta:
        model = Sandbox
        fields = [
            "id",
            "datasource",
            "datasource_name",
            "owner",
            "state",
            "sampled_tables",
            "size_bytes",
            "created_at",
            "copied_at",
            "assigned_at",
            "last_used_at",
            "expires_at",
            "golden_refreshed_at",
            "progress",
            "error_message",
            "write_kinds",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_progress(self, sandbox: Sandbox) -> str | None:
        if sandbox.state != "creating":
            return None
        if sandbox.golden_id is None:
            return "Making the golden copy from the source, then copying it"
        return "Copying the golden copy"

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_expires_at(self, sandbox: Sandbox) -> datetime | None:
        if sandbox.last_used_at is None:
            return None
        return sandbox.last_used_at + timedelta(hours=sandbox.datasource.sandbox_idle_ttl_hours)


class IndexInputSerializer(serializers.Serializer):
    table = serializers.CharField(max_length=200)
    schema = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    columns = serializers.ListField(child=serializers.CharField(max_length=200), min_length=1, max_length=16)
    unique = serializers.BooleanField(required=False, default=False)
    name = serializers.CharField(
        max_length=63,
        required=False,
        allow_blank=True,
        default="",
        help_text="Made from table and columns if left out.",
    )


class PromoteInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    runs = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        max_length=1000,
        help_text="The runs to request, by id; all the sandbox's writes since it was made or reset if left out.",
    )
