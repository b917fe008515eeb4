"""MariaDB's values come out of the API as the engine gives them, the same whatever the
path: the answer to POST /api/v1/queries, the pages read back from storage, a cached
answer, the JSON export and the CSV export (docs/architecture.md §3, README "Values in
results"). One table of edge values, each expected value written out as `mariadb --batch
--raw` prints it (dates, times, years, decimals, big integers, text, documents) or as
the driver reads it (bytes, in base64 or `\\x` hex; floats, as numbers)."""

import base64
import csv
import decimal
import io
import json
import struct

import pytest
from django.test import override_settings

from tests.support.databases import mysql_connection
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

DEEP_DOCUMENT = "[" * 30 + '{"n": 12345678901234567890}' + "]" * 30  # as deep as MariaDB's JSON_VALID allows
EDGE_TABLE = """
CREATE TABLE qb_edge_values (
  id INT PRIMARY KEY, d DATE, dt DATETIME, ts TIMESTAMP NULL, dt6 DATETIME(6), ts6 TIMESTAMP(6) NULL, y YEAR,
  t TIME, t2 TIME(2), b1 BIT(1), b64 BIT(64), ub BIGINT UNSIGNED, sb BIGINT, dec65 DECIMAL(65,30),
  f FLOAT, db DOUBLE, e ENUM('', 'a', 'b c'), s SET('', 'x', 'y'), doc JSON, ip INET6, u UUID,
  bin BINARY(4), vb VARBINARY(8), bl BLOB, tx TEXT, vc VARCHAR(20), pt POINT
) DEFAULT CHARSET utf8mb4
"""
EDGE_ROWS = f"""
INSERT INTO qb_edge_values VALUES
 (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
  '0000-00-00 00:00:00', 0, '-838:59:59', '-838:59:59.00', b'0', x'ffffffffffffffff', 18446744073709551615,
  -9223372036854775808, 99999999999999999999999999999999999.999999999999999999999999999999,
  3.40282e38, 1.7976931348623157e308, '', '',
  '{{"big": 12345678901234567890, "n": 9007199254740993, "f": 1e400}}', '::ffff:1.2.3.4',
  '00000000-0000-0000-0000-000000000000', x'00ff8081', x'c3', x'fffe00', 'emoji 😀 ünï', '', POINT(1.5, -2)),
 (2, '2020-00-00', '2020-01-00 10:00:00', '2038-01-19 03:14:07', '2025-01-01 00:00:00.000001',
  '2025-01-01 00:00:00.500000', 1901, '100:00:00', '-00:00:00.5', b'1', x'8000000000000001', 0,
  9223372036854775807, -0.000000000000000000000000000001, -1.17549e-38, 5e-324, 'b c', 'x,y',
  '{DEEP_DOCUMENT}', '::', 'ffffffff-ffff-ffff-ffff-ffffffffffff', x'41424344', x'', '', '', NULL, POINT(0, 0)),
 (3, '2025-02-30', '2025-02-30 12:00:00', NULL, '0000-01-01 00:00:00.250000', '2000-01-01 00:00:00.000000',
  2155, '12:00:00', '00:00:00.01', NULL, x'0000000000000000', 9007199254740993, 0, 0, 0.1, 0.1, 'a', 'y', '1.0e2',
  NULL, NULL, NULL, NULL, NULL, '', 'tab\there', NULL)
"""


def number(text: str) -> decimal.Decimal:
    """A JSON number, as `exact` reads it: its value, whatever its spelling."""
    return decimal.Decimal(text)


def document(text: str):
    return json.loads(text, parse_float=decimal.Decimal)


def point(x: float, y: float) -> bytes:
    """A POINT as MariaDB holds it: its SRID (0), then its WKB (little-endian, type 1)."""
    return struct.pack("<IBIdd", 0, 1, 1, x, y)


# The API's JSON values, as `exact` reads them. What is no moment (a zero date, a zero
# month or day, 2025-02-30, the year 0) is the engine's text, never null; DATE, TIME and
# YEAR are the engine's text always.
EXPECTED_JSON = [
    [
        1,
        "0000-00-00",
        "0000-00-00 00:00:00",
        "0000-00-00 00:00:00",
        "0000-00-00 00:00:00.000000",
        "0000-00-00 00:00:00.000000",
        "0000",
        "-838:59:59",
        "-838:59:59.00",
        "AA==",
        "//////////8=",
        "18446744073709551615",
        "-9223372036854775808",
        "99999999999999999999999999999999999.999999999999999999999999999999",
        number("3.40282e38"),
        number("1.7976931348623157e308"),
        "",
        "",
        document('{"big": 12345678901234567890, "n": 9007199254740993, "f": 1e400}'),
        "::ffff:1.2.3.4",
        "00000000-0000-0000-0000-000000000000",
        "AP+AgQ==",
        "ww==",
        "//4A",
        "emoji 😀 ünï",
        "",
        base64.b64encode(point(1.5, -2)).decode(),
    ],
    [
        2,
        "2020-00-00",
        "2020-01-00 10:00:00",
        "2038-01-19T03:14:07",
        "2025-01-01T00:00:00.000001",
        "2025-01-01T00:00:00.500000",
        "1901",
        "100:00:00",
        "-00:00:00.50",
        "AQ==",
        "gAAAAAAAAAE=",
        0,
        "9223372036854775807",
        "-0.000000000000000000000000000001",
        number("-1.17549e-38"),
        number("5e-324"),
        "b c",
        "x,y",
        document(DEEP_DOCUMENT),
        "::",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "QUJDRA==",
        "",
        "",
        "",
        None,
        base64.b64encode(point(0, 0)).decode(),
    ],
    [
        3,
        "2025-02-30",
        "2025-02-30 12:00:00",
        None,
        "0000-01-01 00:00:00.250000",
        "2000-01-01T00:00:00",
        "2155",
        "12:00:00",
        "00:00:00.01",
        None,
        "AAAAAAAAAAA=",
        "9007199254740993",
        0,
        "0.000000000000000000000000000000",
        number("0.1"),
        number("0.1"),
        "a",
        "y",
        document("1.0e2"),
        None,
        None,
        None,
        None,
        None,
        "",
        "tab\there",
        None,
    ],
]
# The same values in the CSV dialect: what JSON holds as the engine's text is that text
# here too; moments in PostgreSQL's spelling, bytes in `\x` hex, NULL an empty field and
# the empty string `""`.
EXPECTED_CSV = (
    "id,d,dt,ts,dt6,ts6,y,t,t2,b1,b64,ub,sb,dec65,f,db,e,s,doc,ip,u,bin,vb,bl,tx,vc,pt\n"
    "1,0000-00-00,0000-00-00 00:00:00,0000-00-00 00:00:00,0000-00-00 00:00:00.000000,0000-00-00 00:00:00.000000,"
    "0000,-838:59:59,-838:59:59.00,\\x00,\\xffffffffffffffff,18446744073709551615,-9223372036854775808,"
    "99999999999999999999999999999999999.999999999999999999999999999999,3.40282e+38,1.7976931348623157e+308,"
    '"","","{""big"": 12345678901234567890, ""n"": 9007199254740993, ""f"": 1e400}",::ffff:1.2.3.4,'
    f'00000000-0000-0000-0000-000000000000,\\x00ff8081,\\xc3,\\xfffe00,emoji 😀 ünï,"",\\x{point(1.5, -2).hex()}\n'
    "2,2020-00-00,2020-01-00 10:00:00,2038-01-19 03:14:07,2025-01-01 00:00:00.000001,2025-01-01 00:00:00.5,"
    "1901,100:00:00,-00:00:00.50,\\x01,\\x8000000000000001,0,9223372036854775807,"
    '-0.000000000000000000000000000001,-1.17549e-38,5e-324,b c,"x,y",'
    f'"{DEEP_DOCUMENT.replace(chr(34), chr(34) * 2)}",::,ffffffff-ffff-ffff-ffff-ffffffffffff,\\x41424344,\\x,\\x,"",,'
    f"\\x{point(0, 0).hex()}\n"
    "3,2025-02-30,2025-02-30 12:00:00,,0000-01-01 00:00:00.250000,2000-01-01 00:00:00,2155,12:00:00,00:00:00.01,,"
    "\\x0000000000000000,"
    '9007199254740993,0,0.000000000000000000000000000000,0.1,0.1,a,y,1.0e2,,,,,,"",tab\there,\n'
)

COLUMNS = EXPECTED_CSV.split("\n")[0].split(",")
DATE_AND_TIME_COLUMNS = [COLUMNS.index(name) for name in ("d", "dt", "ts", "dt6", "ts6", "y", "t", "t2")]


@pytest.fixture
def maria(mysql_server):
    """A source holding the edge table, written under ALLOW_INVALID_DATES (as old data is)."""
    connection = mysql_connection(mysql_server)
    try:
        cursor = connection.cursor()
        cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cursor.execute("DROP TABLE IF EXISTS qb_edge_values")
        cursor.execute(EDGE_TABLE)
        cursor.execute(EDGE_ROWS)
        connection.commit()
    finally:
        connection.close()
    return source_from_server("maria", "mysql", mysql_server)


SQL = "SELECT * FROM qb_edge_values ORDER BY id"


def test_mariadb_values_are_the_same_in_every_json_path(maria):
    client = client_for(reader("ana", maria))

    with override_settings(QUERYBASE_RESULT_PAGE_ROWS=2):  # the third row is read back from storage
        first = submit(client, maria, SQL)
        again = submit(client, maria, SQL)
    whole = submit(client, maria, SQL + " LIMIT 10")  # one page, nothing to read back
    exported = client.post(
        "/api/v1/queries/export", {"datasource": maria.id, "sql": SQL, "format": "json"}, format="json"
    )

    assert again["cached"] is True and whole["result"]["page_count"] == 1
    assert exported.status_code == 200
    export_body = b"".join(exported.streaming_content)
    assert first["result"]["page_count"] == 2 and again["result"]["page_count"] == 2
    json_rows = [
        every_row(client, first),
        every_row(client, again),
        whole["result"]["rows"],
        exact(export_body)["rows"],
    ]
    for rows in json_rows:
        assert rows == EXPECTED_JSON
    # Documents are written as the engine wrote them, never through a float.
    assert b'"f": 1e400}' in export_body and b",1.0e2," in export_body


def test_mariadb_values_in_csv_are_the_engines_text_where_json_has_it(maria):
    client = client_for(reader("ana", maria))
    expected = EXPECTED_CSV.encode()

    plain = export_csv(client, maria, SQL)
    bound = export_csv(client, maria, SQL.replace("ORDER", "WHERE id > $1 ORDER"), [0])

    assert plain == expected and bound == expected
    # A date or time JSON holds as the engine's text (not a moment, ISO 8601 there), CSV holds too.
    for expected_row, cells in zip(EXPECTED_JSON, list(csv.reader(io.StringIO(plain.decode())))[1:], strict=True):
        for index in DATE_AND_TIME_COLUMNS:
            if expected_row[index] is not None and "T" not in expected_row[index]:
                assert cells[index] == expected_row[index], COLUMNS[index]


def submit(client, source, sql) -> dict:
    response = client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "wait": 60}, format="json")
    assert response.status_code == 200, response.content
    assert b'"f": 1e400}' in response.content  # the first row's document, as written
    return exact(response.content)


def exact(content: bytes):
    """JSON with its numbers kept exactly (json.loads would make floats, 1e400 infinity)."""
    return json.loads(content, parse_float=decimal.Decimal)


def every_row(client, answer: dict) -> list[list]:
    """The rows of every page of an answer, following `next` as a client would."""
    page = answer["result"]
    rows = list(page["rows"])
    while page["next"]:
        response = client.get(page["next"])
        assert b",1.0e2," in response.content  # the third row's document, as stored
        page = exact(response.content)
        rows += page["rows"]
    assert len(rows) == answer["row_count"]
    return rows


def export_csv(client, source, sql, params=None) -> bytes:
    response = client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": sql, "format": "csv", "params": params},
        format="json",
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content)
