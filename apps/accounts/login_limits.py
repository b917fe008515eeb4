"""How long a username and a password given to a login may be.

A username longer than any account can have, or a password longer than anyone types, is
bad input: it is refused with its own clear answer (400) before the account is looked up,
the login throttle is asked or a password is hashed, by the JWT serializer, the dashboard's
and the admin's login forms (`apps/accounts/forms.py`) and, behind them, the one
authentication backend. Without a bound, every such login cost a database lookup and a full
PBKDF2 hash (of the dummy password Django hashes for an unknown user), and took a place in
the throttle's logs with a 100,000-character key.
"""

from django.core.exceptions import ValidationError

# AbstractUser.username's max_length (the model cannot be imported before the apps are ready).
USERNAME_MAX_LENGTH = 150
# Django's own bound from 2013 to 2015; no password manager makes anything near it.
PASSWORD_MAX_LENGTH = 4096


def is_overlong(username: str, password: str) -> bool:
    """True when either is beyond what a login takes."""
    return len(username) > USERNAME_MAX_LENGTH or len(password) > PASSWORD_MAX_LENGTH


class MaximumLengthValidator:
    """AUTH_PASSWORD_VALIDATORS' bound: no password is set that a login would refuse."""

    def validate(self, password: str, user=None) -> None:
        if len(password) > PASSWORD_MAX_LENGTH:
            raise ValidationError(
                f"This password is too long: it has at most {PASSWORD_MAX_LENGTH} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password can have at most {PASSWORD_MAX_LENGTH} characters."
