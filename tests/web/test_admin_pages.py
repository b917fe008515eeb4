"""What an admin meets: Test connection on the data source form, groups without Django's
model permissions, the SQL and status in the audit log, whose run each history row is."""

import pytest
from django.contrib.auth.models import Group

from apps.audit.models import AuditEvent
from apps.submissions.submission import submit_query
from tests.support.factories import make_datasource, make_user, source_from_server
from tests.web.accessibility import assert_accessible
from tests.web.conftest import log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SECRET = "s3cret-never-shown-9f2c"


@pytest.fixture
def admin_user(transactional_db):
    return make_user("root", is_admin=True)


def test_test_connection_on_the_source_form_connects_for_real(page, admin_user, postgres_server):
    source = source_from_server("Warehouse", "postgresql", postgres_server)
    log_in(page, "root")
    page.goto(f"/admin/datasources/datasource/{source.pk}/change/")
    assert_accessible(page, "the data source form's Test connection button", within="#test-connection-form")
    page.click("#test-connection")
    page.wait_for_selector(".messagelist")
    assert page.url.endswith(f"/admin/datasources/datasource/{source.pk}/change/")
    assert "Warehouse: connected (" in page.inner_text(".messagelist")
    assert AuditEvent.objects.filter(action="datasource.test", object_id=str(source.pk)).exists()
    screenshot(page, "admin-test-connection-ok")


def test_a_failed_test_says_why_and_never_shows_the_password(page, admin_user):
    source = make_datasource("Nowhere", engine="postgresql", host="127.0.0.1", port=1, database="x", username="qb")
    source.set_password(SECRET)
    source.save()
    log_in(page, "root")
    page.goto(f"/admin/datasources/datasource/{source.pk}/change/")
    page.click("#test-connection")
    page.wait_for_selector(".messagelist .error")
    assert "Nowhere: connection_failed" in page.inner_text(".messagelist")
    assert SECRET not in page.content()
    screenshot(page, "admin-test-connection-failed")


def test_test_connection_takes_a_post(client, admin_user):
    source = make_datasource("Shop")
    client.force_login(admin_user)
    assert client.get(f"/admin/datasources/datasource/{source.pk}/test-connection/").status_code == 405


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
