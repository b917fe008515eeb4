"""The credential audit's surfaces: API errors, "Test connection", the stored summary in
lists, Django admin, the audit_credentials command, and what invalidates a stored audit."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.audit.models import AuditEvent
from apps.datasources import credential_audit
from apps.datasources.connectors.mysql_privileges import blank_strings, parse_privileges
from apps.datasources.connectors.privileges import PrivilegeReport
from apps.datasources.credential_findings import judge
from apps.datasources.models import DataSource
from apps.datasources.services import update_datasource
from tests.support import databases
from tests.support.factories import make_datasource, source_from_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_source(postgres_server):
    """Reads fall back to the main credentials: the postgres superuser."""
    return source_from_server("pg-owner", "postgresql", postgres_server)


@pytest.fixture
def sqlite_source(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def unreachable_source(name: str = "nowhere") -> DataSource:
    return make_datasource(
        name,
        engine="postgresql",
        host="127.0.0.1",
        port=databases.free_port(),
        database="x",
        username="x",
        password="pw-never-shown",
    )


def test_an_unreachable_source_is_a_502_json_error(admin_client):
    source = unreachable_source()
    response = admin_client.get(f"/api/v1/datasources/{source.id}/credential-audit")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "datasource_unavailable"
    assert error["details"]["reason"] == "connection_failed"
    assert "pw-never-shown" not in response.content.decode()
    source.refresh_from_db()
    assert source.credential_audit is None


def test_an_unknown_source_is_a_404_json_error(admin_client):
    response = admin_client.get("/api/v1/datasources/999999/credential-audit")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sqlite_reports_the_read_only_file_and_no_finding(admin_client, sqlite_source):
    audit = admin_client.get(f"/api/v1/datasources/{sqlite_source.id}/credential-audit").json()
    assert audit["findings"] == []
    assert audit["clean"] is True
    assert "read-only (mode=ro)" in audit["notes"][0]


def test_the_audit_is_stored_audited_and_summarised_in_lists(admin_client, admin_user, superuser_source):
    audit = admin_client.get(f"/api/v1/datasources/{superuser_source.id}/credential-audit").json()
    assert audit["datasource_id"] == superuser_source.id
    assert audit["audited_at"]
    superuser_source.refresh_from_db()
    assert superuser_source.credential_audit["findings"][0]["code"] == "pg_superuser"
    event = AuditEvent.objects.get(action="datasource.credential_audit")
    assert event.actor == admin_user
    assert event.detail["highest_severity"] == "high"
    assert "pg_superuser" in event.detail["codes"]
    row = admin_client.get(f"/api/v1/datasources/{superuser_source.id}").json()
    assert row["credential_audit"] == {
        "status": "high",
        "audited_at": audit["audited_at"],
        "credentials": "main",
        "counts": {"high": 1},
        "warning": True,
    }


def test_a_source_never_audited_says_so(admin_client, sqlite_source):
    row = admin_client.get(f"/api/v1/datasources/{sqlite_source.id}").json()
    assert row["credential_audit"]["status"] == "not_audited"
    assert row["credential_audit"]["warning"] is False
    assert row["require_least_privilege"] is False


def test_require_least_privilege_is_set_through_the_api(admin_client, sqlite_source):
    response = admin_client.patch(
        f"/api/v1/datasources/{sqlite_source.id}", {"require_least_privilege": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["require_least_privilege"] is True
    sqlite_source.refresh_from_db()
    assert sqlite_source.require_least_privilege is True


def test_test_connection_returns_the_audit_and_warns_on_high(admin_client, superuser_source):
    result = admin_client.post(f"/api/v1/datasources/{superuser_source.id}/test").json()
    assert result["ok"] is True
    assert result["credential_audit"]["highest_severity"] == "high"
    assert result["warning"].startswith("Warning: the main credentials of this source can do more than read")
    assert "Superuser" in result["warning"]


def test_test_connection_without_a_high_finding_has_no_warning(admin_client, sqlite_source):
    result = admin_client.post(f"/api/v1/datasources/{sqlite_source.id}/test").json()
    assert result["ok"] is True
    assert result["credential_audit"]["clean"] is True
    assert result["warning"] == ""


def test_test_connection_of_an_unreachable_source_has_no_audit(admin_client):
    result = admin_client.post(f"/api/v1/datasources/{unreachable_source().id}/test").json()
    assert result["ok"] is False
    assert result["credential_audit"] is None


@pytest.mark.parametrize("field", ["username", "password", "read_username", "read_password", "host", "database"])
def test_changing_credentials_drops_the_stored_audit(admin_user, superuser_source, field):
    credential_audit.audit_credentials(superuser_source)
    superuser_source.refresh_from_db()
    assert superuser_source.credential_audit is not None
    update_datasource(superuser_source, actor=admin_user, fields={field: "changed"})
    superuser_source.refresh_from_db()
    assert superuser_source.credential_audit is None
    assert superuser_source.credential_audited_at is None


def test_other_edits_keep_the_stored_audit(admin_user, superuser_source):
    credential_audit.audit_credentials(superuser_source)
    stale_copy = DataSource.objects.get(pk=superuser_source.pk)
    stale_copy.credential_audit = None  # as loaded before the audit ran
    update_datasource(stale_copy, actor=admin_user, fields={"description": "nightly copy", "max_rows": 50})
    superuser_source.refresh_from_db()
    assert superuser_source.description == "nightly copy"
    assert superuser_source.credential_audit["findings"][0]["code"] == "pg_superuser"


def test_an_audit_of_credentials_changed_meanwhile_is_not_stored(admin_user, superuser_source):
    loaded = DataSource.objects.get(pk=superuser_source.pk)
    update_datasource(superuser_source, actor=admin_user, fields={"read_username": "reader"})
    credential_audit.audit_credentials(loaded)  # audits the old (superuser) credentials
    superuser_source.refresh_from_db()
    assert superuser_source.credential_audit is None


# Django admin ------------------------------------------------------------------------------


def test_admin_page_shows_findings_and_warns_on_high(admin_user, superuser_source):
    credential_audit.audit_credentials(superuser_source)
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(f"/admin/datasources/datasource/{superuser_source.id}/change/").content.decode()
    assert "pg_superuser" in page
    assert "ALTER ROLE postgres NOSUPERUSER;" in page
    assert "Warning: the main credentials of this source can do more than read" in page
    assert 'name="require_least_privilege"' in page
    listing = browser.get("/admin/datasources/datasource/").content.decode()
    assert "HIGH: can do more than read" in listing


def test_admin_action_audits_the_selected_sources(admin_user, sqlite_source):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/datasources/datasource/",
        {"action": "audit_credentials", "_selected_action": [sqlite_source.id]},
        follow=True,
    )
    assert "credential audit: no findings" in response.content.decode()
    sqlite_source.refresh_from_db()
    assert sqlite_source.credential_audit is not None


# The command ---------------------------------------------------------------------------------


def run_command(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("audit_credentials", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue() + str(error)
    return 0, out.getvalue()


def test_command_exits_1_while_a_high_finding_stands(superuser_source, sqlite_source):
    status, output = run_command()
    assert status == 1
    assert "pg-owner (postgresql, main credentials, login postgres): HIGH" in output
    assert "[high] pg_superuser" in output
    assert "Fix: ALTER ROLE postgres NOSUPERUSER;" in output
    assert "shop (sqlite, main credentials, login -): CLEAN" in output


def test_command_for_one_clean_source_exits_0(superuser_source, sqlite_source):
    status, output = run_command("--source", "shop")
    assert status == 0
    assert "pg-owner" not in output


def test_command_exits_3_when_a_source_cannot_be_audited(sqlite_source):
    unreachable_source("down")
    status, output = run_command()
    assert status == 3
    assert "down (postgresql): NOT AUDITED" in output


def test_command_with_an_unknown_source_exits_2(sqlite_source):
    status, output = run_command("--source", "missing")
    assert status == 2
    assert "No data source named 'missing'" in output


# Parsing MariaDB grants ----------------------------------------------------------------------


def test_grant_lines_lose_their_password_hash_before_parsing():
    line = (
        "GRANT PROCESS ON *.* TO `u`@`%` IDENTIFIED BY PASSWORD '*1722832549673D72830E10C6887EE7BDC3F0A0C2' "
        "WITH GRANT OPTION"
    )
    blanked = blank_strings(line)
    assert "1722832549673D" not in blanked
    assert blanked.startswith("GRANT PROCESS ON *.* TO `u`@`%`")


def test_privilege_lists_keep_column_grants():
    grants = parse_privileges("SELECT, INSERT (`a`, `b`), ALL", "`db`.`t`")
    assert [(grant.privilege, grant.columns, grant.level) for grant in grants] == [
        ("SELECT", "", "table"),
        ("INSERT", "(`a`, `b`)", "table"),
        ("ALL PRIVILEGES", "", "table"),
    ]


def test_an_unknown_global_privilege_is_high():
    from apps.datasources.connectors.privileges import PrivilegeFact

    report = PrivilegeReport(login="u@%", grantee_sql="`u`@`%`", database="db")
    report.facts.append(PrivilegeFact("mysql_privilege", subject="BINLOG REPLAY", objects=("*.*",), level="global"))
    [finding] = judge(report)
    assert (finding.code, finding.severity) == ("mysql_admin_privileges", "high")
