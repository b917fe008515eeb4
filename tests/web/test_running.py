"""Running a query in the workspace: knowing when a result came from the cache, in
headless Chromium."""

import re

import pytest

from apps.queries.models import QueryRun
from tests.support.approvals import settle
from tests.support.factories import client_for
from tests.web.conftest import log_in, screenshot
from tests.web.test_dashboard import set_sql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def run_and_wait(page) -> None:
    page.click("#run")
    page.wait_for_selector("#run:enabled")


def first_cell(page) -> str:
    return page.inner_text("#grid tbody tr >> nth=0")


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
