"""Use cases around identity: API keys, login auditing, and ending JWTs."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from apps.accounts.exceptions import ApiKeyNotFound
from apps.accounts.models import ApiKey
from apps.accounts.tokens import family_of
from apps.audit.services import record_event
from apps.datasources import rights_cache
from querybase.types import ClientRequest

API_KEY_PREFIX = "qb_"
# Keys are 46 characters (the prefix and token_urlsafe(32)); anything much longer is not a
# key, and is refused before it is hashed or looked up.
API_KEY_MAX_LENGTH = 128


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # the only time the plaintext exists


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(user: User, *, name: str, request: ClientRequest | None = None) -> IssuedApiKey:
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(user=user, name=name, prefix=secret[:10], key_hash=hash_api_key(secret))
    record_event("api_key.create", actor=user, target=api_key, request=request, detail={"name": name})
    return IssuedApiKey(api_key=api_key, secret=secret)


def revoke_api_key(user: User, *, api_key_id: int, request: ClientRequest | None = None) -> ApiKey:
    api_key = ApiKey.objects.filter(user=user, id=api_key_id, revoked_at__isnull=True).first()
    if api_key is None:
        raise ApiKeyNotFound("You have no active API key with this id.")
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    record_event("api_key.revoke", actor=user, target=api_key, request=request)
    return api_key


LAST_USED_PRECISION = timedelta(minutes=1)


def user_for_api_key(secret: str):
    """The active user owning an active key, or None."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > API_KEY_MAX_LENGTH:
        return None
    api_key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=hash_api_key(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if api_key is None:
        return None
    # To the minute: a script reading in a loop, or a live stream checking its key again
    # (apps/live/credentials.py), would otherwise write this row on every request.
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key.user


def record_login(user: User, *, request: ClientRequest | None = None, method: str) -> None:
    record_event("auth.login", actor=user, target=user, request=request, detail={"method": method})


def record_failed_login(username: str, *, request: ClientRequest | None = None, method: str) -> None:
    record_event("auth.login_failed", actor_username=username[:150], request=request, detail={"method": method})


def revoke_refresh_tokens(user: User) -> int:
    """Blacklist every unexpired refresh token issued to `user`; returns how many."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).exclude(
        blacklistedtoken__isnull=False
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    if revoked:
        record_event("auth.tokens_revoked", actor=user, target=user, detail={"refresh_tokens": len(revoked)})
    return len(revoked)


def revoke_reused_token_family(raw_token: str, *, request: ClientRequest | None = None) -> int | None:
    """A refresh token refused as blacklisted, of ours and unexpired, that has a younger
    token in its family was rotated already: presented again, it was most likely copied,
    and whoever holds the family now cannot be told apart from its owner. Every refresh
    token of the family is blacklisted, its access tokens are refused from now on
    (`rights_cache.end_token_family`), and the event is audited. Returns how many refresh
    tokens the family holds (all blacklisted now), or None when the token was not a
    reused one (a bad signature, expired, revoked by a password change)."""
    try:
        # Typed as taking a Token; it takes the encoded text, as simplejwt's Token passes it.
        payload = token_backend.decode(raw_token, verify=True)  # type: ignore[arg-type]
    except TokenBackendError:
        return None
    if payload.get(jwt_settings.TOKEN_TYPE_CLAIM) != "refresh":
        return None
    presented = (
        OutstandingToken.objects.select_related("user", "blacklistedtoken")
        .filter(jti=payload.get(jwt_settings.JTI_CLAIM), blacklistedtoken__isnull=False)
        .first()
    )
    user = presented.user if presented is not None else None
    if presented is None or user is None:
        return None
    # Two clients of one login (two CLI commands sharing a profile) may both refresh as
    # the token nears its end: the slower one presents the token the faster one has just
    # rotated. Within QUERYBASE_REFRESH_REUSE_GRACE_SECONDS of its rotation that is
    # refused, as any used token is, without ending the login.
    grace = timedelta(seconds=settings.QUERYBASE_REFRESH_REUSE_GRACE_SECONDS)
    if presented.blacklistedtoken.blacklisted_at > timezone.now() - grace:
        return None
    family = family_of(payload)
    members = [
        token
        for token in OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now())
        if family_of(token_backend.decode(token.token, verify=False)) == family  # type: ignore[arg-type]
    ]
    # Rotation stores each new token after the one it replaced.
    if not any(token.pk > presented.pk for token in members):
        return None
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in members], ignore_conflicts=True)
    rights_cache.end_token_family(user.pk, family)
    record_event(
        "auth.refresh_token_reused",
        actor=user,
        target=user,
        request=request,
        detail={"family": family, "jti": presented.jti, "revoked": len(members)},
    )
    return len(members)
