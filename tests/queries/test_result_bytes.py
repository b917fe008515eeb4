"""A result is bounded in bytes as well as rows: the row cap says how many rows a result
keeps, not how large they are, and one read of wide rows would otherwise fill the
metadata database and the cache. Beyond QUERYBASE_MAX_RESULT_BYTES of JSON the result is
cut, as at the row cap (`truncated`); one row over QUERYBASE_MAX_ROW_BYTES fails the read
with `row_too_large`, and nothing of it is kept."""

import pytest
from django.test import override_settings

from apps.queries.models import QueryRun, StoredResult
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Each row is [n, "xxx…"] with 200 x's: about 210 bytes of JSON.
WIDE_ROWS = "SELECT g AS n, repeat('x', 200) AS filler FROM generate_series(1, {rows}) g ORDER BY g"


def submit(client, source, sql):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "wait": 60}, format="json")


def every_row(client, first: dict) -> list[list]:
    rows, page = list(first["rows"]), first
    while page["next"]:
        page = client.get(page["next"]).json()
        rows.extend(page["rows"])
    return rows


@pytest.mark.parametrize("stored_in", ["cache", "database"])
def test_a_result_is_cut_before_the_first_row_beyond_its_byte_limit(postgres_server, stored_in):
    source = source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)
    client = client_for(reader("ana", source))
    # The database path: pages of 10 rows, and nothing goes to the cache whole.
    sizes = {"QUERYBASE_RESULT_PAGE_ROWS": 10, "QUERYBASE_CACHE_MAX_BYTES": 100} if stored_in == "database" else {}
    with override_settings(QUERYBASE_MAX_RESULT_BYTES=50_000, **sizes):
        response = submit(client, source, WIDE_ROWS.format(rows=1000))
    assert response.status_code == 200, response.content
    body = response.json()
    result = body["result"]
    assert result["truncated"] is True
    rows = every_row(client, result)
    # As many whole rows as fit in 50,000 bytes, in order, and no more.
    assert 200 < len(rows) < 240
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert all(row[1] == "x" * 200 for row in rows)
    assert result["row_count"] == body["row_count"] == len(rows)
    assert QueryRun.objects.get(pk=body["id"]).truncated is True
    assert StoredResult.objects.filter(run_id=body["id"]).exists() is (stored_in == "database")


def test_a_result_within_its_byte_limit_is_not_marked_cut(postgres_server):
    source = source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)
    client = client_for(reader("ana", source))
    with override_settings(QUERYBASE_MAX_RESULT_BYTES=50_000):
        response = submit(client, source, WIDE_ROWS.format(rows=100))
    result = response.json()["result"]
    assert result["truncated"] is False
    assert result["row_count"] == 100


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_row_over_the_row_limit_fails_the_read_and_keeps_nothing(engine, request):
    server = request.getfixturevalue("postgres_server" if engine == "postgresql" else "mysql_server")
    source = source_from_server(engine, engine, server, max_rows=100_000)
    client = client_for(reader("ana", source))
    sql = (
        "SELECT g AS n, repeat('y', CASE WHEN g = 7 THEN 5000 ELSE 10 END) AS v FROM generate_series(1, 20) g"
        if engine == "postgresql"
        else "SELECT seq AS n, REPEAT('y', IF(seq = 7, 5000, 10)) AS v FROM seq_1_to_20"
    )
    with override_settings(QUERYBASE_MAX_ROW_BYTES=1000):
        response = submit(client, source, sql)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "row_too_large"
    assert "Row 7 " in error["message"] and "1,000 bytes" in error["message"]
    run = QueryRun.objects.get(pk=error["details"]["run"])
    assert run.status == "failed" and run.error_code == "row_too_large"
    assert not StoredResult.objects.filter(run=run).exists()
