"""The dashboard's and the admin's login forms: Django's, with the length bounds enforced.

Django's AuthenticationForm sets the username's max_length after the field is made, which
only writes the page input's `maxlength`: a longer username posted directly still reached
authenticate(). These forms refuse it (and an overlong password) as field errors, before
authenticate() is called (`apps/accounts/login_limits.py`)."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator

from apps.accounts.login_limits import PASSWORD_MAX_LENGTH, USERNAME_MAX_LENGTH


class BoundedLoginFields:
    """Bounds the username and password fields of a Django login form."""

    fields: dict

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for name, limit in (("username", USERNAME_MAX_LENGTH), ("password", PASSWORD_MAX_LENGTH)):
            self.fields[name].max_length = limit
            self.fields[name].validators.append(MaxLengthValidator(limit))

    def is_overlong(self) -> bool:
        """Whether the form was refused for a field beyond its bound."""
        return any(self.has_error(name, "max_length") for name in ("username", "password"))  # type: ignore[attr-defined]


class LoginForm(BoundedLoginFields, AuthenticationForm):
    pass


class AdminLoginForm(BoundedLoginFields, AdminAuthenticationForm):
    pass
