"""Every page state of the dashboard passes axe-core (no critical or serious violation), in
headless Chromium; the keyboard reaches what the mouse does."""

import json

import pytest

from apps.approvals.creation import create_request
from apps.approvals.decisions import review_request
from apps.queries.saved_queries import create_share_link, save_query
from tests.web.accessibility import axe_violations
from tests.web.conftest import GRID_ROWS, log_in, log_out, screenshot

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
