"""A result larger than a page in the workspace: the grid pages on through the server's
pages; and a download is named after what it holds, in headless Chromium."""

import pytest

from tests.web.conftest import log_in
from tests.web.test_dashboard import set_sql
from tests.web.test_running import first_cell, run_and_wait

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ROWS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) SELECT i FROM n"


def test_the_grid_pages_past_the_first_page_the_server_sent(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, ROWS)
    run_and_wait(page)
    assert page.inner_text("#result-meta").startswith("2500 rows")
    assert page.inner_text("#page-info") == "Page 1 of 25"
    for _ in range(10):  # the grid shows 100 rows a page; the server's first page held 1000
        page.click("#next-page")
    page.wait_for_selector("#page-info:has-text('Page 11 of 25')")
    assert first_cell(page) == "1001"
    for _ in range(14):
        page.click("#next-page")
    page.wait_for_selector("#page-info:has-text('Page 25 of 25')")
    assert page.inner_text("#grid tbody tr >> nth=-1") == "2500"
    assert page.is_disabled("#next-page")


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
