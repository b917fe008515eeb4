"""API key authentication for scripts (`Authorization: Api-Key qb_…`), and JWT with the
user from the cache."""

from django.contrib.auth import get_user_model
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

from apps.accounts.services import user_for_api_key
from apps.accounts.tokens import SESSION_ENDED, SIGN_IN_AGAIN, family_of, issued_under_password, user_id_of
from apps.datasources import rights_cache

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


# Tokens whose signature and claims this process has verified, by their exact bytes.
_VERIFIED_TOKENS: dict[bytes, Token] = {}
_VERIFIED_TOKENS_MAX = 4096


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication with the user read from the rights map in the cache
    (apps/datasources/rights_cache.py), not from the database on every request: the
    rights map carries the user row, and any change to a user replaces it.

    A token's signature is checked once per process: a client sends the same token with
    each request for its whole life, and decoding and verifying it again was a good part
    of a cache hit's Python. The same bytes carry the same claims under the same key, so
    only the expiry is checked again, against the current time. The user must still have
    the password the token was issued under: the map carries a fingerprint of its hash
    (apps/accounts/tokens.py), so a password change ends every token issued before it,
    and whether the token's family was ended for a reused refresh token, so those end at
    once too."""

    def __init__(self) -> None:
        # Not simplejwt's __init__, which looks the user model up on every request (DRF
        # makes the authenticators anew for each): only its get_user, the fallback below,
        # uses it, through the property.
        pass

    @property
    def user_model(self):  # type: ignore[override]
        return get_user_model()

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _VERIFIED_TOKENS.get(raw_token)
        if token is not None:
            try:
                token.check_exp(current_time=aware_utcnow())
                return token
            except TokenError:
                _VERIFIED_TOKENS.pop(raw_token, None)  # expired: refused below with simplejwt's own error
        token = super().get_validated_token(raw_token)
        if len(_VERIFIED_TOKENS) >= _VERIFIED_TOKENS_MAX:
            _VERIFIED_TOKENS.clear()  # a bound, not an LRU: refilling costs one verification per token
        _VERIFIED_TOKENS[raw_token] = token
        return token

    def get_user(self, validated_token: Token):
        try:
            user_id = user_id_of(validated_token)
        except TokenError as error:
            raise InvalidToken(str(error)) from error
        if jwt_settings.USER_ID_FIELD != "id":
            return super().get_user(validated_token)  # the map is keyed by id
        found = rights_cache.rights_map(user_id, family_of(validated_token.payload))
        if found is None:
            raise exceptions.AuthenticationFailed("User not found", code="user_not_found")
        user = rights_cache.user_of(found)
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
        if not issued_under_password(validated_token, found.password_fingerprint):
            raise InvalidToken(SIGN_IN_AGAIN)
        if found.token_family_ended:
            raise InvalidToken(SESSION_ENDED)
        return user
