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
