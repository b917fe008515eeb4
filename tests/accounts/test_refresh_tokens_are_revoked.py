"""A password change revokes the refresh tokens issued before it, and a refresh token
works once (it is rotated).

Found by an outside review: a refresh token stayed valid for a day after a password
change.
"""

import pytest
from django.contrib.auth import get_user_model

from tests.support.accounts import admin_resets_password, refresh, token_pair
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def assert_revoked(response) -> None:
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_a_password_change_revokes_refresh_tokens(api_client):
    ana = make_user("ana")
    first, second = token_pair(api_client), token_pair(api_client)
    ana.set_password("a-brand-new-passphrase")
    ana.save()
    assert_revoked(refresh(api_client, first["refresh"]))
    assert_revoked(refresh(api_client, second["refresh"]))
    fresh = token_pair(api_client, password="a-brand-new-passphrase")
    assert refresh(api_client, fresh["refresh"]).status_code == 200


def test_an_admin_resetting_the_password_revokes_refresh_tokens(api_client):
    ana = make_user("ana")
    tokens = token_pair(api_client)
    admin_resets_password(ana, "reset-by-the-admin-42")
    assert_revoked(refresh(api_client, tokens["refresh"]))


def test_saving_the_user_without_a_new_password_revokes_nothing(api_client):
    ana = make_user("ana")
    tokens = token_pair(api_client)
    ana = get_user_model().objects.get(pk=ana.pk)
    ana.email = "ana@example.com"
    ana.save()
    assert refresh(api_client, tokens["refresh"]).status_code == 200


def test_a_refresh_token_is_good_for_one_refresh(api_client, settings):
    settings.QUERYBASE_REFRESH_REUSE_GRACE_SECONDS = 0
    make_user("ana")
    tokens = token_pair(api_client)
    rotated = refresh(api_client, tokens["refresh"])
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != tokens["refresh"]
    assert_revoked(refresh(api_client, tokens["refresh"]))
    # Used again after it was rotated, it ended its login: the token that replaced it too
    # (tests/security/test_a_reused_refresh_token_ends_its_login.py).
    assert_revoked(refresh(api_client, rotated.json()["refresh"]))
