"""CSV and JSON exports stream every row (up to the source's cap)."""

import csv
import io
import json

import pytest

from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)


def export(client, source, sql, export_format, params=None):
    response = client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": sql, "format": export_format, "params": params},
        format="json",
    )
    assert response.status_code == 200, response.content if not response.streaming else ""
    return b"".join(response.streaming_content).decode()


def test_csv_export_of_the_whole_table(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    body = export(client_for(reader("ana", shop)), shop, "SELECT id, name FROM customers ORDER BY id", "csv")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["id", "name"]
    assert len(rows) == 501
    assert rows[1] == ["1", "Uma Nguyen"]


def test_json_export_keeps_types(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    body = json.loads(
        export(
            client_for(reader("ana", pg)),
            pg,
            "SELECT g AS n, g::numeric / 4 AS q, NULL AS nothing FROM generate_series(1, 5000) g",
            "json",
        )
    )
    assert body["row_count"] == 5000
    assert body["columns"][1] == {"name": "q", "type": "numeric"}
    assert body["rows"][0] == [1, "0.25000000000000000000", None]


def test_export_respects_the_row_cap_and_rights(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path), max_rows=100)
    body = export(client_for(reader("ana", shop)), shop, "SELECT id FROM orders", "csv")
    assert len(body.strip().splitlines()) == 101
    from tests.support.factories import make_user

    stranger = client_for(make_user("stranger"))
    response = stranger.post("/api/v1/queries/export", {"datasource": shop.id, "sql": "SELECT 1"}, format="json")
    assert response.status_code == 404


def test_export_of_a_write_is_refused(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    client = client_for(reader("ana", shop, write=True))
    response = client.post(
        "/api/v1/queries/export", {"datasource": shop.id, "sql": "DELETE FROM orders"}, format="json"
    )
    assert response.status_code == 409


def test_export_error_before_streaming_is_a_clear_error(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    response = client_for(reader("ana", pg)).post(
        "/api/v1/queries/export", {"datasource": pg.id, "sql": "SELECT * FROM missing_table"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "query_failed"


def test_postgresql_csv_export_comes_from_copy_with_the_row_cap(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=1000)
    client = client_for(reader("ana", pg))
    sql = "SELECT g AS n, 'row; -- ' || g AS label, g % 2 = 0 AS even FROM generate_series(1, 5000) g ORDER BY g DESC;"
    rows = list(csv.reader(io.StringIO(export(client, pg, sql + " -- newest first", "csv"))))
    assert rows[0] == ["n", "label", "even"]
    assert len(rows) == 1001  # header + the source's cap
    assert rows[1] == ["5000", "row; -- 5000", "t"]  # PostgreSQL's own text form, as psql \copy writes it
    assert rows[-1][0] == "4001"


def test_postgresql_csv_export_with_parameters_or_several_statements_still_works(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    with_params = export(client, pg, "SELECT name FROM customers WHERE id = $1", "csv", params=[2])
    assert list(csv.reader(io.StringIO(with_params))) == [["name"], ["Ben"]]
    two = export(client, pg, "SELECT 1 AS a; SELECT name FROM customers ORDER BY id", "csv")
    assert list(csv.reader(io.StringIO(two))) == [["name"], ["Ada"], ["Ben"]]
    explain = export(client, pg, "EXPLAIN SELECT * FROM customers", "csv")
    assert explain.splitlines()[0] == "QUERY PLAN"
