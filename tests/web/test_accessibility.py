"""Every page state of the dashboard passes axe-core (no critical or serious violation), in
headless Chromium; the keyboard reaches what the mouse does."""

import json

import pytest

from apps.approvals.creation import create_request
from apps.approvals.decisions import review_request
from apps.queries.saved_queries import create_share_link, save_query
from tests.web.accessibility import axe_violations
from tests.web.conftest import GRID_ROWS, log_in, log_out, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def set_sql(page, sql: str) -> None:
    page.evaluate("sql => window.qbEditor.setValue(sql)", sql)


def test_no_page_state_has_a_critical_or_serious_violation(page, shop):
    found: dict[str, list] = {}

    def check(state: str) -> None:
        violations = axe_violations(page)
        if violations:
            found[state] = violations

    saved = save_query(shop.analyst, fields={"name": "Top customers", "datasource": shop.source, "sql": "SELECT 1"})
    link = f"/shared/{create_share_link(saved, user=shop.analyst).share_token}/"
    pending = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 1", reason="test order"
    )
    decided = create_request(
        shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 2", reason="test order"
    )
    review_request(shop.approver, decided.pk, decision="reject", comment="Not this one")

    page.goto("/login/")
    check("login")
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table[data-table=customers]")
    check("workspace")
    page.click("#schema li.table[data-table=customers] .table-name")
    set_sql(page, "SELECT id, name, country FROM customers ORDER BY id LIMIT 5")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    check("workspace with a result and an open table")
    set_sql(page, "SELECT nope FROM customers")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    check("workspace with an error")
    set_sql(page, "DELETE FROM orders WHERE id = 3")
    page.click("#run")
    page.wait_for_selector("#write-panel:not([hidden])")
    check("workspace with the write panel")
    page.goto("/history/")
    check("history")
    page.goto("/saved/")
    check("saved")
    page.click("details.share summary")
    check("saved with sharing open")
    page.goto(link)
    check("shared")
    page.goto(f"/approvals/{pending.pk}")
    check("request page, pending, as its requester")
    page.goto(f"/approvals/{decided.pk}")
    check("request page, rejected")
    page.goto("/notifications/")
    check("notifications")
    page.goto("/no-such-page/")
    check("404 page")
    log_out(page)
    log_in(page, "pat")
    page.goto("/approvals/")
    check("approvals inbox")
    page.goto(f"/approvals/{pending.pk}")
    page.wait_for_selector("#review-form")
    check("request page, pending, as an approver")
    screenshot(page, "a11y-request-page")
    assert found == {}, json.dumps(found, indent=1)


def test_the_keyboard_reaches_the_content_the_schema_and_the_results(page, shop):
    log_in(page, "ana")
    # The first Tab on a page offers to skip the navigation.
    page.goto("/history/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    page.goto("/")
    page.wait_for_selector("#schema li.table[data-table=customers]")

    # The schema tree: a table opens with Enter, a column goes into the editor with Enter.
    table = page.locator("#schema li.table[data-table=customers] .table-name")
    table.focus()
    assert table.get_attribute("aria-expanded") == "false"
    page.keyboard.press("Enter")
    assert table.get_attribute("aria-expanded") == "true"
    assert page.is_visible("#schema li.table[data-table=customers] .columns")
    set_sql(page, "SELECT  FROM customers")
    page.evaluate("window.qbEditor.setCursor(7)")
    page.keyboard.press("Tab")  # from the table to its "+" button
    page.keyboard.press("Tab")  # to its first column
    assert page.evaluate("document.activeElement.classList.contains('column')")
    page.keyboard.press("Enter")
    assert page.evaluate("window.qbEditor.getValue()") == "SELECT id FROM customers"

    # A result is announced, and the grid (named) is reachable: one of its cells is the
    # Tab stop (test_results_grid.py drives it with the keyboard).
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    wait_until(page, "document.getElementById('announcer').textContent.includes('rows')")
    assert page.get_attribute("#grid", "role") == "grid"
    assert page.get_attribute("#grid", "aria-label") == "Result rows"
    page.wait_for_selector("#grid .tabulator-row .tabulator-cell[tabindex='0']")
    assert page.locator("#grid [tabindex='0']").count() == 1
    # An error is said at once: its box is an alert.
    set_sql(page, "SELECT nope FROM customers")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert page.get_attribute("#error", "role") == "alert"


def test_the_bell_says_how_many_are_unread(page, shop):
    create_request(shop.analyst, datasource_id=shop.source.pk, sql="DELETE FROM orders WHERE id = 1", reason="x")
    log_in(page, "pat")
    # Its accessible name is its words, the count included (no aria-label hiding the count).
    assert page.get_by_role("link", name="Notifications 1 unread", exact=True).count() == 1
    page.click("a.bell")
    page.wait_for_url("**/notifications/")
    page.click("#read-all")
    page.wait_for_selector("#unread-count", state="hidden")
    page.evaluate("window.QB.refreshBell()")
    wait_until(page, "document.getElementById('unread-words').hidden")
    assert page.get_by_role("link", name="Notifications", exact=True).count() == 1
