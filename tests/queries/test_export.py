"""CSV and JSON exports stream every row (up to the source's cap)."""

import csv
import io
import json

import pytest

from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)


def post_export(client, source, sql, export_format="csv", params=None):
    return client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": sql, "format": export_format, "params": params},
        format="json",
    )


def export(client, source, sql, export_format, params=None):
    response = post_export(client, source, sql, export_format, params)
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
    assert len(body.strip().splitlines()) == 102  # header, the cap, and the line saying it was cut
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


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_an_export_error_names_the_line_of_the_users_sql(postgres_server, export_format):
    # The CSV export wraps the SQL in COPY: the database's "LINE n" must still be the
    # user's line n, as it is when the same SQL is read.
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    sql = "SELECT 1 AS one,\n       no_such AS x"
    read = client.post("/api/v1/queries", {"datasource": pg.id, "sql": sql}, format="json")
    missing = client.post(
        "/api/v1/queries/export", {"datasource": pg.id, "sql": sql, "format": export_format}, format="json"
    )
    assert read.status_code == 400
    assert "LINE 2:" in read.json()["error"]["message"]
    assert missing.status_code == 400
    assert "LINE 2:" in missing.json()["error"]["message"], missing.json()


def test_postgresql_csv_export_comes_from_copy_with_the_row_cap(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=1000)
    client = client_for(reader("ana", pg))
    sql = "SELECT g AS n, 'row; -- ' || g AS label, g % 2 = 0 AS even FROM generate_series(1, 5000) g ORDER BY g DESC;"
    rows = list(csv.reader(io.StringIO(export(client, pg, sql + " -- newest first", "csv"))))
    assert rows[0] == ["n", "label", "even"]
    assert len(rows) == 1002  # header + the source's cap + the line saying it was cut
    assert rows[1] == ["5000", "row; -- 5000", "t"]  # PostgreSQL's own text form, as psql \copy writes it
    assert rows[-2][0] == "4001"
    assert rows[-1] == ["#querybase:truncated row_cap=1000"]


def test_postgresql_csv_export_with_parameters_or_several_statements_still_works(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    with_params = export(client, pg, "SELECT name FROM customers WHERE id = $1", "csv", params=[2])
    assert list(csv.reader(io.StringIO(with_params))) == [["name"], ["Ben"]]
    two = export(client, pg, "SELECT 1 AS a; SELECT name FROM customers ORDER BY id", "csv")
    assert list(csv.reader(io.StringIO(two))) == [["name"], ["Ada"], ["Ben"]]
    explain = export(client, pg, "EXPLAIN SELECT * FROM customers", "csv")
    assert explain.splitlines()[0] == "QUERY PLAN"


# The row cap is announced, and a cut export says so --------------------------------------


@pytest.mark.parametrize(
    "sql",
    ["SELECT g FROM generate_series(1, 5000) g", "SELECT g FROM generate_series(1, $1) g"],
    ids=["copy", "rendered"],
)
def test_a_csv_cut_at_the_cap_ends_with_a_marker_line(postgres_server, sql):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=1000)
    response = post_export(client_for(reader("ana", pg)), pg, sql, "csv", params=[5000] if "$1" in sql else None)
    assert response.status_code == 200
    assert response["X-QueryBase-Row-Cap"] == "1000"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "g"
    assert lines[1:1001] == [str(n) for n in range(1, 1001)]
    assert lines[1001:] == ["#querybase:truncated row_cap=1000"]


@pytest.mark.parametrize("sql", ["SELECT g FROM generate_series(1, 1000) g", "SELECT 1 AS g WHERE false"])
def test_a_csv_within_the_cap_has_no_marker(postgres_server, sql):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=1000)
    lines = export(client_for(reader("ana", pg)), pg, sql, "csv").splitlines()
    assert lines[0] == "g"
    assert not any(line.startswith("#querybase") for line in lines)


def test_a_json_export_says_whether_it_was_cut(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server, max_rows=2)
    client = client_for(reader("ana", maria))
    response = post_export(client, maria, "SELECT id FROM customers ORDER BY id", "json")
    assert response["X-QueryBase-Row-Cap"] == "2"
    whole = json.loads(b"".join(response.streaming_content))
    assert (whole["rows"], whole["row_count"], whole["truncated"], whole["row_cap"]) == ([[1], [2]], 2, False, 2)
    cut = json.loads(export(client, maria, "SELECT a.id FROM customers a, customers b ORDER BY 1", "json"))
    assert (cut["rows"], cut["row_count"], cut["truncated"], cut["row_cap"]) == ([[1], [1]], 2, True, 2)


# Failures: before the first byte an error status, after it a body that cannot pass as whole ---

# Division by zero on row N: the database fails the read after sending N-1 rows.
FAILING_AT = "SELECT g, 1 / (g - {n}) AS boom FROM generate_series(1, {n} + 10) g"


@pytest.mark.parametrize("export_format", ["csv", "json"])
@pytest.mark.parametrize("failing_row", [1, 500])
def test_a_read_failing_before_the_first_chunk_is_a_json_error(postgres_server, export_format, failing_row):
    pg = source_from_server("pg", "postgresql", postgres_server)
    response = post_export(client_for(reader("ana", pg)), pg, FAILING_AT.format(n=failing_row), export_format)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "query_failed"
    assert "division by zero" in error["message"]


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_a_read_failing_mid_stream_raises_out_of_the_body(postgres_server, export_format):
    from apps.queries.exceptions import QueryError

    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)
    response = post_export(client_for(reader("ana", pg)), pg, FAILING_AT.format(n=50_000), export_format)
    assert response.status_code == 200
    received = []
    with pytest.raises(QueryError, match="division by zero"):
        for chunk in response.streaming_content:
            received.append(chunk)
    assert received  # part of it had gone out: the server must end the response as broken
    body = b"".join(received).decode()
    if export_format == "csv":  # and the body says why it stops
        assert body.splitlines()[-1].startswith("#querybase:error code=query_failed [22012] division by zero")
    else:  # left unterminated: no parser takes it for a whole result
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_an_export_whose_session_is_terminated_midway_raises_out_of_the_body(postgres_server, export_format):
    import uuid

    from apps.queries.exceptions import QueryError
    from tests.support.databases import terminate_postgres_sessions

    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=10_000_000)
    marker = f"terminate-me-{uuid.uuid4().hex}"
    sql = f"SELECT g, 'row ' || g AS label FROM generate_series(1, 5000000) g /* {marker} */"
    response = post_export(client_for(reader("ana", pg)), pg, sql, export_format)
    assert response.status_code == 200  # the first chunk is out; far more than a socket holds is not

    assert terminate_postgres_sessions(marker)

    received = []
    with pytest.raises(QueryError) as raised:
        for chunk in response.streaming_content:
            received.append(chunk)
    assert raised.value.code == "datasource_unavailable"  # not retried: rows had gone out
    if export_format == "csv":
        assert b"".join(received).decode().splitlines()[-1].startswith("#querybase:error code=datasource_unavailable")


def _disposition(response) -> str:
    assert response.status_code == 200
    b"".join(response.streaming_content)
    return response["Content-Disposition"]


def test_the_file_is_named_after_the_saved_query_else_the_first_table(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    ana = reader("ana", shop)
    client = client_for(ana)
    sql = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id"
    assert _disposition(post_export(client, shop, sql)) == (
        "attachment; filename=\"orders.csv\"; filename*=UTF-8''orders.csv"
    )
    assert _disposition(post_export(client, shop, "SELECT 1 AS one", "json")) == (
        "attachment; filename=\"querybase-export.json\"; filename*=UTF-8''querybase-export.json"
    )
    saved = client.post(
        "/api/v1/saved-queries", {"name": "Ventes/été: top 10", "datasource": shop.id, "sql": sql}, format="json"
    )
    assert saved.status_code == 201, saved.content
    assert _disposition(post_export(client, shop, sql + "\n")) == (
        "attachment; filename=\"Ventes_ete_top_10.csv\"; filename*=UTF-8''Ventes_%C3%A9t%C3%A9_%20top%2010.csv"
    )
    # Exporting a run of that SQL later gives the same name.
    run = client.post("/api/v1/queries", {"datasource": shop.id, "sql": sql}, format="json").json()
    assert "Ventes_ete_top_10.csv" in _disposition(client.get(f"/api/v1/queries/{run['id']}/export?format=csv"))
    refused = client.get(f"/api/v1/queries/{run['id']}/export?format=xml")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request"
    # Somebody else's saved query does not name your export.
    bob = client_for(reader("bob", shop))
    assert 'filename="orders.csv"' in _disposition(post_export(bob, shop, sql))


def test_the_file_name_keeps_no_character_that_hides_or_reorders_it(shop_sqlite_path):
    """A saved query's name (perhaps one shared with you by someone else) names your
    export: a right-to-left override (U+202E) in it shows the end of the name reversed in
    a download bar, so `invoice<U+202E>gpj.exe.csv` read as an invoice ending in .jpg."""
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    client = client_for(reader("ana", shop))
    sql = "SELECT id FROM orders"
    name = "invoice\u202egpj\u200b.exe"
    saved = client.post("/api/v1/saved-queries", {"name": name, "datasource": shop.id, "sql": sql}, format="json")
    assert saved.status_code == 201, saved.content
    assert _disposition(post_export(client, shop, sql)) == (
        "attachment; filename=\"invoicegpj.exe.csv\"; filename*=UTF-8''invoicegpj.exe.csv"
    )
