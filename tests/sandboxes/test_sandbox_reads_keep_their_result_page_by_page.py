"""A read in a sandbox goes the way of a read on the source: its rows stream into the
result store a page at a time, bounded by the row cap and QUERYBASE_MAX_RESULT_BYTES, and
the answer carries the first page with links to the others (`next`, `previous`). No
process holds the whole result, however many rows the source's row cap lets through."""

import tracemalloc

import pytest
from django.db.models import ProtectedError
from django.test import override_settings

from apps.queries.models import QueryRun, StoredResult
from apps.sandboxes.models import Sandbox
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

# Rows numbered from 1 to {rows}, in order, on each engine.
NUMBERS = {
    "postgresql": "SELECT g AS n FROM generate_series(1, {rows}) g ORDER BY g",
    "mysql": "SELECT seq AS n FROM seq_1_to_{rows} ORDER BY seq",
    "sqlite": "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) SELECT n FROM g",
}
# [n, 200 x's]: about 210 bytes of JSON a row, in order (no ORDER BY: sorting millions of
# them would cost the database more than the test).
WIDE_ROWS = "SELECT g AS n, repeat('x', 200) AS filler FROM generate_series(1, {rows}) g"


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


def my_sandbox(client, source) -> int:
    got = client.post(f"/api/v1/datasources/{source.pk}/sandbox")
    assert got.status_code in (200, 201), got.content
    return got.json()["id"]


def every_row(client, first: dict) -> list[list]:
    """The rows of page 1 and of every page its `next` links lead to."""
    rows, page = list(first["rows"]), first
    while page["next"]:
        page = client.get(page["next"]).json()
        rows.extend(page["rows"])
    return rows


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_a_sandbox_read_of_more_rows_than_a_page_answers_one_page_and_links_the_others(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = my_sandbox(client, source)

    with override_settings(QUERYBASE_RESULT_PAGE_ROWS=10):
        answer = run(client, source, sandbox_id, NUMBERS[engine].format(rows=25))

        assert answer.status_code == 200, answer.content
        body = answer.json()
        result = body["result"]
        assert result["rows"] == [[n] for n in range(1, 11)]  # the first page only
        assert (result["page"], result["page_count"], result["row_count"]) == (1, 3, 25)
        assert result["truncated"] is False and result["previous"] is None
        assert result["next"].endswith(f"/api/v1/queries/{body['id']}/results?page=2")
        second = client.get(result["next"]).json()
        assert second["rows"] == [[n] for n in range(11, 21)] and second["previous"].endswith("page=1")
        assert every_row(client, result) == [[n] for n in range(1, 26)]
        # Kept as a source read's: the run's own answer is the same first page.
        kept = client.get(f"/api/v1/queries/{body['id']}").json()["result"]
        assert kept["rows"] == result["rows"] and kept["next"] == result["next"]
    run_row = QueryRun.objects.get(pk=body["id"])
    assert (run_row.status, run_row.row_count, run_row.sandbox_id) == ("succeeded", 25, sandbox_id)
    assert StoredResult.objects.get(run_id=body["id"]).page_count == 3


def test_several_statements_in_a_sandbox_page_the_last_ones_rows_and_keep_the_others(request):
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = my_sandbox(client, source)

    with override_settings(QUERYBASE_RESULT_PAGE_ROWS=10):
        answer = run(client, source, sandbox_id, "SELECT 'first' AS a; " + NUMBERS["postgresql"].format(rows=25))

        assert answer.status_code == 200, answer.content
        result = answer.json()["result"]
        assert result["statement"] == 2 and len(result["rows"]) == 10 and result["page_count"] == 3
        first, last = result["statements"]
        assert (first["rows"], first["row_count"]) == ([["first"]], 1)
        assert (last["row_count"], last["rows_in_result"]) == (25, True)
        assert every_row(client, result) == [[n] for n in range(1, 26)]


def test_a_large_sandbox_read_is_cut_at_the_result_byte_limit_without_holding_its_rows(request):
    """Cut as a source read is (tests/queries/test_result_bytes.py): the answer says so,
    and the process holds what it keeps, not the rows the row cap would let through."""
    source = sandbox_source("postgresql", request, max_rows=10_000_000)
    client = client_for(reader("ada", source))
    sandbox_id = my_sandbox(client, source)

    with override_settings(QUERYBASE_MAX_RESULT_BYTES=50_000, QUERYBASE_RESULT_PAGE_ROWS=100):
        answer, peak = peak_python_bytes(lambda: run(client, source, sandbox_id, WIDE_ROWS.format(rows=2_000_000)))

        assert answer.status_code == 200, answer.content
        body = answer.json()
        result = body["result"]
        assert result["truncated"] is True
        rows = every_row(client, result)
    # As many whole rows as fit in 50,000 bytes, in order.
    assert 200 < len(rows) < 240
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert result["row_count"] == body["row_count"] == len(rows)
    assert QueryRun.objects.get(pk=body["id"]).truncated is True
    # Collected whole, the read held over 600 MB before its time ran out.
    assert peak < 10_000_000, f"the read held {peak:,} bytes at its peak"


def test_a_sandbox_read_kept_whole_never_holds_more_than_a_few_pages(request):
    """Every row kept (no cut), and yet the process serving the read holds a few pages at
    its peak, not the result: measured as the Python memory the request allocates."""
    source = sandbox_source("postgresql", request, max_rows=1_000_000)
    client = client_for(reader("ada", source))
    sandbox_id = my_sandbox(client, source)
    rows = 100_000  # some 21 MB of JSON: held whole, the read peaked at 78 MB; page by page, 3.4 MB

    answer, peak = peak_python_bytes(lambda: run(client, source, sandbox_id, WIDE_ROWS.format(rows=rows)))

    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    assert result["truncated"] is False and result["row_count"] == rows
    assert len(result["rows"]) == 1000 and result["page_count"] == rows // 1000
    stored = StoredResult.objects.get(run_id=answer.json()["id"])
    assert stored.size_bytes > 20_000_000
    assert peak < stored.size_bytes / 3, f"the read held {peak:,} bytes at its peak"


def peak_python_bytes(act):
    """What `act()` returns, and the most memory Python held for it at any moment."""
    tracemalloc.start()
    try:
        returned = act()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return returned, peak


def test_a_sandbox_with_runs_is_never_deleted_so_they_never_pass_for_runs_on_the_source(request):
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox_id = my_sandbox(client, source)
    answer = run(client, source, sandbox_id, "SELECT 1 AS one")
    assert answer.status_code == 200, answer.content
    with pytest.raises(ProtectedError):
        Sandbox.objects.filter(pk=sandbox_id).delete()
    assert QueryRun.objects.get(pk=answer.json()["id"]).sandbox_id == sandbox_id
    assert client.get(f"/api/v1/queries/{answer.json()['id']}").json()["sandbox"] == sandbox_id
