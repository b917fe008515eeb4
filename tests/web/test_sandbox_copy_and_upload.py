"""My sandbox in the workspace, in headless Chromium at 1440 by 900: with the pool empty the
copy is made in the background and the bar follows it, then switches to it; a copy that
fails says why and can be tried again; a CSV is previewed (inferred types, lines left
out) and imported as a new table that appears in the schema list."""

import hashlib

import pytest

from apps.sandboxes.engines.sqlite import sandbox_directory
from apps.sandboxes.golden import refresh_golden
from apps.sandboxes.models import Sandbox, SandboxState
from tests.web.accessibility import assert_accessible
from tests.web.conftest import GRID_ROWS, grid_rows, log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

READY = "#schema li.table[data-table=customers] .add-index"  # only in my own sandbox, once it is ready
CSV = "sku,price,on_sale\nA1,9.50,true\nbroken line\nB2,12,false\n"


def set_sql(page, sql: str) -> None:
    page.evaluate("sql => window.qbEditor.setValue(sql)", sql)


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_workspace(page) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table[data-table=customers]")


def record_bar_texts(page) -> None:
    """Every text the sandbox bar shows from now on, kept in window.qbBarTexts, and whether
    its progress indicator was ever shown (window.qbProgressShown)."""
    page.evaluate(
        """() => {
            const state = document.querySelector('#sandbox-state');
            const progress = document.querySelector('#sandbox-progress');
            window.qbBarTexts = [];
            window.qbProgressShown = false;
            new MutationObserver(() => window.qbBarTexts.push(state.textContent))
                .observe(state, { childList: true, characterData: true, subtree: true });
            new MutationObserver(() => { window.qbProgressShown ||= !progress.hidden; })
                .observe(progress, { attributes: true, attributeFilter: ['hidden'] });
        }"""
    )


def test_with_the_pool_empty_the_bar_follows_the_copy_then_switches_to_it(page, sandboxed_shop):
    shop = sandboxed_shop
    before = file_digest(shop.path)
    open_workspace(page)
    record_bar_texts(page)

    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector(READY, state="attached")

    texts = page.evaluate("window.qbBarTexts")
    sandbox = Sandbox.objects.get(owner=shop.analyst)
    # No golden copy yet: the worker made it, then the copy; the bar said so while it waited.
    assert any(
        text.startswith(f"Your sandbox #{sandbox.pk} is being made: Making the golden copy from the source")
        for text in texts
    ), texts
    assert page.evaluate("window.qbProgressShown")
    assert sandbox.state == SandboxState.ACTIVE
    assert page.inner_text("#sandbox-state").startswith(f"Your sandbox #{sandbox.pk}: a private copy")
    assert page.is_hidden("#sandbox-progress") and page.is_hidden("#sandbox-failure")
    assert page.is_visible("#sandbox-upload")
    assert_accessible(page, "the workspace on my sandbox, just copied")

    set_sql(page, "DELETE FROM customers WHERE id = 1")
    page.click("#run")
    page.wait_for_selector(f"#results:not([hidden]) {GRID_ROWS}")
    assert grid_rows(page)[0] == ["1", "dml", "1"]  # ran at once, in the copy
    assert Sandbox.objects.count() == 1
    assert file_digest(shop.path) == before


def test_a_copy_that_fails_says_why_and_can_be_tried_again(page, sandboxed_shop):
    shop = sandboxed_shop
    golden = refresh_golden(shop.source)
    golden_file = sandbox_directory() / f"{golden.database_name}.sqlite3"
    moved = golden_file.rename(golden_file.with_suffix(".away"))
    open_workspace(page)

    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector("#sandbox-failure:not([hidden])")
    assert page.inner_text("#sandbox-failure-reason") == f"The golden copy {golden.database_name} is missing."
    assert Sandbox.objects.get(owner=shop.analyst).state == SandboxState.FAILED
    assert page.is_hidden("#sandbox-upload") and page.is_hidden("#sandbox-progress")
    assert page.locator(".add-index").count() == 0
    assert_accessible(page, "the workspace with my sandbox's copy failed")
    screenshot(page, "sandbox-06-copy-failed")

    moved.rename(golden_file)
    page.click("#sandbox-retry")
    page.wait_for_selector(READY, state="attached")
    assert page.is_hidden("#sandbox-failure")
    active = Sandbox.objects.get(owner=shop.analyst, state=SandboxState.ACTIVE)
    assert page.inner_text("#sandbox-state").startswith(f"Your sandbox #{active.pk}: a private copy")


def test_a_csv_is_previewed_then_imported_as_a_table_of_my_sandbox(page, sandboxed_shop):
    shop = sandboxed_shop
    before = file_digest(shop.path)
    open_workspace(page)
    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector(READY, state="attached")

    page.click("#sandbox-upload")
    page.set_input_files(
        "#upload-file", files=[{"name": "Prices 2024.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    assert page.input_value("#upload-table") == "prices_2024"  # made from the file's name
    assert page.is_disabled("#upload-import")  # nothing is imported before it is previewed

    page.click("#upload-preview-button")
    page.wait_for_selector("#upload-columns")
    types = page.locator("#upload-columns tbody tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))"
    )
    assert types == [["sku", "text"], ["price", "decimal"], ["on_sale", "boolean"]]
    assert page.locator("#upload-rows tbody tr").count() == 2
    assert page.inner_text("#upload-errors") == "Line 3: 1 fields where the header has 3"
    assert page.inner_text("#upload-status") == "2 row(s) to import; 1 line(s) would be left out."
    assert page.locator("#schema li.table[data-table=prices_2024]").count() == 0  # nothing made yet
    assert_accessible(page, "the upload dialog with its preview")
    screenshot(page, "sandbox-07-upload-preview")

    page.click("#upload-import")
    page.wait_for_selector("#schema li.table[data-table=prices_2024]", state="attached")
    assert page.inner_text("#upload-status") == ("Imported 2 row(s) into table prices_2024. 1 line(s) were left out:")
    assert page.inner_text("#upload-errors") == "Line 3: 1 fields where the header has 3"
    screenshot(page, "sandbox-08-upload-imported")

    # The same name again: the server's refusal is shown in the dialog.
    assert page.is_disabled("#upload-import")
    page.click("#upload-preview-button")
    page.wait_for_selector("#upload-import:not([disabled])")
    page.click("#upload-import")
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "already" in page.inner_text("#upload-error")
    page.click("#upload-close")

    set_sql(page, "SELECT sku, price, on_sale FROM prices_2024 ORDER BY sku")
    page.click("#run")
    page.wait_for_selector(f"#results:not([hidden]) {GRID_ROWS}")
    assert grid_rows(page) == [["A1", "9.5", "1"], ["B2", "12", "0"]]
    assert file_digest(shop.path) == before  # the real source has no such table


def test_no_upload_is_offered_where_the_source_lets_sandboxes_change_no_schema(page, sandboxed_shop):
    shop = sandboxed_shop
    shop.source.sandbox_write_kinds = ["dml"]
    shop.source.save()
    open_workspace(page)

    page.select_option("#datasource", label="Shop — my sandbox")
    page.wait_for_selector(READY, state="attached")

    assert page.inner_text("#sandbox-state").startswith("Your sandbox #")
    assert page.is_hidden("#sandbox-upload")  # an upload makes a table: a schema change
