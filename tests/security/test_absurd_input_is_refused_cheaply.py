"""Invariants 6 and 7: input built to make the server work hard is refused before it
can: absurd placeholder numbers cost nothing and answer a clear 400."""

import pytest

from tests.support.factories import client_for, make_datasource, reader

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT $99999999999999999999",
        "SELECT $10000000",
        "SELECT $65536",
        "SELECT $" + "9" * 5000,  # more digits than Python will turn into an int
        "SELECT $1, $99999999",
    ],
)
def test_absurd_placeholder_numbers_are_refused(shop, sql):
    response = client_for(reader("reader", shop)).post(
        "/api/v1/queries", {"datasource": shop.pk, "sql": sql, "params": ["a"]}, format="json"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert "$65535" in error["message"]


def test_the_highest_allowed_number_still_needs_every_value(shop):
    response = client_for(reader("reader", shop)).post(
        "/api/v1/queries", {"datasource": shop.pk, "sql": "SELECT $3", "params": ["a"]}, format="json"
    )
    assert response.status_code == 400
    assert "$1 is missing" in response.json()["error"]["message"]


# Logins ---------------------------------------------------------------------------------
# A username no account can have, or a password longer than anyone types, is refused as bad
# input before the account is looked up, the throttle is asked or a password is hashed
# (apps/accounts/login_limits.py): each such login used to cost a lookup, a full PBKDF2
# hash and a place in the throttle's logs.

OVERLONG_USERNAME = "a" * 100_000
OVERLONG_PASSWORD = "p" * 100_000


def queries_on_users(run) -> tuple[object, list[str]]:
    """`run()`'s answer, and the SQL it sent that reads the users table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        answer = run()
    return answer, [query["sql"] for query in captured.captured_queries if "auth_user" in query["sql"]]


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("username", {"username": OVERLONG_USERNAME, "password": "whatever-it-is"}),
        ("password", {"username": "ana", "password": OVERLONG_PASSWORD}),
    ],
)
def test_an_overlong_login_to_the_api_is_a_400_before_any_lookup(api_client, field, body):
    from apps.audit.models import AuditEvent
    from tests.support.factories import make_user

    make_user("ana", password="the-right-password-1")
    response, lookups = queries_on_users(lambda: api_client.post("/api/v1/auth/token", body, format="json"))

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert list(error["details"]) == [field]
    assert "no more than" in error["details"][field][0]
    assert lookups == []
    assert not AuditEvent.objects.filter(action="auth.login_failed").exists()


def test_logins_at_the_bounds_are_checked_as_usual(api_client):
    from apps.accounts.login_limits import PASSWORD_MAX_LENGTH, USERNAME_MAX_LENGTH
    from tests.support.factories import make_user

    make_user("u" * USERNAME_MAX_LENGTH, password="x" * PASSWORD_MAX_LENGTH)
    right = {"username": "u" * USERNAME_MAX_LENGTH, "password": "x" * PASSWORD_MAX_LENGTH}
    wrong = {"username": "u" * USERNAME_MAX_LENGTH, "password": "y" * PASSWORD_MAX_LENGTH}

    assert api_client.post("/api/v1/auth/token", right, format="json").status_code == 200
    refused = api_client.post("/api/v1/auth/token", wrong, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "authentication_failed")


@pytest.mark.parametrize("page", ["/login/", "/admin/login/"])
def test_an_overlong_login_on_a_page_is_a_400_saying_so(client, page):
    from tests.support.factories import make_user

    make_user("ana", password="the-right-password-1")
    for body, said in (
        ({"username": OVERLONG_USERNAME, "password": "whatever-it-is"}, "at most 150 characters"),
        ({"username": "ana", "password": OVERLONG_PASSWORD}, "at most 4096 characters"),
    ):
        response, lookups = queries_on_users(lambda body=body: client.post(page, body))
        assert response.status_code == 400
        assert said in response.content.decode()
        assert lookups == []


def test_overlong_logins_take_no_place_in_the_throttle(api_client, settings):
    from tests.support.factories import make_user

    settings.QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT = 2
    settings.QUERYBASE_LOGIN_FAILURES_PER_ADDRESS = 2
    make_user("ana", password="the-right-password-1")
    for _ in range(5):
        overlong = {"username": "ana", "password": OVERLONG_PASSWORD}
        assert api_client.post("/api/v1/auth/token", overlong, format="json").status_code == 400

    right = {"username": "ana", "password": "the-right-password-1"}
    assert api_client.post("/api/v1/auth/token", right, format="json").status_code == 200


def test_an_overlong_api_key_is_refused_before_any_lookup(api_client):
    response, lookups = queries_on_users(
        lambda: api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Api-Key qb_{OVERLONG_USERNAME}")
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API key."
    assert lookups == []


def test_no_password_is_set_that_a_login_would_refuse():
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="at most 4096 characters"):
        validate_password("Xq7!" * 1025)
