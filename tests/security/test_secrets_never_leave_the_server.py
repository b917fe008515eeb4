"""Invariant 5: data source passwords never appear in API responses, admin pages,
audit details or error messages."""

import json

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-Secret-Pa55"
READ_PASSWORD = "Re4d-Only-Pa55"


def assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert READ_PASSWORD not in text


def test_api_never_returns_passwords(admin_client):
    created = admin_client.post(
        "/api/v1/datasources",
        {
            "name": "pg",
            "engine": "postgresql",
            "host": "127.0.0.1",
            "port": 1,
            "database": "x",
            "username": "u",
            "password": PASSWORD,
            "read_username": "reader",
            "read_password": READ_PASSWORD,
        },
        format="json",
    )
    assert created.status_code == 201
    source_id = created.json()["id"]
    responses = [
        created,
        admin_client.get("/api/v1/datasources"),
        admin_client.get(f"/api/v1/datasources/{source_id}"),
        admin_client.patch(f"/api/v1/datasources/{source_id}", {"password": PASSWORD}, format="json"),
        admin_client.post(f"/api/v1/datasources/{source_id}/test"),
        admin_client.get("/api/schema/"),
    ]
    for response in responses:
        assert response.status_code < 500
        assert_no_secret(response.content.decode())
    body = created.json()
    assert "password" not in body and "read_password" not in body
    assert not any("encrypted" in key for key in body)


def test_password_in_a_driver_error_is_scrubbed(admin_client):
    # libpq echoes nothing secret today; the scrubber guards the day a driver does.
    from apps.datasources.connectors import CredentialRole, connector_for

    source = make_datasource(
        "pg", engine="postgresql", host="127.0.0.1", port=1, database="x", username="u", password=PASSWORD
    )
    connector = connector_for(source, CredentialRole.OWNER)
    assert connector.scrub(f"failed for {PASSWORD}") == "failed for ********"


def test_admin_pages_never_render_passwords(admin_user):
    source = make_datasource(
        "pg",
        engine="postgresql",
        host="127.0.0.1",
        port=5432,
        database="x",
        username="u",
        password=PASSWORD,
        read_username="reader",
    )
    source.set_read_password(READ_PASSWORD)
    source.save()
    browser = Client()
    browser.force_login(admin_user)
    for url in [
        "/admin/datasources/datasource/",
        f"/admin/datasources/datasource/{source.id}/change/",
        "/admin/datasources/datasource/add/",
        "/admin/audit/auditevent/",
    ]:
        response = browser.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert_no_secret(html)
        assert source.password_encrypted not in html


def test_admin_form_sets_a_password_without_showing_it(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/datasources/datasource/add/",
        {
            "name": "from-admin",
            "engine": "postgresql",
            "host": "127.0.0.1",
            "port": "5432",
            "database": "x",
            "username": "u",
            "password": PASSWORD,
            "statement_timeout_ms": "30000",
            "max_rows": "10000",
            "cache_ttl_seconds": "300",
            "approvals_required": "1",
            "allowed_write_kinds": ["dml"],
            "is_active": "on",
            "permissions-TOTAL_FORMS": "0",
            "permissions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from apps.datasources.models import DataSource

    source = DataSource.objects.get(name="from-admin")
    assert source.get_password() == PASSWORD
    assert source.allowed_write_kinds == ["dml"]
    change_page = browser.get(f"/admin/datasources/datasource/{source.id}/change/").content.decode()
    assert_no_secret(change_page)
    assert AuditEvent.objects.filter(action="datasource.create", object_id=str(source.id)).exists()


def test_audit_details_never_hold_passwords(admin_client):
    source_id = admin_client.post(
        "/api/v1/datasources",
        {"name": "pg", "engine": "postgresql", "host": "h", "database": "x", "username": "u", "password": PASSWORD},
        format="json",
    ).json()["id"]
    admin_client.patch(
        f"/api/v1/datasources/{source_id}", {"read_username": "r", "read_password": READ_PASSWORD}, format="json"
    )
    for event in AuditEvent.objects.all():
        assert_no_secret(json.dumps(event.detail))


def test_audit_redacts_secret_keys_whatever_the_caller_passes():
    from apps.audit.services import record_event

    event = record_event("test.event", detail={"password": PASSWORD, "nested": [{"api_key": "k", "ok": 1}]})
    assert event.detail == {"password": "[redacted]", "nested": [{"api_key": "[redacted]", "ok": 1}]}


# --- credential material the source itself would hand to a reader -------------------------

CREDENTIAL_READS = [
    ("mysql", "SHOW GRANTS"),
    ("mysql", "show grants for current_user()"),
    ("mysql", "SHOW CREATE USER CURRENT_USER"),
    ("mysql", "SELECT authentication_string FROM mysql.user"),
    ("mysql", "SELECT * FROM `mysql`.`global_priv`"),
    ("mysql", "SELECT Password FROM mysql.servers"),
    ("postgresql", "SELECT rolpassword FROM pg_authid"),
    ("postgresql", "SELECT * FROM pg_catalog.pg_shadow"),
    ("postgresql", 'SELECT umoptions FROM "pg_user_mappings"'),
    ("postgresql", "SELECT subconninfo FROM pg_subscription"),
]


@pytest.mark.parametrize(("engine", "sql"), CREDENTIAL_READS)
def test_reads_of_credential_material_are_refused(engine, sql, request):
    server = request.getfixturevalue("mysql_server" if engine == "mysql" else "postgres_server")
    source = source_from_server("src", engine, server)
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "credential_material"
    assert "credential material" in error["message"]


def test_the_refusal_is_about_names_in_code_not_in_strings(mysql_server):
    source = source_from_server("src", "mysql", mysql_server)
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries",
        {"datasource": source.pk, "sql": "SELECT 'SHOW GRANTS' AS hint, 'mysql.user' AS t"},
        format="json",
    )
    assert response.status_code == 200, response.content
