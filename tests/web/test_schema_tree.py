"""The schema tree in headless Chromium: PostgreSQL partitions under the table they split,
materialized views marked as views, and a tree the keyboard works as the mouse does."""

import pytest

from tests.datasources.test_schema_api import film_database  # noqa: F401 (a fixture)
from tests.support.factories import grant, make_group, make_user, source_from_server
from tests.web.conftest import GRID_ROWS, log_in, screenshot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_partitions_are_counted_under_their_table_and_named_with_their_bounds(page, film_database):  # noqa: F811
    source = source_from_server("Film", "postgresql", film_database)
    readers = make_group("film-readers")
    grant(readers, source, read=True)
    make_user("fay", groups=(readers,))
    log_in(page, "fay")
    page.wait_for_selector("#schema li.table[data-table=payment]")
    # Partitions are not tables of their own in the tree.
    assert page.locator("#schema > li.table").evaluate_all("items => items.map(i => i.dataset.table)") == [
        "film",
        "payment",
        "rating_counts",
    ]
    payment = page.locator("#schema li.table[data-table=payment] .table-name")
    assert payment.text_content() == "▸ payment 5 partitions"
    tooltip = payment.get_attribute("title")
    assert tooltip.startswith("partitioned table\n")
    assert "payment_p2024_01: FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')" in tooltip
    assert "payment_rest: DEFAULT" in tooltip
    assert "payment_rest_one: FOR VALUES IN (1)" in tooltip
    # A materialized view is marked as a view is; a plain table has no partition count.
    assert page.text_content("#schema li.table[data-table=rating_counts] .table-name") == "◇ rating_counts"
    assert page.text_content("#schema li.table[data-table=film] .table-name") == "▸ film"
    screenshot(page, "schema-partitions")


def test_the_keyboard_opens_a_table_and_inserts_a_column_and_a_result_is_announced(page, shop):
    log_in(page, "ana")
    page.wait_for_selector("#schema li.table[data-table=customers]")
    page.evaluate("window.qbEditor.setValue('')")
    name = page.locator("#schema li.table[data-table=customers] .table-name")
    assert name.get_attribute("aria-expanded") == "false"
    name.focus()
    page.keyboard.press("Enter")
    assert name.get_attribute("aria-expanded") == "true"
    assert page.is_visible("#schema li.table[data-table=customers] li[data-column=email]")
    page.focus("#schema li.table[data-table=customers] li[data-column=email] button")
    page.keyboard.press("Space")
    assert page.evaluate("window.qbEditor.getValue()") == "email"
    page.focus("#schema li.table[data-table=customers] .insert")
    page.keyboard.press("Enter")
    assert page.evaluate("window.qbEditor.getValue()") == "emailcustomers"
    name.focus()
    page.keyboard.press("Enter")
    assert name.get_attribute("aria-expanded") == "false"
    assert not page.is_visible("#schema li.table[data-table=customers] li[data-column=email]")

    # The result and its size are said in the page's live region.
    page.evaluate("window.qbEditor.setValue('SELECT id FROM customers ORDER BY id LIMIT 3')")
    page.click("#run")
    page.wait_for_selector(GRID_ROWS)
    wait_until(page, "document.querySelector('#announcer').textContent.startsWith('3 rows')")
