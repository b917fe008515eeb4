"""An admin turns sandboxes on for a source and says where copies live and what they allow."""

import pytest

from apps.datasources.models import DataSource
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user, postgres_payload

pytestmark = pytest.mark.django_db


def test_sandboxes_are_off_by_default_with_safe_defaults(admin_client):
    body = admin_client.post("/api/v1/datasources", postgres_payload(), format="json").json()
    assert body["sandbox_enabled"] is False
    assert body["sandbox_host"] == ""  # copies live on the source's own server
    assert body["sandbox_write_kinds"] == ["dml", "ddl"]
    assert body["sandbox_idle_ttl_hours"] == 7 * 24
    assert body["sandbox_pool_size"] == 1
    assert body["sandbox_max_rows_per_table"] == 10_000
    assert body["has_sandbox_password"] is False


def test_a_separate_sandbox_server_keeps_its_password_encrypted_and_write_only(admin_client):
    payload = postgres_payload(
        sandbox_enabled=True,
        sandbox_host="sandbox.internal",
        sandbox_port=5433,
        sandbox_username="qb_sandbox",
        sandbox_password="sandbox-secret",
        sandbox_pool_size=3,
    )
    created = admin_client.post("/api/v1/datasources", payload, format="json")
    assert created.status_code == 201, created.content
    assert "sandbox-secret" not in created.content.decode()
    assert created.json()["has_sandbox_password"] is True
    source = DataSource.objects.get(pk=created.json()["id"])
    assert "sandbox-secret" not in source.sandbox_password_encrypted
    assert source.get_sandbox_password() == "sandbox-secret"


def test_dcl_can_never_be_allowed_in_sandboxes(admin_client):
    refused = admin_client.post(
        "/api/v1/datasources", postgres_payload(sandbox_write_kinds=["dml", "dcl"]), format="json"
    )
    assert refused.status_code == 400
    assert "sandbox_write_kinds" in refused.json()["error"]["details"]

    source_id = admin_client.post("/api/v1/datasources", postgres_payload(), format="json").json()["id"]
    patched = admin_client.patch(f"/api/v1/datasources/{source_id}", {"sandbox_write_kinds": ["dcl"]}, format="json")
    assert patched.status_code == 400
    assert DataSource.objects.get(pk=source_id).sandbox_write_kinds == ["dml", "ddl"]


def test_sqlite_sandboxes_have_no_sandbox_server(admin_client, settings):
    path = settings.QUERYBASE_SQLITE_ROOTS[0] / "whatever.sqlite3"
    refused = admin_client.post(
        "/api/v1/datasources",
        {"name": "file", "engine": "sqlite", "database": str(path), "sandbox_host": "elsewhere"},
        format="json",
    )
    assert refused.status_code == 400
    assert "sandbox_host" in refused.json()["error"]["details"]


def test_readers_see_whether_a_source_has_sandboxes():
    source = make_datasource("shop", sandbox_enabled=True)
    group = make_group("readers")
    grant(group, source, read=True)
    listed = client_for(make_user("reader", groups=(group,))).get("/api/v1/datasources").json()["results"]
    assert listed[0]["sandbox_enabled"] is True
    assert "sandbox_host" not in listed[0]
