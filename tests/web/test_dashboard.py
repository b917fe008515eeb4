"""The dashboard as analysts and approvers use it, in headless Chromium."""

import re
import sqlite3

import pytest

from apps.approvals.creation import create_request
from tests.support.factories import grant, make_datasource, make_group, make_user
from tests.web.conftest import GRID_ROWS, grid_header, grid_rows, log_in, log_out, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def set_sql(page, sql: str) -> None:
    page.evaluate("sql => window.qbEditor.setValue(sql)", sql)


def test_read_then_write_request_then_approval_and_execution(page, shop):
    page.goto("/")
    page.wait_for_url("**/login/**")
    screenshot(page, "01-login")
    log_in(page, "ana")

    # A read: rows in the grid, with types, count and timing.
    page.wait_for_selector("#schema li.table[data-table=customers]")
    set_sql(page, "SELECT id, name, country FROM customers ORDER BY id LIMIT 5")
    page.click("#editor .cm-content")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(GRID_ROWS)
    assert page.locator(GRID_ROWS).count() == 5
    assert grid_header(page) == ["id", "name", "country"]
    assert grid_rows(page)[0][:2] == ["1", "Uma Nguyen"]
    assert "5 rows" in page.inner_text("#result-meta")
    screenshot(page, "02-workspace-read")

    # A write: explained, then requested with a reason, then its page.
    set_sql(page, "DELETE FROM order_items WHERE order_id = 1")
    page.click("#run")
    page.wait_for_selector("#write-panel:not([hidden])")
    assert "DML" in page.inner_text("#write-detail")
    page.fill("#reason", "Order 1 was a test order")
    screenshot(page, "03-workspace-write")
    page.click("#request-approval")
    page.wait_for_url("**/approvals/*")
    assert page.inner_text("#approval-status") == "pending"
    assert "DELETE FROM order_items WHERE order_id = 1" in page.inner_text("#exact-sql")
    assert "cannot review your own request" in page.inner_text("#approval")
    request_url = page.url
    screenshot(page, "04-request-page-requester")
    log_out(page)

    # The approver: bell, inbox, request page, dry-run, approve, execution result.
    log_in(page, "pat")
    assert page.inner_text("#unread-count") == "1"
    page.goto("/approvals/")
    page.wait_for_selector("#approval-list tbody a")
    screenshot(page, "05-approvals-inbox")
    page.click("#approval-list tbody a >> nth=0")
    page.wait_for_selector("#review-form")
    assert page.url == request_url
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-result")
    assert re.search(r"→ [\d,]+ rows?\b", page.inner_text("#dry-run-result"))
    page.fill("#comment", "Checked with the order team")
    page.click("#approve")
    page.wait_for_selector("#execution.succeeded", timeout=30_000)
    assert re.search(r"→ [\d,]+ rows?\b", page.inner_text("#execution"))
    assert "Checked with the order team" in page.inner_text("#timeline")
    screenshot(page, "06-request-page-executed")
    with sqlite3.connect(shop.path) as connection:
        assert connection.execute("SELECT count(*) FROM order_items WHERE order_id = 1").fetchone()[0] == 0


def test_database_error_is_shown(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT nope FROM customers")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert "no such column: nope" in page.inner_text("#error")
    screenshot(page, "07-workspace-error")


def test_sources_without_rights_are_not_listed(page, shop):
    hidden = make_datasource("HR", database=str(shop.path))
    other = make_group("hr-readers")
    grant(other, hidden, read=True)
    log_in(page, "ana")
    options = page.locator("#datasource option").all_inner_texts()
    assert options == ["Shop"]
    log_out(page)
    make_user("nobody")
    log_in(page, "nobody")
    page.wait_for_selector("#no-sources")
    screenshot(page, "08-workspace-no-sources")


def test_history_rerun_saved_queries_and_notifications(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT count(*) AS n FROM orders WHERE status = $1")
    page.wait_for_selector("#param-fields [data-key='$1']")
    page.fill("#param-fields [data-key='$1'] input", "delivered")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)

    page.goto("/history/")
    assert "SELECT count(*) AS n FROM orders" in page.inner_text("table.list")
    screenshot(page, "09-history")
    page.click("text=Re-run")
    page.wait_for_selector("#param-fields [data-key='$1']")
    assert page.evaluate("window.qbEditor.getValue()") == "SELECT count(*) AS n FROM orders WHERE status = $1"
    assert page.input_value("#param-fields [data-key='$1'] input") == "delivered"

    page.click("#save")
    page.fill("#save-dialog #save-name", "Delivered orders")
    page.click("#save-confirm")
    page.wait_for_selector("text=Saved as")
    page.goto("/saved/")
    assert "Delivered orders" in page.inner_text("table.list")
    page.click("button.rename")
    page.fill("#rename-input", "Delivered orders (count)")
    page.click("#rename-save")
    page.wait_for_selector("text=Delivered orders (count)")
    page.click("details.share summary")
    page.click("button.link-create")
    page.wait_for_selector("input.share-url:visible")
    link = page.input_value("input.share-url")
    screenshot(page, "10-saved-queries")
    page.goto(link)
    assert "Delivered orders (count)" in page.inner_text("h1")

    page.goto("/notifications/")
    screenshot(page, "11-notifications")


def test_the_approver_sees_hidden_characters_as_markers(page, shop):
    disguised = "DELETE FROM order_items WHERE note <> 'x\u202e \u2066 AND id = 1 --\u2069 \u2066'"
    approval = create_request(shop.analyst, datasource_id=shop.source.pk, sql=disguised, reason="tidy")
    log_in(page, "pat")
    page.goto(f"/approvals/{approval.pk}")
    page.wait_for_selector("#exact-sql")
    shown = page.inner_text("#exact-sql")
    assert "\u202e" not in shown and "\u2066" not in shown
    assert "'x⟦U+202E⟧ ⟦U+2066⟧ AND id = 1 --⟦U+2069⟧ ⟦U+2066⟧'" in shown
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in page.inner_text("#hidden-characters")
    assert "Risk\nHIGH" in page.inner_text(".facts")
    screenshot(page, "09-request-with-hidden-characters")


def test_parameters_and_verdict_come_from_the_servers_scanner(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    # Parameters come from POST /api/v1/queries/analyze (the engine-specific cases, such as
    # `#` or `$tag$` on PostgreSQL, are in tests/queries/test_analyze_api.py).
    set_sql(page, "SELECT ':quoted', :shown /* :hidden */ FROM orders -- :also_hidden")
    page.wait_for_selector("#param-fields [data-key=':shown']")
    assert page.locator("#param-fields [data-key]").evaluate_all("rows => rows.map(r => r.dataset.key)") == [":shown"]
    assert page.inner_text("#verdict") == "Read: runs at once."
    set_sql(page, "DELETE FROM orders WHERE id = $1")
    page.wait_for_selector("#param-fields [data-key='$1']")
    assert page.inner_text("#verdict") == "Not a read: it will need an approval."


def test_the_bell_opens_the_notifications_page(page, shop):
    log_in(page, "ana")
    assert page.get_attribute("a.bell", "href") == "/notifications/"
    page.click("a.bell")
    page.wait_for_url("**/notifications/")
    assert page.locator("h1").count() == 1  # a page of the dashboard, not the API's JSON


def test_enter_in_a_parameter_runs_the_query_and_keeps_the_page(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT count(*) AS n FROM orders WHERE status = :status")
    page.wait_for_selector("#param-fields [data-key=':status']")
    page.fill("#param-fields [data-key=':status'] input", "delivered")
    page.press("#param-fields [data-key=':status'] input", "Enter")
    page.wait_for_selector(GRID_ROWS)
    assert page.url.endswith("/")  # no reload to "/?"
    assert page.evaluate("window.qbEditor.getValue()").endswith(":status")


def test_a_new_result_starts_at_its_first_row_and_the_editor_keeps_its_height(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(
        page,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) SELECT i FROM n WHERE i > :low",
    )
    page.wait_for_selector("#param-fields [data-key=':low']")
    page.fill("#param-fields [data-key=':low'] input", "0")
    page.select_option("#param-fields [data-key=':low'] select", "number")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    holder = "#grid .tabulator-tableholder"
    page.eval_on_selector(holder, "holder => { holder.scrollTop = holder.scrollHeight; }")
    wait_until(page, f"document.querySelector('{holder}').scrollTop > 1000")
    page.fill("#param-fields [data-key=':low'] input", "100")
    page.click("#run")
    wait_until(page, "document.querySelector('#result-meta').textContent.startsWith('150 rows')")
    assert page.eval_on_selector(holder, "holder => holder.scrollTop") == 0
    assert grid_rows(page)[0] == ["101"]
    assert page.eval_on_selector("#editor", "editor => editor.getBoundingClientRect().height") >= 250


def test_the_timeline_says_rejected(page, shop):
    approval = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 1", reason="test order"
    )
    log_in(page, "pat")
    page.goto(f"/approvals/{approval.pk}")
    page.fill("#comment", "Not this one")
    page.click("#reject")
    page.wait_for_selector("#timeline li.reject")
    assert "pat rejected it" in page.inner_text("#timeline")


def test_every_page_names_the_sites_icon_and_favicon_ico_leads_to_it(page, shop):
    page.goto("/login/")
    href = page.get_attribute("link[rel=icon]", "href")
    assert re.fullmatch(r"/static/querybase/favicon\.[0-9a-f]{12}\.svg", href), href  # hashed: cached for long
    icon = page.request.get(href)
    assert icon.status == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in icon.body()
    log_in(page, "ana")
    assert page.get_attribute("link[rel=icon]", "href") == href
    # Pages that name no icon (Django admin's) make the browser ask for /favicon.ico.
    asked = page.request.get("/favicon.ico", max_redirects=0)
    assert asked.status == 302
    assert asked.headers["location"] == href
