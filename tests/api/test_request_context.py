"""Every request has an id: echoed in the response, carried by every line it logs,
together with the user and the run it is about."""

import pytest
import structlog
from django.http import HttpRequest

from querybase.logs import set_current_request
from tests.support.factories import client_for, make_datasource, reader
from tests.support.logs import json_log_lines

pytestmark = pytest.mark.django_db


def test_a_well_formed_request_id_is_kept_and_echoed(api_client):
    response = api_client.get("/health", HTTP_X_REQUEST_ID="lb-7f3a.9:2")
    assert response["X-Request-ID"] == "lb-7f3a.9:2"


@pytest.mark.parametrize(
    "incoming",
    ["", "has space", "line\nbreak", '{"json":1}', "x" * 129, "-starts-with-a-dash", "naïve"],
)
def test_a_malformed_request_id_is_replaced(api_client, incoming):
    response = api_client.get("/health", HTTP_X_REQUEST_ID=incoming)
    echoed = response["X-Request-ID"]
    assert echoed != incoming
    assert len(echoed) == 32 and int(echoed, 16) >= 0


def test_each_request_gets_its_own_id(api_client):
    first = api_client.get("/health")["X-Request-ID"]
    second = api_client.get("/health")["X-Request-ID"]
    assert first != second


def test_lines_logged_for_an_api_request_carry_its_id_user_and_run(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    analyst = reader("ana", shop)
    client = client_for(analyst)
    with json_log_lines() as lines:
        response = client.post(
            "/api/v1/queries",
            {"datasource": shop.id, "sql": "SELECT 1 AS one"},
            format="json",
            HTTP_X_REQUEST_ID="req-observed-1",
        )
        client.get("/api/v1/no-such-endpoint", HTTP_X_REQUEST_ID="req-observed-2")
    assert response.status_code == 200, response.content
    finished = [line for line in lines() if line["event"] == "query run finished"]
    assert finished == [
        {
            "event": "query run finished",
            "status": "succeeded",
            "duration_ms": finished[0]["duration_ms"],
            "row_count": 1,
            "request_id": "req-observed-1",
            "run_id": response.json()["id"],
            "user_id": analyst.pk,
            "username": "ana",
            "level": "info",
            "logger": "apps.queries.run_lifecycle",
            "timestamp": finished[0]["timestamp"],
        }
    ]
    # Django's own lines (here its 404 warning, logged after the middleware returned)
    # come out in the same format with the same context.
    not_found = [line for line in lines() if line["logger"] == "django.request"]
    assert not_found[0]["request_id"] == "req-observed-2"
    assert "run_id" not in not_found[0]


class _SessionStoreDown(HttpRequest):
    @property
    def user(self):
        raise ConnectionError("session store down")


def test_a_line_is_written_even_when_the_user_cannot_be_found_out():
    set_current_request(_SessionStoreDown())
    try:
        with json_log_lines() as lines:
            structlog.get_logger("tests").warning("the database is down")
    finally:
        set_current_request(None)
    [line] = lines()
    assert line["event"] == "the database is down"
    assert "user_id" not in line
