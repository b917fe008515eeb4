"""API key authentication for scripts: `Authorization: Api-Key qb_…`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from apps.accounts.services import user_for_api_key

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, secret = header.partition(" ")
        if keyword != KEYWORD:
            return None
        user = user_for_api_key(secret.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """Describes API keys in the OpenAPI schema (drf-spectacular finds it by its target)."""

    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": f"{KEYWORD} qb_…"}
