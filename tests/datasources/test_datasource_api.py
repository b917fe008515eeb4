"""Admin CRUD of data sources over /api/v1/datasources, and what other users see."""

import pytest

from apps.audit.models import AuditEvent
from apps.datasources.models import DataSource
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user, postgres_payload

pytestmark = pytest.mark.django_db


def test_admin_creates_reads_updates_and_deletes_a_source(admin_client, admin_user):
    created = admin_client.post("/api/v1/datasources", postgres_payload(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["has_password"] is True
    assert body["allowed_write_kinds"] == ["dml", "ddl", "dcl", "other"]
    assert body["approvals_required"] == 1
    source_id = body["id"]
    assert DataSource.objects.get(pk=source_id).created_by == admin_user

    updated = admin_client.patch(
        f"/api/v1/datasources/{source_id}", {"max_rows": 500, "allowed_write_kinds": ["dml"]}, format="json"
    )
    assert updated.status_code == 200
    assert updated.json()["max_rows"] == 500
    assert updated.json()["allowed_write_kinds"] == ["dml"]
    # The password was not sent, so it is kept.
    assert DataSource.objects.get(pk=source_id).get_password() == "pw-1"

    assert admin_client.get(f"/api/v1/datasources/{source_id}").json()["name"] == "warehouse"
    assert admin_client.delete(f"/api/v1/datasources/{source_id}").status_code == 204
    assert not DataSource.objects.filter(pk=source_id).exists()

    actions = list(AuditEvent.objects.filter(object_id=str(source_id)).order_by("id").values_list("action", flat=True))
    assert actions == ["datasource.create", "datasource.update", "datasource.delete"]
    # The event names its source, so audit reports can filter by it.
    assert AuditEvent.objects.get(action="datasource.update").detail == {
        "changed": ["max_rows", "allowed_write_kinds"],
        "datasource": source_id,
    }


def test_password_can_be_replaced_and_cleared(admin_client):
    source_id = admin_client.post("/api/v1/datasources", postgres_payload(), format="json").json()["id"]
    admin_client.patch(f"/api/v1/datasources/{source_id}", {"password": "pw-2"}, format="json")
    assert DataSource.objects.get(pk=source_id).get_password() == "pw-2"
    cleared = admin_client.patch(f"/api/v1/datasources/{source_id}", {"password": ""}, format="json")
    assert cleared.json()["has_password"] is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (postgres_payload(engine="oracle"), "engine"),
        (postgres_payload(host=""), "host"),
        (postgres_payload(port="five"), "port"),
        (postgres_payload(port=70000), "port"),
        (postgres_payload(max_rows=0), "max_rows"),
        (postgres_payload(approvals_required=[1]), "approvals_required"),
        (postgres_payload(allowed_write_kinds=["dml", "nuke"]), "allowed_write_kinds"),
        (postgres_payload(allowed_write_kinds="dml"), "allowed_write_kinds"),
        (postgres_payload(read_password="x"), "read_password"),
        ({"engine": "sqlite", "name": "meta", "database": "/etc/passwd"}, "database"),
        (
            {"engine": "sqlite", "name": "escape", "database": "var/test/datasources/../../querybase.sqlite3"},
            "database",
        ),
    ],
)
def test_invalid_payloads_are_400_with_field_details(admin_client, payload, field):
    response = admin_client.post("/api/v1/datasources", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in error["details"]


def test_duplicate_name_is_refused(admin_client):
    admin_client.post("/api/v1/datasources", postgres_payload(), format="json")
    response = admin_client.post("/api/v1/datasources", postgres_payload(), format="json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["details"]


def test_sqlite_source_inside_the_allowed_directory_is_accepted(admin_client, shop_sqlite_path):
    response = admin_client.post(
        "/api/v1/datasources", {"name": "shop", "engine": "sqlite", "database": str(shop_sqlite_path)}, format="json"
    )
    assert response.status_code == 201, response.content


def test_non_admins_may_not_change_sources():
    source = make_datasource("shop", database="/tmp/shop.sqlite3")
    group = make_group("everything")
    grant(group, source, read=True, write=True, approve=True)
    client = client_for(make_user("ana", groups=(group,)))
    assert client.post("/api/v1/datasources", postgres_payload(), format="json").status_code == 403
    assert client.patch(f"/api/v1/datasources/{source.id}", {"max_rows": 1}, format="json").status_code == 403
    assert client.delete(f"/api/v1/datasources/{source.id}").status_code == 403
    assert client.get(f"/api/v1/datasources/{source.id}/permissions").status_code == 403


def test_users_list_only_sources_they_have_rights_on_without_connection_details():
    visible, hidden = (
        make_datasource("shop", database="/tmp/a.sqlite3"),
        make_datasource("hr", database="/tmp/b.sqlite3"),
    )
    group = make_group("analysts")
    grant(group, visible, read=True)
    client = client_for(make_user("ana", groups=(group,)))
    listing = client.get("/api/v1/datasources").json()
    assert [row["name"] for row in listing["results"]] == ["shop"]
    assert "host" not in listing["results"][0]
    assert "username" not in listing["results"][0]
    assert client.get(f"/api/v1/datasources/{hidden.id}").status_code == 404
