"""How the OpenAPI schema describes our own authentication (drf-spectacular)."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from apps.accounts.authentication import KEYWORD


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"`{KEYWORD} qb_…`: a key from POST /api/v1/auth/api-keys.",
        }


class CachedUserJWTScheme(SimpleJWTScheme):
    """JWT as simplejwt describes it: only where the user comes from differs."""

    target_class = "apps.accounts.authentication.CachedUserJWTAuthentication"
