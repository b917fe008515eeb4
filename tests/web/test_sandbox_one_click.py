"""The one-click path in headless Chromium: a write the workspace refuses runs in the
analyst's sandbox at once, and is then requested on the real source, whose request page
shows the approver what it did in the sandbox."""

import hashlib
import json
import re

import pytest

from apps.approvals.models import ApprovalRequest
from apps.queries.models import QueryRun, SavedQuery
from apps.queries.saved_queries import create_share_link
from apps.sandboxes.models import Sandbox
from tests.support.factories import DEFAULT_PASSWORD
from tests.web.accessibility import assert_accessible
from tests.web.conftest import GRID_ROWS, grid_rows, log_in, log_out, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def set_sql(page, sql: str) -> None:
    page.evaluate("sql => window.qbEditor.setValue(sql)", sql)


def downloaded(page, button: str) -> str:
    """The text of the file the workspace saves when `button` is clicked."""
    with page.expect_download() as download:
        page.click(button)
    return download.value.path().read_text(encoding="utf-8")


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_refused_write_runs_in_my_sandbox_then_goes_to_the_approver_with_its_effect(page, sandboxed_shop):
    shop = sandboxed_shop
    before = file_digest(shop.path)
    log_in(page, "ana", DEFAULT_PASSWORD)
    page.wait_for_selector("#schema li.table[data-table=customers]")
    assert page.locator("#datasource option", has_text="Shop — my sandbox").count() == 1

    set_sql(page, "UPDATE customers SET name = 'Renamed In Sandbox' WHERE id = 1")
    page.click("#run")
    page.wait_for_selector("#write-panel:not([hidden])")
    assert page.is_visible("#run-in-sandbox")
    screenshot(page, "sandbox-01-refused-write")

    page.click("#run-in-sandbox")
    page.wait_for_selector(f"#results:not([hidden]) {GRID_ROWS}")
    assert page.locator("#datasource option:checked").inner_text() == "Shop — my sandbox"
    assert page.is_visible("#sandbox-bar")
    # One row per statement: number, kind, rows affected.
    assert grid_rows(page)[0] == ["1", "dml", "1"]
    assert page.is_visible("#sandbox-promote")
    assert_accessible(page, "the workspace on my sandbox")
    screenshot(page, "sandbox-02-ran-in-sandbox")

    set_sql(page, "SELECT name FROM customers WHERE id = 1")
    page.click("#run")
    wait_until(
        page, "document.querySelector('#grid .tabulator-row .tabulator-cell')?.textContent === 'Renamed In Sandbox'"
    )
    assert file_digest(shop.path) == before  # the real source is untouched
    # The export of the result on screen is the sandbox's rows, as the grid shows them.
    assert downloaded(page, "#download-csv") == "name\nRenamed In Sandbox\n"

    page.once("dialog", lambda dialog: dialog.accept("rename customer 1"))
    page.click("#sandbox-promote")
    page.wait_for_url("**/approvals/*")
    approval = ApprovalRequest.objects.get()
    assert approval.sql == "UPDATE customers SET name = 'Renamed In Sandbox' WHERE id = 1;"
    assert approval.reason == "rename customer 1"
    log_out(page)

    log_in(page, "pat", DEFAULT_PASSWORD)
    page.goto(f"/approvals/{approval.pk}")
    evidence = page.locator("#sandbox-evidence")
    assert re.search(r"→ 1 row(?!s)", evidence.inner_text())
    assert "1 updated" in evidence.inner_text()
    assert "Renamed In Sandbox" in evidence.locator("tr.after").first.inner_text()
    assert "Renamed In Sandbox" not in evidence.locator("tr.before").first.inner_text()
    screenshot(page, "sandbox-03-approver-sees-effect")
    assert file_digest(shop.path) == before


def test_plus_index_in_my_sandbox_from_the_schema_browser(page, sandboxed_shop):
    shop = sandboxed_shop
    before = file_digest(shop.path)
    log_in(page, "ana", DEFAULT_PASSWORD)
    page.wait_for_selector("#schema li.table[data-table=customers]")
    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector("#sandbox-bar:not([hidden])")
    page.wait_for_selector("#schema li.table[data-table=customers] .add-index", state="attached")
    page.click("#schema li.table[data-table=customers] .table-name")
    page.click("#schema li.table[data-table=customers] .add-index")
    page.check("#index-dialog input[value=country]")
    page.check("#index-dialog input[value=name]")
    page.fill("#index-name", "by_country_and_name")
    assert_accessible(page, "the index dialog")
    screenshot(page, "sandbox-04-index-dialog")
    page.click("#index-create")
    page.wait_for_selector(
        "#schema li.table[data-table=customers] li.index:has-text('by_country_and_name')", state="attached"
    )
    assert not page.locator("#index-dialog").count()
    assert "country, name" in page.locator("li.index", has_text="by_country_and_name").inner_text()

    # The real source's schema has no such index, and its file is unchanged.
    page.select_option("#datasource", label="Shop")
    page.wait_for_selector("#schema li.table[data-table=customers]", state="attached")
    page.wait_for_selector("#schema li.index", state="attached")  # the source's own indexes
    assert page.locator("li.index", has_text="by_country_and_name").count() == 0
    assert page.locator(".add-index").count() == 0
    assert file_digest(shop.path) == before


def test_a_large_read_in_my_sandbox_pages_in_the_grid_as_one_on_the_source(page, sandboxed_shop):
    """The server answers a sandbox read with its first page and a link to the next, as a
    read on the source: the grid says what it holds and "Load all" fetches the rest."""
    log_in(page, "ana", DEFAULT_PASSWORD)
    page.wait_for_selector("#schema li.table[data-table=customers]")
    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector("#schema li.table[data-table=customers] .add-index", state="attached")
    set_sql(page, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) SELECT i FROM n")
    page.click("#run")
    page.wait_for_selector("#rows-loaded:not([hidden])")
    assert page.inner_text("#result-meta").startswith("2,500 rows")
    assert page.inner_text("#rows-loaded-text").startswith("1,000 of 2,500 rows loaded")
    page.click("#load-all")
    page.wait_for_selector("#rows-loaded", state="hidden")
    numbers = page.evaluate("window.qbGrid().getData().map(row => Number(row.c0))")
    assert numbers == list(range(1, 2501))  # every row, once, in order
    assert QueryRun.objects.get().sandbox_id == Sandbox.objects.get().pk  # read in the sandbox


def test_a_query_saved_in_my_sandbox_opens_there_and_is_read_there_through_a_share_link(
    page, live_server, sandboxed_shop
):
    shop = sandboxed_shop
    log_in(page, "ana", DEFAULT_PASSWORD)
    page.wait_for_selector("#schema li.table[data-table=customers]")
    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector("#schema li.table[data-table=customers] .add-index", state="attached")
    set_sql(page, "UPDATE customers SET name = 'Only In The Sandbox' WHERE id = 1")
    page.click("#run")
    page.wait_for_selector(f"#results:not([hidden]) {GRID_ROWS}")
    assert not page.is_visible("#write-panel")  # a write runs at once in the sandbox

    set_sql(page, "SELECT name FROM customers WHERE id = 1")
    page.click("#save")
    page.fill("#save-name", "Customer one in my sandbox")
    page.click("#save-confirm")
    wait_until(page, "document.querySelector('#document-name').textContent.includes('Customer one')")
    saved = SavedQuery.objects.get(name="Customer one in my sandbox")
    assert saved.sandbox == Sandbox.objects.get(owner=shop.analyst)

    # Opened again, the query runs in my sandbox.
    page.goto(f"/?saved={saved.pk}")
    page.wait_for_selector("#sandbox-bar:not([hidden])")
    assert page.locator("#datasource option:checked").inner_text() == "Shop — my sandbox"
    token = create_share_link(saved, user=shop.analyst).share_token

    # Someone else with the link (in a browser of their own) reads it in my sandbox, not
    # on the real source.
    page = page.context.browser.new_page(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, "pat", DEFAULT_PASSWORD)
    page.goto(f"/?shared={token}")
    page.wait_for_selector("#sandbox-bar:not([hidden])")
    assert page.locator("#datasource option:checked").inner_text() == "Shop — ana's sandbox (read-only)"
    assert "ana's sandbox, shared with you" in page.inner_text("#sandbox-state")
    page.wait_for_selector("#schema li.table[data-table=customers]")
    assert page.locator(".add-index").count() == 0  # not pat's own sandbox
    page.click("#run")
    wait_until(
        page, "document.querySelector('#grid .tabulator-row .tabulator-cell')?.textContent === 'Only In The Sandbox'"
    )
    screenshot(page, "sandbox-05-shared-sandbox-read")
    # Exported, it is read in ana's sandbox too, with the link's token.
    assert json.loads(downloaded(page, "#download-json"))["rows"] == [["Only In The Sandbox"]]
    page.context.close()
    assert errors == []
