"""Values keep their meaning through JSON: what the API returns equals the driver's values
after the documented mapping (docs/architecture.md §3)."""

import base64
import decimal
import json

import psycopg
import pytest
from MySQLdb.constants import FIELD_TYPE

from apps.datasources.connectors.values import to_json_value
from tests.support.databases import mysql_connection
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

TYPED_SQL = """
SELECT 9007199254740993::int8 AS big, 42::int4 AS small, 1.5::float8 AS f,
       12345678901234567890.123456789::numeric AS dec, 'NaN'::numeric AS nan,
       TIMESTAMPTZ '2025-03-01 12:34:56.789+02' AS ts, TIMESTAMP '2025-03-01 12:00' AS naive,
       DATE '2025-01-01' AS d, TIME '13:14:15' AS t, INTERVAL '1 year 2 months 3 days 04:05:06' AS iv,
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '\\xdeadbeef'::bytea AS b,
       '{"k": [1, 2.5, null], "big": 12345678901234567890}'::jsonb AS j, ARRAY[1, NULL, 3] AS arr,
       ARRAY[['a','b'],['c','d']] AS arr2, NULL::text AS nothing, true AS yes, 'ünïcode ✓' AS s
"""


def test_postgresql_values_survive_the_api(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    body = (
        client_for(reader("ana", pg))
        .post("/api/v1/queries", {"datasource": pg.id, "sql": TYPED_SQL}, format="json")
        .json()
    )
    api_row = dict(zip([c["name"] for c in body["result"]["columns"]], body["result"]["rows"][0], strict=True))

    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=postgres_server.database
    ) as connection:
        connection.adapters.register_loader("interval", psycopg.types.string.TextLoader)
        cursor = connection.execute(TYPED_SQL)
        driver_row = {
            column.name: value if column.name == "j" else to_json_value(value)
            for column, value in zip(cursor.description, cursor.fetchone(), strict=True)
        }
    assert api_row == driver_row
    assert api_row["big"] == "9007199254740993"
    assert api_row["small"] == 42
    assert api_row["dec"] == "12345678901234567890.123456789"
    assert api_row["ts"] == "2025-03-01T10:34:56.789000+00:00"
    assert api_row["naive"] == "2025-03-01T12:00:00"
    assert api_row["iv"] == "1 year 2 mons 3 days 04:05:06"
    assert api_row["b"] == base64.b64encode(bytes.fromhex("deadbeef")).decode()
    assert api_row["j"] == {"k": [1, 2.5, None], "big": 12345678901234567890}
    assert api_row["arr"] == [1, None, 3]
    assert api_row["arr2"] == [["a", "b"], ["c", "d"]]
    assert api_row["nothing"] is None and api_row["yes"] is True
    assert api_row["s"] == "ünïcode ✓"
    types = {c["name"]: c["type"] for c in body["result"]["columns"]}
    assert types["dec"] == "numeric" and types["ts"] == "timestamptz" and types["arr"] == "int4[]"


DOCUMENTS_SQL = """
SELECT '{"big": 12345678901234567890, "huge": 1e400, "f": 0.1000000000000000055511151231257827}'::json AS j,
       '[1e400, 9007199254740993, 1.50]'::jsonb AS jb, ARRAY['{"a": 1}'::jsonb, NULL] AS ja, NULL::json AS nothing
"""


def exact(content: bytes):
    """The response as JSON with its numbers kept exactly (json.loads would make floats)."""
    return json.loads(content, parse_float=decimal.Decimal)


def test_json_documents_come_through_unchanged(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=postgres_server.database
    ) as connection:
        server_text = connection.execute("SELECT jb::text FROM (" + DOCUMENTS_SQL + ") AS d").fetchone()[0]

    fresh = client.post("/api/v1/queries", {"datasource": pg.id, "sql": DOCUMENTS_SQL}, format="json")
    cached = client.post("/api/v1/queries", {"datasource": pg.id, "sql": DOCUMENTS_SQL}, format="json")
    exported = client.post(
        "/api/v1/queries/export", {"datasource": pg.id, "sql": DOCUMENTS_SQL, "format": "json"}, format="json"
    )

    assert cached.json()["cached"] is True
    expected = [
        {
            "big": 12345678901234567890,
            "huge": decimal.Decimal("1e400"),
            "f": decimal.Decimal("0.1000000000000000055511151231257827"),
        },
        exact(server_text.encode()),
        [{"a": 1}, None],
        None,
    ]
    for response in (fresh, cached):
        assert b'"huge": 1e400' in response.content  # json keeps the text as written
        assert exact(response.content)["result"]["rows"] == [expected]
    assert exact(b"".join(exported.streaming_content))["rows"] == [expected]
    assert [column["type"] for column in fresh.json()["result"]["columns"]] == ["json", "jsonb", "jsonb[]", "json"]


def test_nan_and_infinities_have_one_spelling(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    sql = (
        "SELECT 'NaN'::float8 AS f_nan, 'Infinity'::float4 AS f_inf, '-Infinity'::float8 AS f_ninf, "
        "'NaN'::numeric AS n_nan, 'Infinity'::numeric AS n_inf, '-Infinity'::numeric AS n_ninf, "
        "ARRAY['NaN'::float8, 1.5] AS arr"
    )
    body = (
        client_for(reader("ana", pg)).post("/api/v1/queries", {"datasource": pg.id, "sql": sql}, format="json").json()
    )
    assert body["result"]["rows"] == [["NaN", "Infinity", "-Infinity", "NaN", "Infinity", "-Infinity", ["NaN", 1.5]]]


TIMESTAMP_ARRAYS_SQL = """
SELECT ARRAY[TIMESTAMPTZ '2022-02-15 22:34:33.123+00', NULL] AS tstz,
       ARRAY[[TIMESTAMP '2006-02-15 04:34:33'], [TIMESTAMP '2006-02-15 04:34:33.5']] AS ts,
       ARRAY[TIMESTAMPTZ '2022-01-01 00:00+05:30'] AS tstz_offset, TIMESTAMPTZ '2022-01-01 00:00+00' AS scalar
"""


def test_arrays_of_timestamps_are_arrays_of_iso_8601_timestamps(postgres_server):
    """A timestamp is ISO 8601 whether alone or in an array: in an array it once came
    through as PostgreSQL's text (`2022-02-15 22:34:33.123+00`)."""
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=postgres_server.database
    ) as connection:
        driver_row = [to_json_value(value) for value in connection.execute(TIMESTAMP_ARRAYS_SQL).fetchone()]

    body = client.post("/api/v1/queries", {"datasource": pg.id, "sql": TIMESTAMP_ARRAYS_SQL}, format="json").json()
    exported = client.post(
        "/api/v1/queries/export", {"datasource": pg.id, "sql": TIMESTAMP_ARRAYS_SQL, "format": "json"}, format="json"
    )

    assert body["result"]["rows"] == [driver_row]
    assert json.loads(b"".join(exported.streaming_content))["rows"] == [driver_row]
    assert driver_row[0] == ["2022-02-15T22:34:33.123000+00:00", None]
    assert driver_row[1] == [["2006-02-15T04:34:33"], ["2006-02-15T04:34:33.500000"]]
    assert [column["type"] for column in body["result"]["columns"]] == [
        "timestamptz[]",
        "timestamp[]",
        "timestamptz[]",
        "timestamptz",
    ]


OUT_OF_PYTHON_RANGE_SQL = """
SELECT 'infinity'::date AS d_inf, '-infinity'::timestamptz AS tstz_ninf, 'infinity'::timestamp AS ts_inf,
       '0044-03-15 BC'::date AS d_bc, '0044-03-15 12:00 BC'::timestamp AS ts_bc,
       '12000-01-01'::date AS d_far, '10000-01-01 00:00:01+00'::timestamptz AS tstz_far,
       TIME '24:00:00' AS t_end, '24:00:00+02'::timetz AS ttz_end,
       ARRAY['2025-01-01'::date, 'infinity'] AS arr, DATE '2025-01-01' AS d_ok
"""


def test_dates_beyond_python_come_in_postgresqls_text(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    body = (
        client_for(reader("ana", pg))
        .post("/api/v1/queries", {"datasource": pg.id, "sql": OUT_OF_PYTHON_RANGE_SQL}, format="json")
        .json()
    )
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=postgres_server.database
    ) as connection:
        names = [column["name"] for column in body["result"]["columns"]]
        as_text = ", ".join(f"{name}::text" for name in names[:-2])
        server_text = connection.execute(f"SELECT {as_text} FROM ({OUT_OF_PYTHON_RANGE_SQL}) AS v").fetchone()

    assert body["result"]["rows"][0][:-2] == list(server_text)
    assert body["result"]["rows"][0][:4] == ["infinity", "-infinity", "infinity", "0044-03-15 BC"]
    assert body["result"]["rows"][0][7:] == ["24:00:00", "24:00:00+02", ["2025-01-01", "infinity"], "2025-01-01"]


def test_postgresql_types_by_their_names_and_ranges_in_postgresqls_text(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user="postgres",
        dbname=postgres_server.database,
        autocommit=True,
    ) as connection:
        connection.execute(
            "DROP TYPE IF EXISTS mpaa_rating, film_pair; CREATE TYPE mpaa_rating AS ENUM ('G', 'PG-13'); "
            "CREATE TYPE film_pair AS (id int, title text)"
        )
    sql = (
        "SELECT 'PG-13'::mpaa_rating AS rating, ROW(1, 'Alien')::film_pair AS pair, int4range(1, 6) AS r, "
        "'(,6)'::int4range AS open_r, numrange(1.5, 2.5, '(]') AS nr, '{[1,3), [5,7)}'::int4multirange AS mr, "
        "ARRAY[int4range(1, 2)] AS ra, 'empty'::daterange AS e, ARRAY['G', NULL]::mpaa_rating[] AS ratings, "
        "ARRAY[ROW(1, 'a \"q\"')::film_pair] AS pairs"
    )
    client = client_for(reader("ana", pg))
    body = client.post("/api/v1/queries", {"datasource": pg.id, "sql": sql}, format="json").json()
    empty = client.post("/api/v1/queries", {"datasource": pg.id, "sql": sql + " WHERE false"}, format="json").json()

    types = [
        "mpaa_rating",
        "film_pair",
        "int4range",
        "int4range",
        "numrange",
        "int4multirange",
        "int4range[]",
        "daterange",
        "mpaa_rating[]",
        "film_pair[]",
    ]
    assert [column["type"] for column in body["result"]["columns"]] == types
    assert [column["type"] for column in empty["result"]["columns"]] == types
    assert body["result"]["rows"] == [
        [
            "PG-13",
            "(1,Alien)",
            "[1,6)",
            "(,6)",
            "(1.5,2.5]",
            "{[1,3),[5,7)}",
            ["[1,2)"],
            "empty",
            ["G", None],
            ['(1,"a ""q""")'],
        ]
    ]


def test_mariadb_values_survive_the_api(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    sql = (
        "SELECT CAST(9007199254740993 AS UNSIGNED) AS big, CAST(1.25 AS DECIMAL(10,3)) AS d, "
        "CAST('2025-01-02 03:04:05' AS DATETIME) AS dt, CAST('-838:59:59' AS TIME) AS t, x'00FF' AS b, NULL AS n"
    )
    body = (
        client_for(reader("ana", maria))
        .post("/api/v1/queries", {"datasource": maria.id, "sql": sql}, format="json")
        .json()
    )
    assert body["result"]["rows"][0] == ["9007199254740993", "1.250", "2025-01-02T03:04:05", "-838:59:59", "AP8=", None]


def test_mariadb_json_and_type_names(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    connection = mysql_connection(mysql_server)
    try:
        cursor = connection.cursor()
        cursor.execute("DROP TABLE IF EXISTS qb_value_types")
        cursor.execute(
            "CREATE TABLE qb_value_types (doc JSON, flag BOOLEAN, tiny TINYINT, word VARCHAR(5) COLLATE utf8mb4_bin, "
            "raw VARBINARY(4), note TEXT, mood ENUM('happy', 'sad'), tags SET('a', 'b'))"
        )
        cursor.execute(
            "INSERT INTO qb_value_types VALUES "
            "('{\"big\": 12345678901234567890, \"huge\": 1e400}', TRUE, 7, 'w', x'00ff', 'n', 'sad', 'a,b')"
        )
        connection.commit()
    finally:
        connection.close()
    sql = "SELECT doc, flag, tiny, word, raw, note, mood, tags, JSON_OBJECT('k', 1) AS made FROM qb_value_types"

    response = client_for(reader("ana", maria)).post(
        "/api/v1/queries", {"datasource": maria.id, "sql": sql}, format="json"
    )

    result = exact(response.content)["result"]
    assert [column["type"] for column in result["columns"]] == [
        "json",
        "tinyint",
        "tinyint",
        "varchar",
        "varbinary",
        "text",
        "enum",
        "set",
        "json",
    ]
    assert result["rows"] == [
        [
            {"big": 12345678901234567890, "huge": decimal.Decimal("1e400")},
            1,
            7,
            "w",
            "AP8=",
            "n",
            "sad",
            "a,b",
            {"k": 1},
        ]
    ]


def test_mariadb_types_the_wire_cannot_name_are_named_as_mariadb_names_them(mysql_server):
    """INET6 and UUID travel as CHAR, POINT and POLYGON as GEOMETRY: only MariaDB's extended
    metadata names them. Their values are unchanged: text, and WKB bytes in base64."""
    maria = source_from_server("maria", "mysql", mysql_server)
    connection = mysql_connection(mysql_server)
    try:
        cursor = connection.cursor()
        cursor.execute("DROP TABLE IF EXISTS qb_plugin_types")
        cursor.execute(
            "CREATE TABLE qb_plugin_types (ip INET6, id UUID, spot POINT, area POLYGON, shape GEOMETRY, code CHAR(3))"
        )
        cursor.execute(
            "INSERT INTO qb_plugin_types VALUES ('::1', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', POINT(1, 2), "
            "ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'), POINT(3, 4), 'abc')"
        )
        connection.commit()
        cursor.execute("SELECT ST_AsBinary(spot) FROM qb_plugin_types")
        point_wkb = cursor.fetchone()[0]
    finally:
        connection.close()
    client = client_for(reader("ana", maria))
    sql = "SELECT ip, id, spot, area, shape, code, CONCAT(ip) AS ip_text FROM qb_plugin_types"

    body = client.post("/api/v1/queries", {"datasource": maria.id, "sql": sql}, format="json").json()
    empty = client.post("/api/v1/queries", {"datasource": maria.id, "sql": sql + " WHERE 0"}, format="json").json()

    types = ["inet6", "uuid", "point", "polygon", "geometry", "char", "varchar"]
    assert [column["type"] for column in body["result"]["columns"]] == types
    assert [column["type"] for column in empty["result"]["columns"]] == types
    row = body["result"]["rows"][0]
    assert row[:2] == ["::1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"] and row[5:] == ["abc", "::1"]
    assert base64.b64decode(row[2])[4:] == point_wkb  # MariaDB's value: the SRID, then WKB


# The JSON export writes the same bytes json.dumps writes of the documented values, on rows
# spanning several chunks (the connectors convert a column of a chunk at a time), with the
# awkward values in some chunks only and NULLs among them.

AWKWARD_ROWS_SQL = """
SELECT g AS id,
       CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2025-01-01' + g * interval '1.5 microseconds' END AS tsf,
       timestamptz '2025-01-01' + g * interval '1 minute' AS tsw,
       CASE WHEN g % 11 = 0 THEN NULL ELSE timestamp '2025-01-01' + g * interval '1 second' END AS tsn,
       CASE WHEN g % 4 = 0 THEN NULL ELSE g::numeric / 1000000000 END AS small,
       (g % 1000)::numeric / 100 AS amount,
       CASE WHEN g % 5 = 0 THEN NULL ELSE g::int8 * 10000000000000 END AS big,
       g::float8 / 7 * 1e12 AS f,
       CASE WHEN g = 4000 THEN 1e16::float8 WHEN g = 4001 THEN 1e-7 WHEN g = 4002 THEN 'NaN' END AS odd_f,
       CASE WHEN g % 9 = 0 THEN NULL
            ELSE ('{"k": ' || g || ', "big": 12345678901234567890, "huge": 1e400}')::json END AS j,
       ARRAY[g::numeric / 100000000, NULL] AS numarr,
       'x' || g || E'\\n"\\\\ é ✓' AS s,
       g % 2 = 0 AS flag
FROM generate_series(1, 4500) AS g
"""


def _rows_bytes(body: bytes) -> bytes:
    """The `[[…],…]` of a JSON export, as it was written."""
    start = body.index(b'"rows":') + len(b'"rows":')
    return body[start : body.rindex(b',"row_count":')]


def _json_bytes(rows, documents: set[int]) -> bytes:
    """Rows of documented JSON values as json.dumps writes them, documents as their text."""

    def cell(index, value):
        if index in documents:
            return "null" if value is None else value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    return ("[" + ",".join("[" + ",".join(cell(i, v) for i, v in enumerate(row)) + "]" for row in rows) + "]").encode()


def test_a_postgresql_json_export_is_byte_for_byte_the_documented_values(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=postgres_server.database
    ) as connection:
        for document_type in ("json", "jsonb"):
            connection.adapters.register_loader(document_type, psycopg.types.string.TextLoader)
        driver_rows = [
            [value if index == 9 else to_json_value(value) for index, value in enumerate(row)]
            for row in connection.execute(AWKWARD_ROWS_SQL).fetchall()
        ]
        out_of_range = connection.execute(
            "SELECT "
            + ", ".join(f"{name}::text" for name in OUT_OF_RANGE_NAMES)
            + f" FROM ({OUT_OF_PYTHON_RANGE_SQL}) AS v"
        ).fetchall()

    for sql, params in ((AWKWARD_ROWS_SQL, None), (AWKWARD_ROWS_SQL + " WHERE g > $1", [0])):
        exported = client.post(
            "/api/v1/queries/export",
            {"datasource": pg.id, "sql": sql, "params": params, "format": "json"},
            format="json",
        )
        assert exported.status_code == 200
        assert _rows_bytes(b"".join(exported.streaming_content)) == _json_bytes(driver_rows, {9})
    # Small numerics as PostgreSQL writes them, never as Decimal's exponent (1E-9).
    assert driver_rows[0][4].startswith("0.000000001") and not any("E" in (row[4] or "") for row in driver_rows)
    assert driver_rows[3999][8] == 1e16 and driver_rows[4001][8] == "NaN"

    sql = f"SELECT {', '.join(OUT_OF_RANGE_NAMES)} FROM ({OUT_OF_PYTHON_RANGE_SQL}) AS v"
    exported = client.post("/api/v1/queries/export", {"datasource": pg.id, "sql": sql, "format": "json"}, format="json")
    assert _rows_bytes(b"".join(exported.streaming_content)) == _json_bytes(out_of_range, set())


OUT_OF_RANGE_NAMES = ["d_inf", "tstz_ninf", "ts_inf", "d_bc", "ts_bc", "d_far", "tstz_far", "t_end", "ttz_end"]


def test_a_mariadb_json_export_is_byte_for_byte_the_documented_values(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    connection = mysql_connection(mysql_server)
    try:
        cursor = connection.cursor()
        cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")  # zero and invalid dates, as old data has
        cursor.execute("DROP TABLE IF EXISTS qb_awkward_values")
        cursor.execute(
            "CREATE TABLE qb_awkward_values (id INT PRIMARY KEY, dt DATETIME, dt3 DATETIME(3), dt6 DATETIME(6), "
            "ts TIMESTAMP NULL, d DATE, t TIME(2), y YEAR, small DECIMAL(30,12), ub BIGINT UNSIGNED, f FLOAT, "
            "db DOUBLE, b BIT(9), bin VARBINARY(8), doc JSON, s VARCHAR(40))"
        )
        cursor.execute(
            "INSERT INTO qb_awkward_values VALUES "
            "(1, '0000-00-00 00:00:00', '2025-01-01 00:00:00.000', '2025-01-01 00:00:00.000000', NULL, '0000-00-00', "
            "'-838:59:59.99', 2025, 0.0000001, 18446744073709551615, 1e16, 1e-7, b'101', x'00ff', "
            '\'{"a": 1e400, "b": 12345678901234567890}\', \'ünï\\n"\\\\\'), '
            "(2, '2025-02-30 12:00:00', '2025-01-01 00:00:00.5', '2025-01-01 00:00:00.123456', '2025-01-01 00:00:01', "
            "'2025-02-30', '100:00:00.5', 1999, -0.0000001234, 9007199254740993, 0.1, 1e300, b'0', x'', "
            "'[1, 2.50]', '')"
        )
        cursor.execute(
            "INSERT INTO qb_awkward_values SELECT seq + 10, "
            "IF(seq % 3 = 0, NULL, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq SECOND), "
            "TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq * 1001 MICROSECOND, "
            "TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq * 7 MICROSECOND, "
            "IF(seq % 5 = 0, NULL, TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq MINUTE), "
            "IF(seq % 7 = 0, NULL, DATE '2025-01-01' + INTERVAL seq DAY), "
            "IF(seq % 2 = 0, NULL, SEC_TO_TIME(seq * 3.25)), "
            "NULL, IF(seq % 4 = 0, NULL, seq / 1000000000), IF(seq % 6 = 0, NULL, seq * 1000000000000), seq / 3, "
            "seq / 7, NULL, NULL, IF(seq % 9 = 0, NULL, JSON_OBJECT('k', seq, 'big', 12345678901234567890)), "
            "CONCAT('s', seq) FROM seq_1_to_2500"
        )
        connection.commit()
        driver_rows = documented_mariadb_rows(connection, "SELECT * FROM qb_awkward_values ORDER BY id")
    finally:
        connection.close()

    exported = client_for(reader("ana", maria)).post(
        "/api/v1/queries/export",
        {"datasource": maria.id, "sql": "SELECT * FROM qb_awkward_values ORDER BY id", "format": "json"},
        format="json",
    )

    assert exported.status_code == 200
    assert _rows_bytes(b"".join(exported.streaming_content)) == _json_bytes(driver_rows, {14})
    assert driver_rows[0][1] == "0000-00-00 00:00:00" and driver_rows[0][8] == "0.000000100000"  # no exponent
    assert driver_rows[0][6] == "-838:59:59.99" and driver_rows[0][7] == "2025"  # TIME(2), YEAR as MariaDB writes them


def test_a_mariadb_json_export_of_plain_columns_is_byte_for_byte_the_documented_values(mysql_server):
    """The shape of most exports: integers, text, decimals and datetimes only. Their values
    go out as read, without a look at each one's type, a chunk at a time; a zero date in
    a later chunk, NULLs in some chunks only and a BIGINT beyond 2**53 still come out as
    the driver's values after the documented mapping."""
    maria = source_from_server("maria", "mysql", mysql_server)
    connection = mysql_connection(mysql_server)
    try:
        cursor = connection.cursor()
        cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")  # zero dates, as old data has
        cursor.execute("DROP TABLE IF EXISTS qb_plain_values")
        cursor.execute(
            "CREATE TABLE qb_plain_values (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), "
            "created DATETIME NOT NULL, seen DATETIME, flag BOOLEAN, big BIGINT, born DATE)"
        )
        cursor.execute(
            "INSERT INTO qb_plain_values SELECT seq, CONCAT('customer ', seq), (seq % 1000) / 100, "
            "IF(seq = 1500, '0000-00-00 00:00:00', TIMESTAMP '2025-01-01 00:00:00' + INTERVAL seq MINUTE), "
            "IF(seq > 2000 AND seq % 3 = 0, NULL, TIMESTAMP '2024-02-28 23:59:59' + INTERVAL seq HOUR), "
            "seq % 2 = 0, IF(seq = 2222, 9007199254740993, seq * 1000), DATE '2000-01-01' + INTERVAL seq DAY "
            "FROM seq_1_to_2500"
        )
        connection.commit()
        driver_rows = documented_mariadb_rows(connection, "SELECT * FROM qb_plain_values ORDER BY id")
    finally:
        connection.close()

    exported = client_for(reader("ana", maria)).post(
        "/api/v1/queries/export",
        {"datasource": maria.id, "sql": "SELECT * FROM qb_plain_values ORDER BY id", "format": "json"},
        format="json",
    )

    assert exported.status_code == 200
    assert _rows_bytes(b"".join(exported.streaming_content)) == _json_bytes(driver_rows, set())
    assert driver_rows[1499][3] == "0000-00-00 00:00:00" and driver_rows[2221][6] == "9007199254740993"
    assert driver_rows[0][3] == "2025-01-01T00:01:00" and driver_rows[2099][4] is None


# MariaDB's dates, times and years, and the DATETIME/TIMESTAMP values that are no moment
# (zero dates), are the engine's text: what it sends, what `mariadb --batch` prints.
_ENGINE_TEXT_TYPES = {FIELD_TYPE.DATE, FIELD_TYPE.TIME, FIELD_TYPE.YEAR}
_MOMENT_TYPES = {FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP}


def documented_mariadb_rows(connection, sql: str) -> list[list]:
    """`sql`'s rows as the API documents them, from the engine itself: to_json_value of
    mysqlclient's values, but the engine's text for dates, times and years, and for a
    DATETIME/TIMESTAMP the driver reads as NULL although the engine sent a value."""
    cursor = connection.cursor()
    cursor.execute(sql)
    types = [column[1] for column in cursor.description]
    driver_rows = cursor.fetchall()
    connection.converter = {**connection.converter, **dict.fromkeys(_ENGINE_TEXT_TYPES | _MOMENT_TYPES, str)}
    cursor = connection.cursor()
    cursor.execute(sql)
    return [
        [
            text if kind in _ENGINE_TEXT_TYPES or (kind in _MOMENT_TYPES and value is None) else to_json_value(value)
            for kind, value, text in zip(types, driver_row, engine_row, strict=True)
        ]
        for driver_row, engine_row in zip(driver_rows, cursor.fetchall(), strict=True)
    ]
