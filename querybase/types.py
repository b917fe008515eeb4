"""Types for annotations shared by every app: a user as the code meets one, and the
requests an action arrives with."""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

# Whoever made a request, signed in or not. Questions of rights take this and answer "no"
# for an anonymous or deactivated user; use cases that act for someone take a `User`.
AnyUser = User | AnonymousUser

# The request an action came with, kept for its audit record (client address, request id):
# a page's or the API's.
ClientRequest = HttpRequest | Request


class SignedInHttpRequest(HttpRequest):
    """A page request behind `login_required`: its user is signed in. For annotations only
    (the pattern django-stubs documents); nothing of this class is ever made."""

    user: User  # type: ignore[assignment]


class SignedInRequest(Request):
    """An API request that passed `IsAuthenticated` (the API's default permission): its
    user is signed in. For annotations only."""

    user: User  # type: ignore[assignment]


def signed_in_user(request: ClientRequest) -> User:
    """The user of a request that a permission (IsAuthenticated, the admin site) has already
    let in only when signed in: for the few places whose request type cannot say so."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
