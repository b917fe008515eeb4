"""The workspace's editor as an analyst uses it, in headless Chromium: completion while
typing, running the selection or the statement under the cursor, Format SQL, a splitter,
no keyboard trap, the schema filter, tabs and drafts kept across reloads, saved queries as
documents, exports of the result on screen, and errors in plain words."""

import csv
import io

import pytest

from apps.queries.models import SavedQuery
from apps.queries.saved_queries import save_query
from tests.support.factories import reader, source_from_server
from tests.web.conftest import GRID_ROWS, grid_header, grid_rows, log_in, log_out, screenshot, wait_until
from tests.web.test_dashboard import set_sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def open_workspace(page, user: str = "ana") -> None:
    log_in(page, user)
    page.wait_for_selector("#schema li.table")


def editor_text(page) -> str:
    return page.evaluate("window.qbEditor.getValue()")


def run_key(page, key: str) -> None:
    page.keyboard.press(key)
    page.wait_for_selector("#run:enabled")
    page.wait_for_selector("#results:not([hidden]), #error:not([hidden])")


def test_completion_appears_while_typing_tables_and_columns(page, shop):
    open_workspace(page)
    set_sql(page, "")
    page.click("#editor .cm-content")
    page.keyboard.type("SELECT * FROM cust")
    # The list follows the typing: wait until it has caught up with "cust".
    page.wait_for_selector(".cm-tooltip-autocomplete >> text=customers")
    assert page.inner_text(".cm-tooltip-autocomplete .cm-completionLabel >> nth=0") == "customers"
    screenshot(page, "editor-completion-while-typing")
    page.keyboard.press("Enter")
    assert editor_text(page) == "SELECT * FROM customers"
    page.keyboard.type(" WHERE customers.ema")
    page.wait_for_selector(".cm-tooltip-autocomplete >> text=email")


def test_run_the_selection_or_the_statement_under_the_cursor(page, shop):
    open_workspace(page)
    set_sql(page, "SELECT 1 AS first;\nSELECT 2 AS second;\nSELECT 3 AS third;")
    page.click("#editor .cm-content")

    # The cursor on the second line: Ctrl+Shift+Enter runs that statement alone.
    page.keyboard.press("Control+Home")
    page.keyboard.press("ArrowDown")
    run_key(page, "Control+Shift+Enter")
    assert grid_header(page) == ["second"]
    assert grid_rows(page) == [["2"]]

    # A selection (the first line) is what Ctrl+Enter runs.
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+End")
    run_key(page, "Control+Enter")
    assert grid_header(page) == ["first"]


def test_format_sql_with_ctrl_shift_f_keeps_placeholders(page, shop):
    open_workspace(page)
    set_sql(page, "select id,name from customers where country=:country and id>$1")
    page.click("#editor .cm-content")
    page.keyboard.press("Control+Shift+F")
    wait_until(page, "window.qbEditor.getValue().startsWith('SELECT\\n')")
    formatted = editor_text(page)
    assert formatted.splitlines()[:4] == ["SELECT", "  id,", "  name", "FROM"]
    assert ":country" in formatted and "$1" in formatted
    screenshot(page, "editor-formatted")


def test_escape_then_tab_leaves_the_editor(page, shop):
    open_workspace(page)
    set_sql(page, "SELECT 1")
    page.click("#editor .cm-content")
    page.keyboard.press("Tab")  # Tab alone indents: the editor keeps the focus
    assert page.evaluate("document.activeElement.closest('#editor') !== null")
    assert editor_text(page) == "  SELECT 1"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#editor') === null")


def test_the_splitter_resizes_the_editor_and_keeps_its_height(page, shop):
    open_workspace(page)
    before = page.eval_on_selector("#editor", "e => e.getBoundingClientRect().height")
    box = page.locator("#splitter").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 150, steps=5)
    page.mouse.up()
    after = page.eval_on_selector("#editor", "e => e.getBoundingClientRect().height")
    assert after > before + 100
    page.focus("#splitter")
    page.keyboard.press("ArrowUp")
    assert page.eval_on_selector("#editor", "e => e.getBoundingClientRect().height") < after
    kept = page.eval_on_selector("#editor", "e => e.getBoundingClientRect().height")
    page.reload()
    page.wait_for_selector("#schema li.table")
    assert page.eval_on_selector("#editor", "e => e.getBoundingClientRect().height") == kept


def test_the_schema_filter_matches_columns_too(page, shop):
    open_workspace(page)
    page.fill("#schema-filter", "email")
    assert page.locator("#schema > li.table:visible").evaluate_all("items => items.map(i => i.dataset.table)") == [
        "customers"
    ]
    assert (
        page.locator("#schema li.table[data-table=customers] li[data-column]:visible")
        .all_inner_texts()[0]
        .startswith("email")
    )
    screenshot(page, "schema-filter-by-column")
    page.fill("#schema-filter", "order")
    shown = page.locator("#schema > li.table:visible").evaluate_all("items => items.map(i => i.dataset.table)")
    assert {"orders", "order_items"} <= set(shown)


def test_drafts_are_each_users_own_in_a_shared_browser(page, shop):
    open_workspace(page, "ana")
    set_sql(page, "SELECT name FROM customers -- ana's draft")
    page.click("#new-tab")
    set_sql(page, "SELECT 2 -- ana's second draft")
    assert page.locator("#tab-list .qtab").count() == 2
    log_out(page)

    open_workspace(page, "pat")
    assert "ana's" not in editor_text(page)
    assert page.locator("#tab-list .qtab").count() == 1
    assert "ana's" not in page.inner_text("#tab-list")
    log_out(page)

    open_workspace(page, "ana")
    assert page.locator("#tab-list .qtab").count() == 2
    assert editor_text(page) == "SELECT 2 -- ana's second draft"


def test_tabs_keep_their_sql_source_and_parameters_across_a_reload(page, shop):
    open_workspace(page)
    set_sql(page, "SELECT name FROM customers WHERE country = :country")
    page.wait_for_selector("#param-fields [data-key=':country']")
    page.fill("#param-fields [data-key=':country'] input", "DE")
    page.click("#new-tab")
    set_sql(page, "SELECT count(*) AS n FROM orders WHERE id > $1")
    page.wait_for_selector("#param-fields [data-key='$1']")
    page.fill("#param-fields [data-key='$1'] input", "3")
    page.select_option("#param-fields [data-key='$1'] select", "number")
    assert page.locator("#tab-list .qtab").count() == 2

    page.reload()
    page.wait_for_selector("#param-fields [data-key='$1']")
    assert page.locator("#tab-list .qtab").count() == 2
    assert editor_text(page) == "SELECT count(*) AS n FROM orders WHERE id > $1"
    assert page.input_value("#param-fields [data-key='$1'] input") == "3"
    assert page.input_value("#param-fields [data-key='$1'] select") == "number"

    page.click("#tab-list .qtab >> nth=0 >> .qtab-open")
    page.wait_for_selector("#param-fields [data-key=':country']")
    assert editor_text(page) == "SELECT name FROM customers WHERE country = :country"
    assert page.input_value("#param-fields [data-key=':country'] input") == "DE"
    screenshot(page, "tabs-after-reload")

    page.click("#tab-list .qtab >> nth=1 >> .qtab-close")
    assert page.locator("#tab-list .qtab").count() == 1


def test_a_saved_query_is_a_document_save_updates_it_save_as_copies_it(page, shop):
    saved = save_query(
        shop.analyst,
        fields={"name": "Big orders", "datasource": shop.source, "sql": "SELECT id FROM orders WHERE total > 100"},
    )
    open_workspace(page)
    page.goto(f"/?saved={saved.pk}")
    page.wait_for_selector("#schema li.table")
    assert page.inner_text("#document-name") == "Saved query: Big orders"
    assert page.inner_text("#tab-list .qtab.active").startswith("Big orders")

    set_sql(page, "SELECT id FROM orders WHERE total > 200")
    wait_until(page, "document.querySelector('#document-name').textContent.includes('(edited)')")
    # Leaving with edits not saved: the browser asks first.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.click("#editor .cm-content")  # a user gesture, which the browser requires for the prompt
    page.evaluate("location.reload()")
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]

    page.click("#save")
    wait_until(page, "!document.querySelector('#document-name').textContent.includes('(edited)')")
    saved.refresh_from_db()
    assert saved.sql == "SELECT id FROM orders WHERE total > 200"

    page.click("#save-as")
    assert page.is_visible("#save-dialog")
    assert page.input_value("#save-name") == "Big orders (copy)"
    screenshot(page, "save-as-dialog")
    page.fill("#save-name", "Bigger orders")
    page.click("#save-confirm")
    wait_until(page, "document.querySelector('#document-name').textContent === 'Saved query: Bigger orders'")
    assert SavedQuery.objects.filter(owner=shop.analyst).count() == 2
    assert SavedQuery.objects.get(name="Bigger orders").sql == saved.sql


def test_the_export_holds_the_result_on_screen_and_is_named_after_the_query(page, shop):
    saved = save_query(
        shop.analyst,
        fields={"name": "Customer names", "datasource": shop.source, "sql": "SELECT id, name FROM customers"},
    )
    open_workspace(page)
    page.goto(f"/?saved={saved.pk}")
    page.wait_for_selector("#schema li.table")
    tabs = page.locator("#tab-list .qtab").count()
    page.reload()  # the opened query is in its tab now: no second copy
    page.wait_for_selector("#schema li.table")
    assert page.locator("#tab-list .qtab").count() == tabs
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    set_sql(page, "SELECT sku, price FROM products")  # edited after the run, not run
    with page.expect_download() as download:
        page.click("#download-csv")
    # The server names the file (Content-Disposition's filename*), after the saved query.
    assert download.value.suggested_filename == "Customer names.csv"
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["id", "name"]


def test_errors_are_titled_and_in_plain_words(page, shop):
    open_workspace(page)
    set_sql(page, "   ")
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error-title") == "Nothing to run"
    assert "The editor is empty" in page.inner_text("#error-message")

    # An unterminated string is not a change to the database: no approval is offered.
    set_sql(page, "SELECT 'abc FROM customers")
    wait_until(page, "document.querySelector('#verdict').textContent === 'Could not parse this SQL.'")
    page.click("#run")
    page.wait_for_selector("#error-title:text('Could not parse this SQL')")
    assert "unterminated string" in page.inner_text("#error-message")
    assert page.is_hidden("#write-panel")

    # The database's complaint, titled, with the offending word underlined in the editor.
    set_sql(page, "SELECT id FORM customers")
    page.click("#run")
    page.wait_for_selector("#error-title:text('The database refused this query')")
    assert 'near "customers"' in page.inner_text("#error-message")
    page.wait_for_selector("#editor .cm-lintRange-error")
    assert page.inner_text("#editor .cm-lintRange-error") == "customers"
    screenshot(page, "error-panel-underlined")


def test_a_postgresql_error_names_its_line_and_column_and_is_underlined(page, postgres_server):
    source = source_from_server("Warehouse", "postgresql", postgres_server)
    reader("ana", source)
    open_workspace(page)
    set_sql(page, "SELECT 1 AS fine;\nSELECT relname,\n       nope FROM pg_class")
    page.click("#run")
    page.wait_for_selector("#error-title:text('The database refused this query')")
    assert 'column "nope" does not exist' in page.inner_text("#error-message")
    assert page.inner_text("#error-place") == "Line 3, column 8"
    assert page.inner_text("#editor .cm-lintRange-error") == "nope"

    # Run alone, the statement still points at the editor's own line.
    page.click("#editor .cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.press("Control+Shift+Enter")
    page.wait_for_selector("#error-place:text('Line 3, column 8')")
    screenshot(page, "error-postgresql-line-and-column")
