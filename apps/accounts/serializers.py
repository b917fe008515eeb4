from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers as jwt_serializers
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.accounts.login_limits import PASSWORD_MAX_LENGTH, USERNAME_MAX_LENGTH
from apps.accounts.models import ApiKey
from apps.accounts.services import revoke_reused_token_family
from apps.accounts.tokens import (
    SIGN_IN_AGAIN,
    RefreshToken,
    issued_under_password,
    user_id_of,
)
from apps.datasources.rights_cache import password_fingerprint


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


class TokenObtainPairSerializer(jwt_serializers.TokenObtainPairSerializer):
    """simplejwt's login, issuing our tokens: the first of a family (apps/accounts/tokens.py).
    A username or password beyond its bound is a 400 before anything is looked up
    (apps/accounts/login_limits.py); simplejwt's own fields have none."""

    token_class = RefreshToken

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = serializers.CharField(write_only=True, max_length=USERNAME_MAX_LENGTH)
        self.fields["password"] = jwt_serializers.PasswordField(max_length=PASSWORD_MAX_LENGTH)


class TokenRefreshSerializer(jwt_serializers.TokenRefreshSerializer):
    """simplejwt's refresh (rotation, blacklisting), for a token of ours whose user still
    exists, is active and has the password the token was issued under. simplejwt's own
    looks the user up with .get(): a deleted user was a 500. A token refused because it
    was already rotated ends its whole family."""

    token_class = RefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            refresh = self.token_class(attrs["refresh"])
        except TokenError:
            revoke_reused_token_family(attrs["refresh"], request=self.context.get("request"))
            raise  # the view answers 401 invalid_token
        user = get_user_model().objects.filter(pk=user_id_of(refresh)).first()
        if user is None or not jwt_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(self.error_messages["no_active_account"], "no_active_account")
        if not issued_under_password(refresh, password_fingerprint(user.password)):
            raise InvalidToken(SIGN_IN_AGAIN)
        return super().validate(attrs)
