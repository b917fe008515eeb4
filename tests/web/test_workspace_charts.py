"""A chart of the result on screen, with the columns the analyst picks, saved with the query
and drawn again when it is opened and run, in headless Chromium."""

import pytest

from apps.queries.models import SavedQuery
from apps.queries.saved_queries import save_query
from tests.web.conftest import GRID_ROWS, log_in, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SQL = "SELECT status, count(*) AS orders, sum(total) AS revenue FROM orders GROUP BY status ORDER BY status"

# Pixels drawn on the canvas (not transparent): a blank canvas has none.
PAINTED = """canvas => {
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return painted;
}"""


def test_a_chart_of_the_result_is_drawn_with_picked_columns_and_saved_with_the_query(page, shop):
    saved = save_query(shop.analyst, fields={"name": "Orders by status", "datasource": shop.source, "sql": SQL})
    log_in(page, "ana")
    page.goto(f"/?saved={saved.pk}")
    page.wait_for_selector("#schema li.table")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)

    page.click("#toggle-chart")
    page.wait_for_selector("#chart-panel:not([hidden])")
    assert page.input_value("#chart-x") == "status"
    assert page.eval_on_selector("#chart-y", "s => [...s.selectedOptions].map(o => o.value)") == ["orders"]
    wait_until(page, f"({PAINTED})(document.querySelector('#chart-canvas')) > 500")
    blank_bar = page.eval_on_selector("#chart-canvas", PAINTED)

    page.select_option("#chart-type", "pie")
    page.select_option("#chart-y", ["revenue"])
    wait_until(page, f"({PAINTED})(document.querySelector('#chart-canvas')) !== {blank_bar}")
    screenshot(page, "chart-pie-of-revenue")
    assert "(edited)" in page.inner_text("#document-name")
    page.click("#save")
    wait_until(page, "!document.querySelector('#document-name').textContent.includes('(edited)')")
    assert SavedQuery.objects.get(pk=saved.pk).chart == {"type": "pie", "x": "status", "y": ["revenue"]}

    # Opened afresh elsewhere (a new browser profile): the saved chart comes back with its result.
    page.evaluate("localStorage.clear()")
    page.goto(f"/?saved={saved.pk}")
    page.wait_for_selector("#schema li.table")
    page.click("#run")
    page.wait_for_selector("#chart-panel:not([hidden])")
    assert page.input_value("#chart-type") == "pie"
    wait_until(page, f"({PAINTED})(document.querySelector('#chart-canvas')) > 500")

    page.click("#toggle-chart")
    assert page.is_hidden("#chart-panel")
