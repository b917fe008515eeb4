"""The results grid as an analyst reads it, in headless Chromium: sorting by a header,
resizing a column, numbers right-aligned with thousands separators, bytes as hex, NULL apart,
a cell's whole value in a dialog to copy, and a plain word when only the last of several
statements' results is shown."""

import pytest

from tests.web.conftest import GRID_ROWS, grid_header, grid_rows, log_in, screenshot
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
    page.wait_for_function("document.querySelector('#grid .tabulator-row .tabulator-cell').textContent === '12'")
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


def test_several_statements_say_which_result_is_shown(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    run(page, "SELECT 1 AS a; SELECT 'x;y' AS b;")
    assert grid_header(page) == ["b"]
    assert "has 2 statements: this is the result of the last one" in page.inner_text("#statements-note")
    run(page, "SELECT 1 AS a;")
    assert page.is_hidden("#statements-note")
