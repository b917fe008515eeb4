"""Deployed, QueryBase answers over HTTPS only; health checks still answer plain HTTP."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True


@pytest.mark.usefixtures("https_only")
def test_plain_http_is_redirected_to_https():
    response = Client().get("/api/v1/auth/me")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/api/v1/auth/me"
    assert response["X-Request-ID"]


@pytest.mark.usefixtures("https_only")
def test_health_checks_answer_plain_http():
    assert Client().get("/health").status_code == 200
    assert Client().get("/version").status_code == 200


@pytest.mark.usefixtures("https_only")
def test_behind_a_trusted_proxy_its_forwarded_scheme_counts(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert Client().get("/api/v1/auth/me", HTTP_X_FORWARDED_PROTO="https").status_code == 401
    assert Client().get("/api/v1/auth/me", HTTP_X_FORWARDED_PROTO="http").status_code == 301
