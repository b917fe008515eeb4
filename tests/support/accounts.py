"""Signing in through the API, and an admin resetting a password through Django admin:
the steps the token tests share."""

from django.test import Client

from tests.support.factories import DEFAULT_PASSWORD, make_user


def token_pair(api_client, username: str = "ana", password: str = DEFAULT_PASSWORD) -> dict:
    """The access and refresh tokens `username` gets by signing in."""
    response = api_client.post("/api/v1/auth/token", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def me(api_client, access: str):
    """GET /auth/me with `access` as the bearer token (the client's credentials are left as they were)."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    try:
        return api_client.get("/api/v1/auth/me")
    finally:
        api_client.credentials()


def refresh(api_client, token: str):
    """POST /auth/token/refresh with `token`."""
    return api_client.post("/api/v1/auth/token/refresh", {"refresh": token}, format="json")


def admin_resets_password(user, password: str) -> None:
    """A new admin sets `user`'s password on the admin's password form."""
    make_user("root", is_admin=True)
    admin = Client()
    admin.login(username="root", password=DEFAULT_PASSWORD)
    changed = admin.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": password, "password2": password, "usable_password": "true"},
    )
    assert changed.status_code == 302, changed.content.decode()[:2000]
