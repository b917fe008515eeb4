"""SQL of several reads answers with every statement's result: the result stays the last
statement's (the shape a single statement has), and `statements` lists each one with its
number, text, columns, first rows and row count. `?statement=N` reads one of them, and an
export of `statement: N` gives all of its rows — on PostgreSQL, MariaDB and SQLite."""

import csv
import io
import json

import pytest

from apps.queries.models import QueryRun
from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

THREE = "SELECT 1 AS one;\nSELECT 'two' AS word, 2 AS n;\nSELECT 3 AS three"


def submit(client, source, sql, **extra):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "wait": 60, **extra}, format="json")


def names(columns):
    return [column["name"] for column in columns]


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
def source(request):
    if request.param == "sqlite":
        return make_datasource("shop", database=str(request.getfixturevalue("shop_sqlite_path")))
    server = request.getfixturevalue("postgres_server" if request.param == "postgresql" else "mysql_server")
    return source_from_server(request.param, request.param, server, max_rows=100_000)


def test_every_statement_has_its_result_and_the_last_keeps_the_usual_shape(source):
    client = client_for(reader("ana", source))
    response = submit(client, source, THREE)
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    # What a client of one statement reads is still there: the last statement's result.
    assert names(result["columns"]) == ["three"]
    assert result["rows"] == [[3]]
    assert result["row_count"] == 1
    assert result["statement"] == 3
    first, second, last = result["statements"]
    assert [entry["statement"] for entry in result["statements"]] == [1, 2, 3]
    assert [entry["sql"] for entry in result["statements"]] == [
        "SELECT 1 AS one",
        "SELECT 'two' AS word, 2 AS n",
        "SELECT 3 AS three",
    ]
    assert names(first["columns"]) == ["one"] and first["rows"] == [[1]] and first["row_count"] == 1
    assert names(second["columns"]) == ["word", "n"] and second["rows"] == [["two", 2]]
    assert second["truncated"] is False
    assert names(last["columns"]) == ["three"] and last["row_count"] == 1
    assert last["rows_in_result"] is True and "rows" not in last

    # Polling the run, and a cache hit, answer the same.
    run_id = response.json()["id"]
    assert client.get(f"/api/v1/queries/{run_id}").json()["result"]["statements"] == result["statements"]
    hit = submit(client, source, THREE).json()
    assert hit["cached"] is True
    assert hit["result"]["statements"] == result["statements"]


def test_one_statement_answers_as_before(source):
    client = client_for(reader("ana", source))
    result = submit(client, source, "SELECT 7 AS seven").json()["result"]
    assert result["rows"] == [[7]]
    assert "statements" not in result and "statement" not in result


def test_one_statement_of_several_by_number_and_its_export(source):
    client = client_for(reader("ana", source))
    run_id = submit(client, source, THREE).json()["id"]
    second = client.get(f"/api/v1/queries/{run_id}/results?statement=2")
    assert second.status_code == 200, second.content
    assert second.json()["rows"] == [["two", 2]]
    assert second.json()["page_count"] == 1 and second.json()["next"] is None
    last = client.get(f"/api/v1/queries/{run_id}/results?statement=3").json()
    assert last["rows"] == [[3]]

    for query, code in [("statement=4", 404), ("statement=0", 400), ("statement=x", 400), ("statement=1&page=2", 404)]:
        refused = client.get(f"/api/v1/queries/{run_id}/results?{query}")
        assert refused.status_code == code, (query, refused.content)
        assert refused.json()["error"]["code"], query

    export = client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": THREE, "format": "csv", "statement": 2},
        format="json",
    )
    assert export.status_code == 200
    assert list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode()))) == [["word", "n"], ["two", "2"]]
    by_run = client.get(f"/api/v1/queries/{run_id}/export?format=json&statement=1")
    assert by_run.status_code == 200
    exported = json.loads(b"".join(by_run.streaming_content))
    assert names(exported["columns"]) == ["one"] and exported["rows"] == [[1]]
    beyond = client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": THREE, "format": "csv", "statement": 4},
        format="json",
    )
    assert beyond.status_code == 400
    assert "3 statements" in beyond.json()["error"]["message"]


@pytest.fixture
def pg(postgres_server):
    return source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)


def test_an_earlier_large_statement_keeps_its_first_page_and_exports_whole(pg, settings):
    settings.QUERYBASE_RESULT_PAGE_ROWS = 100
    client = client_for(reader("ana", pg))
    sql = "SELECT g AS n FROM generate_series(1, 2500) g ORDER BY g; SELECT g AS m FROM generate_series(1, 300) g"
    response = submit(client, pg, sql)
    assert response.status_code == 200, response.content
    result = response.json()["result"]
    earlier = result["statements"][0]
    assert earlier["row_count"] == 2500
    assert [row[0] for row in earlier["rows"]] == list(range(1, 101))
    # The last statement's 300 rows are stored in pages, with the statements beside them.
    assert result["page_count"] == 3 and result["row_count"] == 300
    page_two = client.get(result["next"]).json()
    assert page_two["rows"][0] == [101] and "statements" not in page_two
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert run.result_location == "database"
    assert client.get(f"/api/v1/queries/{run.pk}/results?statement=1").json()["row_count"] == 2500

    export = client.post(
        "/api/v1/queries/export", {"datasource": pg.id, "sql": sql, "format": "csv", "statement": 1}, format="json"
    )
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "n" and len(lines) == 2501 and lines[-1] == "2500"


def test_an_earlier_statement_is_cut_at_the_row_cap(postgres_server):
    source = source_from_server("pg", "postgresql", postgres_server, max_rows=50)
    client = client_for(reader("ana", source))
    result = submit(client, source, "SELECT g FROM generate_series(1, 80) g; SELECT 1 AS one").json()["result"]
    earlier = result["statements"][0]
    assert earlier["row_count"] == 50 and earlier["truncated"] is True and len(earlier["rows"]) == 50
    assert result["truncated"] is False


def test_an_earlier_statements_json_documents_keep_their_numbers(pg):
    client = client_for(reader("ana", pg))
    sql = """SELECT '{"big": 12345678901234567890}'::jsonb AS doc; SELECT 1 AS one"""
    response = submit(client, pg, sql)
    assert response.status_code == 200, response.content
    assert b'"rows":[[{"big":12345678901234567890}]]' in response.content.replace(b" ", b"")
