"""Running a query in the workspace: stopping it, seeing it run, and knowing when a result
came from the cache, in headless Chromium."""

import re

import pytest

from apps.queries.models import QueryRun, RunStatus
from tests.support.approvals import settle
from tests.support.factories import client_for
from tests.web.conftest import grid_rows, log_in, screenshot, wait_until
from tests.web.test_dashboard import set_sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Counts to a billion in SQLite: far longer than any test waits.
SLOW = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT count(*) FROM n"


def run_and_wait(page) -> None:
    page.click("#run")
    page.wait_for_selector("#run:enabled")


def first_cell(page) -> str:
    return grid_rows(page)[0][0]


def test_a_running_query_shows_its_time_dims_the_old_result_and_stops(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, "SELECT 42 AS answer")
    run_and_wait(page)
    assert first_cell(page) == "42"

    # Stop, once the read has become a job on the worker.
    set_sql(page, SLOW)
    page.click("#run")
    page.wait_for_selector("#stop:visible")
    assert "stale" in page.get_attribute("#results", "class")
    assert page.get_attribute("#results", "aria-busy") == "true"
    wait_until(page, "parseFloat(document.querySelector('#elapsed').textContent.match(/[\\d.]+/)[0]) >= 1.5")
    assert page.inner_text("#elapsed").startswith("Running…")
    screenshot(page, "running-with-stop-and-timer")
    page.click("#stop")
    page.wait_for_selector("#run-note:visible", timeout=15_000)
    assert page.inner_text("#run-note").startswith("Stopped after")
    assert page.is_hidden("#stop") and page.is_hidden("#elapsed")
    assert "stale" not in page.get_attribute("#results", "class")
    assert first_cell(page) == "42"  # the previous result, no longer dimmed
    screenshot(page, "running-stopped")

    # Escape at once, before the first answer has even named the job.
    page.click("#run")
    page.wait_for_selector("#run-note", state="hidden")
    page.keyboard.press("Escape")
    page.wait_for_selector("#run-note:visible", timeout=15_000)
    assert page.is_enabled("#run")

    statuses = list(QueryRun.objects.filter(sql=SLOW).values_list("status", flat=True))
    assert statuses == [RunStatus.CANCELLED, RunStatus.CANCELLED]


def test_a_cached_result_says_how_old_it_is_and_a_write_or_refresh_makes_it_fresh(page, shop):
    count = "SELECT count(*) AS n FROM order_items WHERE order_id = 1"
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    set_sql(page, count)
    run_and_wait(page)
    before = first_cell(page)
    assert before != "0"
    assert page.is_hidden("#badge-cached")

    run_and_wait(page)
    assert re.fullmatch(r"cached (just now|\d+ s ago) · Refresh", page.inner_text("#badge-cached"))
    screenshot(page, "result-cached-with-refresh")
    page.click("#refresh")
    page.wait_for_selector("#badge-cached", state="hidden")
    assert first_cell(page) == before
    assert QueryRun.objects.filter(sql=count, from_cache=False).count() == 2

    # An approved write on the source: the same SELECT shows what the source holds now.
    answer = client_for(shop.analyst).post(
        "/api/v1/queries",
        {"datasource": shop.source.pk, "sql": "DELETE FROM order_items WHERE order_id = 1", "reason": "test order"},
        format="json",
    )
    request_id = answer.json()["approval"]["id"]
    client_for(shop.approver).post(f"/api/v1/approvals/{request_id}/review", {"decision": "approve"}, format="json")
    assert settle(request_id).status == "succeeded"
    run_and_wait(page)
    assert first_cell(page) == "0"
    assert page.is_hidden("#badge-cached")


@pytest.mark.usefixtures("sandboxed_shop")
def test_refresh_reads_again_where_the_result_was_read_not_where_the_picker_points_now(page):
    count = "SELECT count(*) AS n FROM order_items WHERE order_id = 1"
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table")
    # My sandbox holds no items of order 1; the real source still does.
    page.select_option("#datasource", label="Shop — my sandbox")
    set_sql(page, "DELETE FROM order_items WHERE order_id = 1")
    run_and_wait(page)
    set_sql(page, count)
    run_and_wait(page)
    assert first_cell(page) == "0"

    page.select_option("#datasource", label="Shop")
    run_and_wait(page)
    on_source = first_cell(page)
    assert on_source != "0"
    run_and_wait(page)
    assert page.is_visible("#badge-cached")

    # The picker now points at my sandbox; the result on screen came from the source.
    page.select_option("#datasource", label="Shop — my sandbox")
    page.click("#refresh")
    page.wait_for_selector("#badge-cached", state="hidden")
    assert first_cell(page) == on_source
    refreshed = QueryRun.objects.filter(sql=count, from_cache=False).latest("created_at")
    assert refreshed.sandbox_id is None
    assert QueryRun.objects.filter(sql=count, from_cache=False, sandbox__isnull=True).count() == 2
