"""The audit page in headless Chromium: auditors find runs by words, a user or a record;
analysts have no such page; the page reads the search store only."""

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.audit.conftest import index_everything
from tests.support.audit import emptied_store, make_auditor
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user
from tests.web.conftest import log_in


@pytest.fixture
def audit_store():
    with emptied_store() as emptied:
        yield emptied


@pytest.fixture
def auditor(transactional_db):
    return make_auditor()


@pytest.fixture
def shop(transactional_db, shop_sqlite_path, audit_store):
    source = make_datasource("Shop", database=str(shop_sqlite_path))
    group = make_group("shop-readers")
    grant(group, source, read=True)
    analyst = make_user("ana", groups=(group,))
    api = client_for(analyst)
    for sql in ("SELECT name FROM customers WHERE id = 2", "SELECT * FROM customers_gone"):
        api.post("/api/v1/queries", {"datasource": source.pk, "sql": sql}, format="json")
    index_everything()
    # Recorded after the indexer ran: not in the store yet, so not on the page.
    api.post(
        "/api/v1/queries", {"datasource": source.pk, "sql": "SELECT 'not indexed yet' FROM customers"}, format="json"
    )
    return source, analyst


def test_an_auditor_searches_the_audit_log_in_the_browser(page, shop, auditor):
    source, analyst = shop
    log_in(page, auditor.username)
    page.click("nav.mainnav >> text=Audit")
    page.fill("#id_q", "customers")
    page.click("#audit-filters button[type=submit]")
    rows = page.locator("#audit-results tbody tr")
    text = page.inner_text("#audit-results")
    assert "SELECT name FROM customers WHERE id = 2" in text
    assert "not indexed yet" not in text
    failed = rows.filter(has_text="customers_gone").filter(has_text="query.run")
    assert "failed" in failed.inner_text()
    assert "no such table" in failed.inner_text()

    # A record's lifetime: the source, the table, the key.
    page.goto("/audit/")
    page.fill("#id_datasource", str(source.pk))
    page.fill("#id_table", "customers")
    page.fill("#id_key", "2")
    page.click("#audit-filters button[type=submit]")
    actions = page.locator("#audit-results tbody tr td:nth-child(3)").all_inner_texts()
    assert actions == ["query.run", "query.finished"]
    assert "succeeded" in page.inner_text("#audit-results tbody tr:first-child")

    # A user's actions, exported as CSV.
    page.goto("/audit/")
    page.fill("#id_user", analyst.username)
    page.click("#audit-filters button[type=submit]")
    assert page.locator("#audit-results tbody tr").count() == 4
    exported = page.request.get(page.get_attribute("#audit-csv", "href"))
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.text().count("\n") == 5  # the header and four events


def test_admins_history_names_each_runs_user(page, shop, admin_user):
    log_in(page, admin_user.username)
    page.goto("/history/")
    assert page.locator("td.run-user", has_text="ana").count() == 3


def test_analysts_have_no_audit_page(page, shop):
    _, analyst = shop
    log_in(page, analyst.username)
    assert page.locator("nav.mainnav >> text=Audit").count() == 0
    response = page.goto("/audit/?q=customers")
    assert response.status == 403


def test_the_audit_page_reads_no_audit_table_of_the_metadata_database(shop, auditor):
    browser = Client()
    browser.force_login(auditor)
    with CaptureQueriesContext(connections["default"]) as queries:
        response = browser.get("/audit/", {"q": "customers"})
    assert response.status_code == 200
    assert "SELECT name FROM customers WHERE id = 2" in response.content.decode()
    statements = [query["sql"] for query in queries.captured_queries]
    # Who the user is (session, user, the auditor right, the bell's unread count) and nothing else.
    assert statements and not [sql for sql in statements if "audit_" in sql or "queries_" in sql], statements
