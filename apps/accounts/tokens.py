"""JWTs as QueryBase accepts them: simplejwt's, with their claims checked for shape, and
each tied to the password its user had when it was issued.

simplejwt trusts what its own key signed: a user id that is not an id, or an expiry beyond
what a date can hold, raised deep inside it (a 500 on every endpoint and on refresh).
Here such a token is invalid like any other (401). The tokens carry a fingerprint of the
user's password hash (simplejwt's `CHECK_REVOKE_TOKEN` claim, set by `for_user`), so a
password change ends the access tokens issued before it too, not only the refresh tokens
(which are also blacklisted then, `apps.accounts.signals`).

Every token also names its *family*: the login it descends from (the first refresh
token's jti). A refresh token presented again after it was rotated is a sign it was
copied; the whole family is then ended (`apps.accounts.services.revoke_reused_token_family`).
"""

from typing import Any, cast

from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

SIGN_IN_AGAIN = "The user's password has changed since this token was issued; sign in again."
SESSION_ENDED = (
    "This session was ended: a refresh token of it was used again after it had been replaced "
    "(a sign it was copied). Sign in again."
)
FAMILY_CLAIM = "family"
# The largest id a BigAutoField holds: a larger one makes the database refuse the lookup.
_LARGEST_USER_ID = 2**63 - 1


def user_id_of(token: tokens.Token) -> int:
    """The id of the user `token` names. simplejwt writes it as a string of digits; a
    number is accepted too, anything else is not a token of ours (TokenError)."""
    value: Any = token.payload.get(api_settings.USER_ID_CLAIM)
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= _LARGEST_USER_ID:
        raise TokenError("Token contained no recognizable user identification")
    return int(text)


def family_of(payload: dict[str, Any]) -> str:
    """The login a token descends from. A token issued before families were named is a
    family of its own (its jti), as its first rotation makes it (`RefreshToken.set_jti`)."""
    return str(payload.get(FAMILY_CLAIM) or payload.get(api_settings.JTI_CLAIM) or "")


def issued_under_password(token: tokens.Token, fingerprint: str) -> bool:
    """Was `token` issued while its user's password hash had this fingerprint?"""
    return token.payload.get(api_settings.REVOKE_TOKEN_CLAIM) == fingerprint


class _CheckedClaims(tokens.Token):
    def verify(self) -> None:
        super().verify()
        user_id_of(self)

    def check_exp(self, claim: str = "exp", current_time=None) -> None:
        try:
            super().check_exp(claim, current_time)
        except (OverflowError, OSError, ValueError, TypeError) as error:
            # datetime.fromtimestamp of a number no date can hold (1e300).
            raise TokenError(f"Token '{claim}' claim is not a time") from error


class AccessToken(_CheckedClaims, tokens.AccessToken):
    pass


# mypy sees BlacklistMixin's and Token's for_user typed differently; at run time it is
# BlacklistMixin's, as in simplejwt's own RefreshToken (the mixin adds only verify and check_exp).
class RefreshToken(_CheckedClaims, tokens.RefreshToken):  # type: ignore[misc]
    access_token_class = AccessToken

    def set_jti(self) -> None:
        # simplejwt rotates a refresh token by giving the one presented a new jti, keeping
        # every other claim (TokenRefreshSerializer), and an access token copies its refresh
        # token's claims: the family, named after the first jti, reaches every descendant.
        first = self.payload.get(api_settings.JTI_CLAIM)
        super().set_jti()
        self.payload.setdefault(FAMILY_CLAIM, first or self.payload[api_settings.JTI_CLAIM])

    def blacklist(self) -> Any:
        """Blacklist the token being rotated, or refuse it if that was done meanwhile.
        simplejwt looks the token up in the blacklist when it reads it and blacklists it
        later, in its refresh (a get_or_create): two refreshes of one token at the same
        moment both passed the look-up and both were rotated, leaving two live branches of
        the login that reuse detection never sees. The row is unique, so only one of them
        creates it; the other is refused as any used token is (TokenError, 401)."""
        # simplejwt 5.5 returns get_or_create's pair, though it is annotated as the row.
        blacklisted, created = cast(tuple[Any, bool], super().blacklist())
        if not created:
            raise TokenError("Token is blacklisted")
        return blacklisted
