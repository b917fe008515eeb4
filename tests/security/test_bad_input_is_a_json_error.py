"""Invariant 7: bad input is a 4xx JSON error with a stable code; a 500 is a bug.

Each case here was a 500 found by an outside attack. They are fixed as classes: every
JSON body goes through one parser that refuses text no column can store, every URL
through one middleware, every delete that other records still need answers 409.
"""

import json

import pytest

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from apps.datasources.models import DataSource
from apps.queries.models import QueryRun
from tests.support.factories import client_for, make_datasource, make_user, reader

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    return error


def post_raw(client, path: str, raw_json: str):
    return client.post(path, raw_json, content_type="application/json")


NUL = "a\\u0000b"  # as it travels in JSON
LONE_SURROGATE = "\\ud800"


@pytest.mark.parametrize(
    "params",
    [f'["{NUL}"]', f'["{LONE_SURROGATE}"]', f'{{"k": "{NUL}"}}', f'{{"{NUL}": 1}}', f'[["{LONE_SURROGATE}"]]'],
    ids=["nul", "lone-surrogate", "nul-in-named-value", "nul-in-name", "nested-surrogate"],
)
def test_unstorable_text_in_read_params_is_400(shop, params):
    client = client_for(reader("ana", shop))
    body = f'{{"datasource": {shop.pk}, "sql": "SELECT $1", "params": {params}}}'
    error = assert_json_error(post_raw(client, "/api/v1/queries", body), 400, "invalid_characters")
    assert "accepted" in error["message"]
    assert list(error["details"]) == ["params"]  # which field, as for any field error
    assert not QueryRun.objects.exists()


@pytest.mark.parametrize("value", [NUL, LONE_SURROGATE])
def test_unstorable_text_in_write_params_is_400(shop, value):
    client = client_for(reader("wendy", shop, write=True))
    body = f'{{"datasource": {shop.pk}, "sql": "UPDATE customers SET name = $1 WHERE id = 1", "params": ["{value}"]}}'
    assert_json_error(post_raw(client, "/api/v1/queries", body), 400, "invalid_characters")
    assert not ApprovalRequest.objects.exists()


def test_unstorable_text_anywhere_in_any_body_is_400(shop):
    """Not only params: the rule is the parser's, so every field of every endpoint has it."""
    client = client_for(reader("ana", shop))
    body = f'{{"name": "x", "datasource": {shop.pk}, "sql": "SELECT 1", "default_params": ["{NUL}"]}}'
    assert_json_error(post_raw(client, "/api/v1/saved-queries", body), 400, "invalid_characters")
    assert_json_error(
        post_raw(client, "/api/v1/auth/api-keys", f'{{"name": "{LONE_SURROGATE}"}}'), 400, "invalid_characters"
    )
    login = post_raw(client_for(make_user("bob")), "/api/v1/auth/token", f'{{"username": "{NUL}", "password": "x"}}')
    assert_json_error(login, 400, "invalid_characters")


def test_nul_in_saved_query_default_params_on_update_is_400(shop):
    client = client_for(reader("ana", shop))
    saved = client.post(
        "/api/v1/saved-queries",
        {"name": "q", "datasource": shop.pk, "sql": "SELECT $1", "default_params": [1]},
        format="json",
    )
    assert saved.status_code == 201, saved.content
    response = client.patch(
        f"/api/v1/saved-queries/{saved.json()['id']}",
        f'{{"default_params": ["{NUL}"]}}',
        content_type="application/json",
    )
    assert_json_error(response, 400, "invalid_characters")


@pytest.mark.parametrize("depth", [10_000, 1_000, 33])
def test_deeply_nested_json_is_400(shop, depth):
    client = client_for(reader("ana", shop))
    body = f'{{"datasource": {shop.pk}, "sql": "SELECT 1", "params": {"[" * depth}{"]" * depth}}}'
    error = assert_json_error(post_raw(client, "/api/v1/queries", body), 400, "malformed_body")
    assert "nested deeper" in error["message"]


def test_ordinary_nesting_is_still_accepted(shop):
    client = client_for(reader("ana", shop))
    body = {"datasource": shop.pk, "sql": "SELECT $1", "params": ["ümlaut 🙂"]}
    response = client.post("/api/v1/queries", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    "url",
    ["/api/v1/saved-queries/shared/%00", "/api/v1/saved-queries/shared/a%00b", "/api/v1/queries/history?status=%00"],
)
def test_nul_in_the_url_is_400(shop, url):
    client = client_for(reader("ana", shop))
    assert_json_error(client.get(url), 400, "invalid_characters")


def test_nul_in_a_dashboard_url_is_400_too(shop):
    response = client_for(reader("ana", shop)).get("/?q=%00")
    assert response.status_code == 400


class TestDeletingASourceKeepsItsHistory:
    def test_a_source_with_approval_requests_is_409_and_kept(self, shop, admin_client):
        wendy = reader("wendy", shop, write=True)
        requested = client_for(wendy).post(
            "/api/v1/queries",
            {"datasource": shop.pk, "sql": "DELETE FROM orders WHERE id = 1", "reason": "test order"},
            format="json",
        )
        assert requested.status_code == 202
        error = assert_json_error(admin_client.delete(f"/api/v1/datasources/{shop.pk}"), 409, "datasource_has_history")
        assert "deactivate" in error["message"]
        assert error["details"] == {"query_runs": 0, "approval_requests": 1}
        assert DataSource.objects.filter(pk=shop.pk).exists()
        assert ApprovalRequest.objects.filter(datasource=shop).count() == 1

    def test_a_source_with_runs_is_409_and_its_runs_are_kept(self, shop, admin_client):
        ran = client_for(reader("ana", shop)).post(
            "/api/v1/queries", {"datasource": shop.pk, "sql": "SELECT 1"}, format="json"
        )
        assert ran.status_code == 200
        error = assert_json_error(admin_client.delete(f"/api/v1/datasources/{shop.pk}"), 409, "datasource_has_history")
        assert error["details"] == {"query_runs": 1, "approval_requests": 0}
        assert QueryRun.objects.filter(datasource=shop).count() == 1

    def test_deactivating_is_the_way_out(self, shop, admin_client):
        client_for(reader("ana", shop)).post(
            "/api/v1/queries", {"datasource": shop.pk, "sql": "SELECT 1"}, format="json"
        )
        response = admin_client.patch(f"/api/v1/datasources/{shop.pk}", {"is_active": False}, format="json")
        assert response.status_code == 200
        assert response.json()["is_active"] is False

    def test_an_unused_source_is_deleted(self, shop, admin_client):
        assert admin_client.delete(f"/api/v1/datasources/{shop.pk}").status_code == 204
        assert not DataSource.objects.filter(pk=shop.pk).exists()

    def test_runs_are_protected_below_the_api_too(self, shop):
        """Django admin and scripts delete through the ORM: the foreign key itself refuses."""
        from django.db.models import ProtectedError

        client_for(reader("ana", shop)).post(
            "/api/v1/queries", {"datasource": shop.pk, "sql": "SELECT 1"}, format="json"
        )
        with pytest.raises(ProtectedError):
            shop.delete()


@pytest.mark.parametrize(
    "forwarded", ["unknown", "not-an-address", "999.1.1.1", "fe80::1%eth0", "\u00e9", "", "203.0.113.9, "]
)
def test_a_trusted_proxy_header_that_is_not_an_address_falls_back_to_the_peer(settings, forwarded):
    settings.QUERYBASE_TRUST_X_FORWARDED_FOR = True
    make_user("ana")
    response = client_for(make_user("bob")).post(
        "/api/v1/auth/token", {"username": "ana", "password": "wrong"}, format="json", HTTP_X_FORWARDED_FOR=forwarded
    )
    assert_json_error(response, 401, "authentication_failed")
    assert AuditEvent.objects.filter(action="auth.login_failed").latest("id").ip_address == "127.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "recorded"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("10.0.0.1, 203.0.113.9:4431", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
    ],
)
def test_a_trusted_proxy_header_with_an_address_is_used(settings, forwarded, recorded):
    settings.QUERYBASE_TRUST_X_FORWARDED_FOR = True
    make_user("ana")
    client_for(make_user("bob")).post(
        "/api/v1/auth/token", {"username": "ana", "password": "wrong"}, format="json", HTTP_X_FORWARDED_FOR=forwarded
    )
    assert AuditEvent.objects.filter(action="auth.login_failed").latest("id").ip_address == recorded


def test_an_address_the_client_wrote_before_the_proxys_is_not_believed(settings):
    """A client behind our proxy sends its own X-Forwarded-For; the proxy appends the real
    address. Only that one counts, or every failed login could claim a new address and
    never be throttled."""
    settings.QUERYBASE_TRUST_X_FORWARDED_FOR = True
    make_user("ana")
    for spoofed in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        client_for(make_user(f"bob-{spoofed}")).post(
            "/api/v1/auth/token",
            {"username": "ana", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"{spoofed}, 203.0.113.9",
        )
    recorded = set(AuditEvent.objects.filter(action="auth.login_failed").values_list("ip_address", flat=True))
    assert recorded == {"203.0.113.9"}


def test_two_proxy_hops_take_the_address_the_outer_proxy_saw(settings):
    settings.QUERYBASE_TRUST_X_FORWARDED_FOR = True
    settings.QUERYBASE_TRUSTED_PROXY_HOPS = 2
    make_user("ana")
    client_for(make_user("bob")).post(
        "/api/v1/auth/token",
        {"username": "ana", "password": "wrong"},
        format="json",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9, 10.0.0.2",
    )
    assert AuditEvent.objects.filter(action="auth.login_failed").latest("id").ip_address == "203.0.113.9"


@pytest.mark.parametrize("value", ["csv", "api", "xml", "json"])
def test_a_format_query_parameter_is_not_a_renderer_switch(shop, value):
    """Found by an outside attack: DRF read `?format=` as a choice of renderer, so a
    history or saved-queries list with `format=csv` answered 404 "No such object."
    (there is no csv renderer) though the list was there. Only the exports and audit
    reports take a `format`, and they read it themselves."""
    client = client_for(reader("ana", shop))
    for path in ("/api/v1/queries/history", "/api/v1/saved-queries", "/api/v1/auth/me"):
        response = client.get(path, {"format": value})
        assert response.status_code == 200, (path, response.content)
        assert response["Content-Type"] == "application/json"
