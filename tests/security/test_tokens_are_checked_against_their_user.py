"""A JWT authenticates only while its user exists, is active and has the password it was
issued under; any token we cannot use is a 401, never a 500.

Found by an outside attack on the shipped server:
- an access token kept working for its whole 15 minutes after its user's password was
  changed (only refresh tokens were revoked), so whoever had stolen one kept the account;
- refreshing the token of a user who had since been deleted was a 500;
- a token signed with the server's key whose user id was not an id, or whose expiry was
  beyond what a date can hold, was a 500 on every endpoint and on refresh.
"""

import time

import jwt
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.support.accounts import admin_resets_password, me, refresh, token_pair
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


def assert_refused(response, *codes: str) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] in codes, response.content


def test_a_password_change_ends_the_access_tokens_issued_before_it(api_client):
    ana = make_user("ana")
    old = token_pair(api_client)
    assert me(api_client, old["access"]).status_code == 200

    ana.set_password("a-brand-new-passphrase")
    ana.save()

    assert_refused(me(api_client, old["access"]), "invalid_token")
    fresh = token_pair(api_client, password="a-brand-new-passphrase")
    assert me(api_client, fresh["access"]).json()["username"] == "ana"


def test_an_admin_resetting_the_password_ends_the_access_tokens_too(api_client):
    ana = make_user("ana")
    old = token_pair(api_client)
    admin_resets_password(ana, "reset-by-the-admin-42")
    assert_refused(me(api_client, old["access"]), "invalid_token")


def test_saving_the_user_with_the_same_password_keeps_the_tokens(api_client):
    ana = make_user("ana")
    tokens = token_pair(api_client)
    ana.first_name = "Ana"
    ana.save()
    assert me(api_client, tokens["access"]).status_code == 200
    assert refresh(api_client, tokens["refresh"]).status_code == 200


def test_a_refresh_token_of_a_deleted_user_is_refused(api_client):
    make_user("ana")
    tokens = token_pair(api_client)
    get_user_model().objects.filter(username="ana").delete()
    assert_refused(refresh(api_client, tokens["refresh"]), "authentication_failed")
    assert_refused(me(api_client, tokens["access"]), "authentication_failed")


def test_a_refresh_token_of_a_deactivated_user_is_refused(api_client):
    ana = make_user("ana")
    tokens = token_pair(api_client)
    ana.is_active = False
    ana.save()
    assert_refused(refresh(api_client, tokens["refresh"]), "authentication_failed")


def signed(**claims) -> str:
    """A token made with the server's own key: only the claims are wrong."""
    return jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256")


def claims_of(token: str) -> dict:
    return jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])


ODD_CLAIMS = {
    "user id not a number": {"user_id": "ana"},
    "user id a list": {"user_id": ["1"]},
    "user id a boolean": {"user_id": True},
    "user id beyond any row id": {"user_id": "9" * 30},
    "user id negative": {"user_id": "-1"},
    "expiry beyond any date (float)": {"exp": 1e300},
    "expiry beyond any date (integer)": {"exp": 10**30},
}


@pytest.mark.parametrize("odd", ODD_CLAIMS.values(), ids=ODD_CLAIMS.keys())
def test_a_token_with_claims_of_the_wrong_shape_is_refused(api_client, odd):
    make_user("ana")
    tokens = token_pair(api_client)
    access = signed(**{**claims_of(tokens["access"]), **odd})
    refresh_token = signed(**{**claims_of(tokens["refresh"]), **odd})
    assert_refused(me(api_client, access), "invalid_token", "authentication_failed")
    assert_refused(refresh(api_client, refresh_token), "invalid_token", "authentication_failed")


def test_a_well_formed_token_signed_by_us_still_works(api_client):
    # The check above is on the claims' shape, not on who made the token.
    make_user("ana")
    tokens = token_pair(api_client)
    claims = {**claims_of(tokens["access"]), "exp": int(time.time()) + 60}
    assert me(api_client, signed(**claims)).status_code == 200
