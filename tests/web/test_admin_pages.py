"""What an admin meets: Test connection on the data source form (what it holds, saved or not),
groups without Django's model permissions, the SQL and status in the audit log, whose run each history row is."""

import pytest
from django.contrib.auth.models import Group

from apps.audit.models import AuditEvent
from apps.datasources.models import DataSource
from apps.submissions.submission import submit_query
from tests.support.factories import make_datasource, make_user, source_from_server
from tests.web.accessibility import assert_accessible
from tests.web.conftest import log_in, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SECRET = "s3cret-never-shown-9f2c"


@pytest.fixture
def admin_user(transactional_db):
    return make_user("root", is_admin=True)


def press_test_connection(page) -> str:
    """Press the form's Test connection and read what it says."""
    page.click("#test-connection")
    wait_until(page, "!['', 'Connecting…'].includes(document.getElementById('test-connection-result').textContent)")
    return page.inner_text("#test-connection-result")


def test_test_connection_tries_what_the_form_holds_not_what_is_saved(page, admin_user, mysql_server):
    source = source_from_server("Warehouse", "mysql", mysql_server)
    log_in(page, "root")
    page.goto(f"/admin/datasources/datasource/{source.pk}/change/")
    assert_accessible(page, "the data source form's Test connection", within="#test-connection-box")
    # The password field left empty: the saved password is used.
    said = press_test_connection(page)
    assert said.startswith("Connected to MySQL / MariaDB: ") and "ms)" in said
    assert AuditEvent.objects.filter(action="datasource.test", object_id=str(source.pk)).exists()
    screenshot(page, "admin-test-connection-ok")

    # A password typed, not saved: it is the one tried, refused, and never shown back.
    page.fill("#id_password", SECRET)
    said = press_test_connection(page)
    assert said.startswith("Could not connect (datasource_authentication_failed)"), said
    assert SECRET not in page.content()
    screenshot(page, "admin-test-connection-failed")
    # A database typed, not saved: tried with the saved password.
    page.fill("#id_password", "")
    page.fill("#id_database", "no_such_database_h4")
    said = press_test_connection(page)
    assert "Could not connect" in said and "no_such_database_h4" in said
    # Nothing of it was saved.
    source.refresh_from_db()
    assert source.database == mysql_server.database
    assert source.get_password() == mysql_server.password
    assert page.url.endswith(f"/admin/datasources/datasource/{source.pk}/change/")


def test_test_connection_on_a_new_source_saves_nothing(page, admin_user, postgres_server):
    log_in(page, "root")
    page.goto("/admin/datasources/datasource/add/")
    page.select_option("#id_engine", "postgresql")
    page.fill("#id_host", postgres_server.host)
    page.fill("#id_port", str(postgres_server.port))
    page.fill("#id_database", postgres_server.database)
    page.fill("#id_username", postgres_server.username)
    said = press_test_connection(page)
    assert said.startswith("Connected to PostgreSQL: 1"), said
    assert not DataSource.objects.exists()
    # Settings saving would refuse are refused here too, with the field's own words.
    page.fill("#id_host", "")
    said = press_test_connection(page)
    assert said.startswith("Fix the connection settings first. host: A host is required"), said
    assert_accessible(page, "a refused test", within="#test-connection-box")


def test_the_test_endpoint_takes_a_post_from_an_admin_and_never_echoes_a_password(client, admin_user, postgres_server):
    source = make_datasource("Nowhere", engine="postgresql", host="127.0.0.1", port=1, database="x", username="qb")
    url = f"/admin/datasources/datasource/{source.pk}/test-connection/"
    client.force_login(admin_user)
    assert client.get(url).status_code == 405
    form = {"name": "Nowhere", "engine": "postgresql", "host": "127.0.0.1", "port": "1", "database": "x"}
    answer = client.post(url, {**form, "username": "qb", "password": SECRET})
    assert answer.status_code == 200
    assert answer.json()["ok"] is False and answer.json()["error_code"] == "connection_failed"
    assert SECRET not in answer.content.decode()
    refused = client.post(url, {**form, "port": "99999"})
    assert refused.status_code == 400 and "port" in refused.json()["errors"]
    assert client.post("/admin/datasources/datasource/424242/test-connection/", form).status_code == 404

    analyst = make_user("ana")
    client.force_login(analyst)
    assert client.post(url, form).status_code == 302  # to the admin's login: no test for non-admins


def test_the_group_form_offers_data_source_rights_not_model_permissions(page, admin_user, shop):
    log_in(page, "root")
    page.goto("/admin/auth/group/add/")
    assert page.locator("#id_permissions, #id_permissions_from").count() == 0
    assert_accessible(page, "the group form", within="#content")
    assert "rights on data sources" in page.inner_text("#content").lower()
    page.fill("#id_name", "auditors")
    page.select_option("select[name='datasource_permissions-0-datasource']", str(shop.source.pk))
    page.check("input[name='datasource_permissions-0-can_read']")
    page.click("input[name='_save']")
    page.wait_for_selector(".messagelist .success")
    group = Group.objects.get(name="auditors")
    assert group.permissions.count() == 0
    assert list(group.datasource_permissions.values_list("can_read", "can_write")) == [(True, False)]
    assert AuditEvent.objects.filter(action="datasource.permissions_change").exists()


def test_the_audit_log_shows_the_sql_and_the_status_now(page, admin_user, shop):
    submit_query(shop.analyst, datasource_id=shop.source.pk, sql="SELECT count(*) FROM customers", wait=5)
    log_in(page, "root")
    page.goto("/admin/audit/auditevent/?object_type=queries.queryrun")
    row = page.locator("#result_list tbody tr").first
    assert "SELECT count(*) FROM customers" in row.locator("td.field-sql").inner_text()
    assert row.locator("td.field-final_status").inner_text() == "succeeded"
    screenshot(page, "admin-audit-sql-status")


def test_an_admin_sees_whose_run_each_history_row_is_and_filters_by_user(page, admin_user, shop):
    submit_query(shop.analyst, datasource_id=shop.source.pk, sql="SELECT 1 AS by_ana", wait=5)
    submit_query(shop.approver, datasource_id=shop.source.pk, sql="SELECT 2 AS by_pat", wait=5)
    log_in(page, "root")
    page.goto("/history/")
    assert sorted(page.locator("td.run-user").all_inner_texts()) == ["ana", "pat"]
    page.fill("#filter-user", "pat")
    page.click(".filters button[type=submit]")
    page.wait_for_url("**/history/?*user=pat*")
    assert page.locator("td.run-user").all_inner_texts() == ["pat"]
    assert "by_pat" in page.inner_text("table.list")
    assert_accessible(page, "history as an admin")


def test_an_analyst_sees_no_user_column(page, shop):
    log_in(page, "ana")
    page.goto("/history/")
    assert page.locator("#filter-user, td.run-user").count() == 0
