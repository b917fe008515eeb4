from rest_framework import serializers

from apps.accounts.models import ApiKey


class DataSourceRightsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    engine = serializers.CharField()
    can_read = serializers.BooleanField()
    can_write = serializers.BooleanField()
    can_approve = serializers.BooleanField()


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    # Django allows a user without an address: "" is a valid answer, which `format: email` is not.
    email = serializers.CharField(help_text="E-mail address; empty when none is set.")
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_admin = serializers.BooleanField()
    groups = serializers.ListField(child=serializers.CharField())
    datasources = DataSourceRightsSerializer(many=True)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class IssuedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
