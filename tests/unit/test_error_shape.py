"""Invariant 6: every API error is {"error": {"code", "message", "details"}} with a 4xx status."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from tests.support.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_missing_credentials_is_401(api_client):
    error = assert_error(api_client.get("/api/v1/auth/me"), 401, "not_authenticated")
    assert "credentials" in error["message"].lower()


def test_garbage_bearer_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert_error(api_client.get("/api/v1/auth/me"), 401, "invalid_token")


def test_expired_token_is_401(api_client, settings):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(make_user("ana"))
    token.set_exp(lifetime=-timedelta(seconds=1))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(api_client.get("/api/v1/auth/me"), 401, "invalid_token")


def test_wrong_password_is_401(api_client):
    make_user("ana")
    response = api_client.post("/api/v1/auth/token", {"username": "ana", "password": "x"}, format="json")
    assert_error(response, 401, "authentication_failed")


def test_revoked_api_key_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key qb_doesnotexist")
    assert_error(api_client.get("/api/v1/auth/me"), 401, "authentication_failed")


def test_forbidden_is_403(api_client):
    api_client.force_authenticate(make_user("ana"))
    assert_error(api_client.post("/api/v1/datasources", {}, format="json"), 403, "permission_denied")


def test_unknown_id_is_404(admin_client):
    assert_error(admin_client.get("/api/v1/datasources/987654"), 404, "not_found")


def test_non_numeric_id_is_404(admin_client):
    assert_error(admin_client.get("/api/v1/datasources/abc"), 404, "not_found")


def test_unknown_endpoint_is_404(admin_client):
    assert_error(admin_client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405(admin_client):
    assert_error(admin_client.delete("/api/v1/auth/me"), 405, "method_not_allowed")


def test_malformed_json_is_400(admin_client):
    response = admin_client.post("/api/v1/datasources", "{not json", content_type="application/json")
    assert_error(response, 400, "malformed_body")


def test_json_that_is_not_an_object_is_400(admin_client):
    response = admin_client.post("/api/v1/datasources", "[1, 2]", content_type="application/json")
    assert_error(response, 400, "invalid_request")


def test_wrong_types_are_400_with_field_details(admin_client):
    response = admin_client.post("/api/v1/datasources", {"name": 12, "engine": ["x"], "port": "p"}, format="json")
    error = assert_error(response, 400, "invalid_request")
    assert {"engine", "port", "database"} <= set(error["details"])


def test_unsupported_media_type_is_415(admin_client):
    response = admin_client.post("/api/v1/datasources", "name=x", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_huge_body_is_413():
    client = APIClient()
    client.force_authenticate(make_user("ana"))
    response = client.post("/api/v1/auth/api-keys", {"name": "x" * 5000}, format="json")
    assert_error(response, 413, "payload_too_large")


def test_huge_login_body_is_413_before_authentication(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = APIClient().post(
        "/api/v1/auth/token", {"username": "x" * 5000, "password": DEFAULT_PASSWORD}, format="json"
    )
    assert_error(response, 413, "payload_too_large")


class _BodyCutOff:
    """A request body whose client left (or was cut off for sending too slowly) mid-way."""

    def read(self, *args) -> bytes:
        raise ConnectionResetError("the client went away")

    def readline(self, *args) -> bytes:
        raise ConnectionResetError("the client went away")


def test_a_body_that_never_arrives_whole_is_400_not_a_logged_500(api_client):
    api_client.force_authenticate(make_user("ana"))
    body = b'{"datasource": 1, "sql": "SELECT 1"}'
    response = api_client.generic(
        "POST", "/api/v1/queries", body, content_type="application/json", **{"wsgi.input": _BodyCutOff()}
    )
    assert_error(response, 400, "body_incomplete")
