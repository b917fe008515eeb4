"""A result larger than a page in the workspace: the grid pages on through the server's
pages; and a download is named after what it holds, in headless Chromium."""

import pytest

from tests.web.conftest import log_in, screenshot, wait_until
from tests.web.test_dashboard import set_sql
from tests.web.test_running import first_cell, run_and_wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ROWS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) SELECT i FROM n"


def grid_numbers(page) -> list[int]:
    """Every row the grid holds (not only those drawn), as numbers."""
    return page.evaluate("window.qbGrid().getData().map(row => Number(row.c0))")


def test_the_grid_scrolls_past_the_first_page_the_server_sent_to_every_row(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, ROWS)
    run_and_wait(page)
    assert page.inner_text("#result-meta").startswith("2,500 rows")
    # The server's first page held 1,000 rows; the note says so and the grid holds those.
    assert page.inner_text("#rows-loaded-text").startswith("1,000 of 2,500 rows loaded")
    assert grid_numbers(page) == list(range(1, 1001))
    # Scrolling to the end of the grid fetches the next pages, one at a time. Tabulator
    # draws only the rows near the view, so each scroll to the end reaches some 20 rows
    # further: about 80 scrolls, one per frame (at 250 ms apart they took 20 s). A view
    # already at the end is first moved up a little, as a wheel does: setting the position
    # it has fires no scroll event, and rows added meanwhile are drawn on the next one.
    wait_until(
        page,
        """() => {
          const holder = document.querySelector('#grid .tabulator-tableholder');
          const end = holder.scrollHeight - holder.clientHeight;
          holder.scrollTop = holder.scrollTop >= end - 1 ? end - 40 : holder.scrollHeight;
          return [...document.querySelectorAll('#grid .tabulator-row')].some(row => row.textContent === '2,500');
        }""",
    )
    assert grid_numbers(page) == list(range(1, 2501))  # every row, once, in order
    page.wait_for_selector("#rows-loaded", state="hidden")
    screenshot(page, "large-result-scrolled-to-the-end")


def test_load_all_fetches_every_page_and_a_sort_covers_them(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, ROWS)
    run_and_wait(page)
    page.click("#grid .tabulator-col[tabulator-field=c0] .tabulator-col-title")  # sort ascending
    page.click("#grid .tabulator-col[tabulator-field=c0] .tabulator-col-title")  # then descending
    page.wait_for_selector("#rows-loaded-text:has-text('sorted among these')")
    assert first_cell(page) == "1,000"  # the highest of the rows loaded so far
    page.click("#load-all")
    page.wait_for_selector("#rows-loaded", state="hidden")
    assert sorted(grid_numbers(page)) == list(range(1, 2501))
    wait_until(page, "document.querySelector('#grid .tabulator-row .tabulator-cell').textContent === '2,500'")


def test_a_download_is_named_after_the_first_table(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT id, status FROM orders ORDER BY id")
    run_and_wait(page)
    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename == "orders.csv"
    with open(download.value.path(), "rb") as file:
        assert file.readline() == b"id,status\n"
