"""Identity: dashboard login, JWT for the API, API keys for scripts, and /auth/me."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from apps.accounts.models import ApiKey
from tests.support.factories import DEFAULT_PASSWORD, grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db


def test_dashboard_requires_login_and_accepts_it():
    make_user("ana")
    browser = Client()
    assert browser.get("/")["Location"].startswith("/login/")
    response = browser.post("/login/", {"username": "ana", "password": DEFAULT_PASSWORD}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<span class="who">ana</span>' in page
    assert "You have no rights on any data source" in page
    assert browser.get("/api/v1/auth/me").json()["username"] == "ana"


def test_bad_dashboard_login_is_explained():
    make_user("ana")
    response = Client().post("/login/", {"username": "ana", "password": "nope"})
    assert "did not match" in response.content.decode()


def test_jwt_obtain_use_and_refresh(api_client):
    make_user("ana")
    tokens = api_client.post(
        "/api/v1/auth/token", {"username": "ana", "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api_client.get("/api/v1/auth/me").json()["username"] == "ana"
    refreshed = api_client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["access"]


def test_an_access_token_used_before_is_refused_once_it_expires(api_client, settings):
    # A process verifies a token's signature once (CachedUserJWTAuthentication); its
    # expiry is still checked on every request.
    make_user("ana")
    tokens = api_client.post(
        "/api/v1/auth/token", {"username": "ana", "password": DEFAULT_PASSWORD}, format="json"
    ).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api_client.get("/api/v1/auth/me").status_code == 200
    assert api_client.get("/api/v1/auth/me").status_code == 200  # the second use: already verified

    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now() + lifetime + timedelta(seconds=1)):
        expired = api_client.get("/api/v1/auth/me")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "invalid_token"

    tampered = tokens["access"][:-2] + ("AA" if not tokens["access"].endswith("AA") else "BB")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert api_client.get("/api/v1/auth/me").status_code == 401  # other bytes are verified anew


def test_api_key_lifecycle(api_client):
    ana = make_user("ana")
    api_client.force_authenticate(ana)
    issued = api_client.post("/api/v1/auth/api-keys", {"name": "nightly export"}, format="json")
    assert issued.status_code == 201
    secret = issued.json()["key"]
    assert secret.startswith("qb_")
    stored = ApiKey.objects.get(pk=issued.json()["id"])
    assert secret not in stored.key_hash
    listed = api_client.get("/api/v1/auth/api-keys").json()["results"]
    assert [key["name"] for key in listed] == ["nightly export"]
    assert "key" not in listed[0]

    script = Client()
    assert script.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Api-Key {secret}").json()["username"] == "ana"
    stored.refresh_from_db()
    assert stored.last_used_at is not None

    assert api_client.delete(f"/api/v1/auth/api-keys/{stored.id}").status_code == 204
    assert script.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Api-Key {secret}").status_code == 401
    assert api_client.delete(f"/api/v1/auth/api-keys/{stored.id}").status_code == 404


def test_an_api_key_cannot_make_api_keys_but_can_revoke_them(api_client):
    ana = make_user("ana")
    api_client.force_authenticate(ana)
    secret = api_client.post("/api/v1/auth/api-keys", {"name": "ci"}, format="json").json()["key"]
    script = Client(HTTP_AUTHORIZATION=f"Api-Key {secret}")

    made = script.post("/api/v1/auth/api-keys", {"name": "spare"}, content_type="application/json")
    assert made.status_code == 403, made.content
    assert made.json()["error"]["code"] == "permission_denied"
    assert "password" in made.json()["error"]["message"]
    assert list(ApiKey.objects.filter(user=ana).values_list("name", flat=True)) == ["ci"]
    # Listing and revoking stay open to a key: a leaked one can still be put out by itself.
    assert [key["name"] for key in script.get("/api/v1/auth/api-keys").json()["results"]] == ["ci"]
    key_id = ApiKey.objects.get(user=ana).id
    assert script.delete(f"/api/v1/auth/api-keys/{key_id}").status_code == 204


def test_a_user_cannot_revoke_someone_elses_key(api_client):
    other_key = ApiKey.objects.create(user=make_user("bob"), name="k", prefix="qb_x", key_hash="0" * 64)
    api_client.force_authenticate(make_user("ana"))
    assert api_client.delete(f"/api/v1/auth/api-keys/{other_key.id}").status_code == 404
    other_key.refresh_from_db()
    assert other_key.revoked_at is None


def test_inactive_users_api_key_stops_working(api_client):
    ana = make_user("ana")
    api_client.force_authenticate(ana)
    secret = api_client.post("/api/v1/auth/api-keys", {"name": "k"}, format="json").json()["key"]
    ana.is_active = False
    ana.save()
    assert Client().get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Api-Key {secret}").status_code == 401


def test_me_lists_effective_rights_per_source(api_client):
    shop, hr, off = (make_datasource(name, database=f"/tmp/{name}.sqlite3") for name in ("shop", "hr", "off"))
    analysts, approvers = make_group("analysts"), make_group("approvers")
    grant(analysts, shop, read=True, write=True)
    grant(approvers, shop, approve=True)
    grant(approvers, hr, read=True)
    off.is_active = False
    off.save()
    grant(analysts, off, read=True)
    api_client.force_authenticate(make_user("ana", groups=(analysts, approvers)))
    me = api_client.get("/api/v1/auth/me").json()
    assert me["groups"] == ["analysts", "approvers"]
    assert me["is_admin"] is False
    assert me["datasources"] == [
        {"id": hr.id, "name": "hr", "engine": "sqlite", "can_read": True, "can_write": False, "can_approve": False},
        {"id": shop.id, "name": "shop", "engine": "sqlite", "can_read": True, "can_write": True, "can_approve": True},
    ]


def test_an_api_keys_last_use_is_kept_to_the_minute_not_written_on_every_request(api_client):
    api_client.force_authenticate(make_user("ana"))
    issued = api_client.post("/api/v1/auth/api-keys", {"name": "loop"}, format="json").json()
    script = Client(HTTP_AUTHORIZATION=f"Api-Key {issued['key']}")
    keys = ApiKey.objects.filter(pk=issued["id"])

    recently = timezone.now() - timedelta(seconds=30)
    keys.update(last_used_at=recently)
    assert script.get("/api/v1/auth/me").status_code == 200
    assert keys.get().last_used_at == recently

    long_ago = timezone.now() - timedelta(minutes=2)
    keys.update(last_used_at=long_ago)
    assert script.get("/api/v1/auth/me").status_code == 200
    assert keys.get().last_used_at > recently
