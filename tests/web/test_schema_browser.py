"""The workspace's schema browser on PostgreSQL, in headless Chromium: a partitioned table
is one entry saying how many partitions it has, a materialized view is listed as a view,
and column types are PostgreSQL's names."""

import pytest

from tests.support import databases
from tests.support.factories import grant, make_group, make_user, source_from_server
from tests.web.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_partitions_are_grouped_and_materialized_views_listed(page, postgres_server):
    with databases.film_database(postgres_server) as server:
        source = source_from_server("Film", "postgresql", server)
        group = make_group("film-readers")
        grant(group, source, read=True)
        make_user("ana", groups=(group,))
        log_in(page, "ana")
        page.wait_for_selector("#schema li.table")
        names = page.locator("#schema li.table").evaluate_all("items => items.map((item) => item.dataset.table)")
        assert sorted(names) == ["film", "payment", "rating_counts"]
        payment = page.locator("#schema li.table[data-table='payment'] .table-name")
        assert payment.text_content() == "▸ payment 5 partitions"
        assert "payment_p2024_01: FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')" in payment.get_attribute("title")
        assert page.inner_text("#schema li.table[data-table='rating_counts'] .table-name").startswith("◇ ")
        page.click("#schema li.table[data-table='film'] .table-name")
        types = page.locator("#schema li.table[data-table='film'] .column .type").all_inner_texts()
        assert types == ["integer", "mpaa_rating", "text[]", "numeric(5,2)"]
