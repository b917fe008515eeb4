"""The results grid as an analyst reads it, in headless Chromium: sorting by a header,
resizing a column, numbers right-aligned with thousands separators, bytes as hex, NULL apart,
a cell's whole value in a dialog to copy, and a tab per statement's result when the SQL has
several."""

import pytest

from tests.web.accessibility import assert_accessible
from tests.web.conftest import GRID_ROWS, grid_header, grid_rows, log_in, screenshot, wait_until
from tests.web.test_dashboard import set_sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LONG_TEXT = "lorem ipsum " * 60
VALUES = (
    "SELECT 1234567 AS big, -9876543.25 AS money, x'DEADBEEF' AS raw, NULL AS empty, "
    f"'{LONG_TEXT.strip()}' AS long_text"
)


def run(page, sql: str) -> None:
    set_sql(page, sql)
    page.click("#run")
    page.wait_for_selector("#run:enabled")
    page.wait_for_selector(GRID_ROWS)


def test_values_are_shown_as_a_database_person_reads_them(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    run(page, VALUES)
    big, money, raw, nothing, long_text = grid_rows(page)[0]
    assert big == "1,234,567"
    assert money == "-9,876,543.25"
    assert raw == "\\xdeadbeef"
    assert nothing == "NULL"
    assert long_text.startswith("lorem ipsum")
    cells = page.locator(f"{GRID_ROWS} >> nth=0").locator(".tabulator-cell")
    assert cells.nth(0).evaluate("cell => getComputedStyle(cell).textAlign") == "right"
    assert cells.nth(3).evaluate("cell => cell.classList.contains('null')")
    title = page.locator("#grid .tabulator-col[tabulator-field=c0] .tabulator-col-title")
    assert title.evaluate("title => getComputedStyle(title).textAlign") == "right"
    screenshot(page, "grid-values")

    # The whole of a long value, in a dialog, to copy.
    cells.nth(4).click()
    page.wait_for_selector("#cell-dialog[open]")
    assert page.inner_text("#cell-value") == LONG_TEXT.strip()
    assert page.inner_text("#cell-dialog-title").startswith("long_text")
    page.click("#cell-copy")
    page.wait_for_selector("#cell-copied:text('Copied.')")
    screenshot(page, "grid-cell-dialog")
    page.click("#cell-close")
    assert page.is_hidden("#cell-dialog")


def test_sort_by_a_header_and_resize_a_column(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    run(page, "SELECT id, name FROM customers ORDER BY id LIMIT 12")
    assert [row[0] for row in grid_rows(page)][:3] == ["1", "2", "3"]
    page.click("#grid .tabulator-col[tabulator-field=c0] .tabulator-col-title")
    page.click("#grid .tabulator-col[tabulator-field=c0] .tabulator-col-title")
    wait_until(page, "document.querySelector('#grid .tabulator-row .tabulator-cell').textContent === '12'")
    assert [row[0] for row in grid_rows(page)][:3] == ["12", "11", "10"]

    column = page.locator("#grid .tabulator-col[tabulator-field=c0]")
    width = column.bounding_box()["width"]
    handle = page.locator("#grid .tabulator-col[tabulator-field=c0] + .tabulator-col-resize-handle")
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert column.bounding_box()["width"] > width + 80
    assert grid_header(page) == ["id", "name"]


def test_several_statements_each_show_their_result_in_a_tab(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    run(page, "SELECT id, name FROM customers ORDER BY id LIMIT 3; SELECT 'x;y' AS b;")
    # The last statement's result first, in the second of two tabs.
    assert grid_header(page) == ["b"]
    tabs = page.locator("#statement-tabs [role=tab]")
    labels = [" ".join(text.split()) for text in tabs.all_inner_texts()]
    assert labels == ["Statement 1 · 3 rows", "Statement 2 · 1 row"]
    assert tabs.nth(1).get_attribute("aria-selected") == "true"
    assert page.inner_text("#result-meta").startswith("Statement 2 of 2: 1 row")
    assert_accessible(page, "results of two statements")

    tabs.nth(0).click()
    wait_until(page, "document.querySelector('#grid .tabulator-col-title')?.firstChild?.textContent === 'id'")
    assert grid_header(page) == ["id", "name"]
    assert [row[0] for row in grid_rows(page)] == ["1", "2", "3"]
    assert tabs.nth(0).get_attribute("aria-selected") == "true"
    screenshot(page, "grid-statement-tabs")
    # The export is of the statement on screen.
    with page.expect_download() as download:
        page.click("#download-csv")
    with open(download.value.path(), "rb") as file:
        assert file.readline() == b"id,name\n"

    # The keyboard moves between the tabs too.
    tabs.nth(0).focus()
    page.keyboard.press("ArrowRight")
    wait_until(page, "document.querySelector('#grid .tabulator-col-title')?.firstChild?.textContent === 'b'")
    assert page.evaluate("document.activeElement.id") == "statement-tab-2"

    run(page, "SELECT 1 AS a;")
    assert page.is_hidden("#statement-tabs")
    assert grid_header(page) == ["a"]


FOCUSED = "document.activeElement.classList.contains('tabulator-cell') ? document.activeElement.textContent : null"
NUMBERS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) "
    "SELECT i AS id, 'row ' || i AS label, i * 10 AS tens FROM n"
)


def press(page, key: str, then: str) -> None:
    """Press `key` and wait until the focused cell reads `then`."""
    page.keyboard.press(key)
    wait_until(page, f"({FOCUSED}) === {then!r}")


def test_the_keyboard_alone_moves_through_the_cells_opens_and_copies_one(page, shop):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, NUMBERS)
    page.evaluate("window.qbEditor.focus()")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(GRID_ROWS)
    # Out of the editor (Escape, then Tab) and on to the grid by Tab alone.
    page.keyboard.press("Escape")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED) is not None:
            break
    assert page.evaluate(FOCUSED) == "1", "Tab reaches the grid's first cell"
    focused = "document.activeElement"
    assert page.evaluate(f"{focused}.getAttribute('role')") == "gridcell"
    assert page.evaluate(f"getComputedStyle({focused}).outlineStyle") == "solid", "the focused cell is visible"
    assert page.locator("#grid [tabindex='0']").count() == 1, "one Tab stop in the grid"

    press(page, "ArrowRight", "row 1")
    press(page, "ArrowDown", "row 2")
    press(page, "End", "20")
    press(page, "Home", "2")
    press(page, "ArrowUp", "1")
    press(page, "ArrowUp", "1")  # the first row stays the first
    page.keyboard.press("PageDown")
    wait_until(page, f"Number(({FOCUSED}) || 0) > 5")
    below = int(page.evaluate(FOCUSED))
    press(page, "PageUp", "1")
    # The last cell of 200 rows is drawn into view (virtual scrolling) and focused.
    press(page, "Control+End", "2,000")
    holder = page.locator("#grid .tabulator-tableholder").bounding_box()
    cell = page.evaluate(f"JSON.parse(JSON.stringify({focused}.getBoundingClientRect()))")
    assert holder["y"] <= cell["y"] and cell["y"] + cell["height"] <= holder["y"] + holder["height"] + 1
    assert page.evaluate(f"{focused}.closest('[role=row]').getAttribute('aria-rowindex')") == "201"
    assert page.get_attribute("#grid", "aria-rowcount") == "201"
    assert page.get_attribute("#grid .tabulator-headers", "aria-rowindex") == "1"  # the header is row 1
    press(page, "Control+Home", "1")
    assert below > 5
    screenshot(page, "grid-keyboard-focus")
    assert_accessible(page, "a focused cell in the grid")

    # Enter opens the value viewer; Escape closes it and the cell has the focus again.
    press(page, "ArrowRight", "row 1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#cell-dialog[open]")
    assert page.inner_text("#cell-value") == "row 1"
    page.keyboard.press("Escape")
    wait_until(page, f"({FOCUSED}) === 'row 1'")
    page.keyboard.press(" ")
    page.wait_for_selector("#cell-dialog[open]")
    page.keyboard.press("Escape")
    wait_until(page, f"({FOCUSED}) === 'row 1'")

    # Ctrl+C copies the cell's whole value, and says so.
    press(page, "ArrowDown", "row 2")
    page.keyboard.press("Control+c")
    wait_until(page, "document.getElementById('announcer').textContent.includes('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == "row 2"

    # The keyboard's bookkeeping builds no row Tabulator has not drawn: that made every
    # column as wide as the widest allowed (420 px) on a long result.
    run(page, "SELECT id, status FROM orders ORDER BY id LIMIT 200")
    assert page.locator("#grid .tabulator-col[tabulator-field=c0]").bounding_box()["width"] < 200
