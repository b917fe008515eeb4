"""One CSV dialect, whatever the path: PostgreSQL's COPY (a query without parameters), the
row path (a query with parameters), MariaDB and SQLite write the same values as the same
bytes — PostgreSQL's CSV, with NULL an empty field and the empty string `""`."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.support.databases import mysql_connection
from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)

# The values every engine has, and how the dialect writes them.
COMMON_HEADER = b"n,d,empty,missing,tricky,cr,ts,bytes\n"
COMMON_ROW = b'42,12.50,"",,"a,""b""\nc","x\ry",2020-09-10 16:46:03.5,\\x00ff\n'
POSTGRES_COMMON = (
    "SELECT 42 AS n, 12.50::numeric(5,2) AS d, '' AS empty, NULL::text AS missing, "
    "E'a,\"b\"\\nc' AS tricky, E'x\\ry' AS cr, timestamp '2020-09-10 16:46:03.5' AS ts, "
    "'\\x00ff'::bytea AS bytes"
)
MARIADB_COMMON = (
    "SELECT 42 AS n, CAST(12.50 AS DECIMAL(5,2)) AS d, '' AS empty, NULL AS missing, "
    "'a,\"b\"\\nc' AS tricky, 'x\\ry' AS cr, CAST('2020-09-10 16:46:03.5' AS DATETIME(6)) AS ts, "
    "X'00FF' AS bytes"
)
SQLITE_COMMON = (
    "SELECT 42 AS n, '12.50' AS d, '' AS empty, NULL AS missing, "
    "'a,\"b\"' || char(10) || 'c' AS tricky, 'x' || char(13) || 'y' AS cr, '2020-09-10 16:46:03.5' AS ts, "
    "X'00FF' AS bytes"
)
# PostgreSQL's own types, each as PostgreSQL writes it.
POSTGRES_TYPES = (
    "SELECT true AS yes, false AS no, timestamptz '2020-09-10 16:46:03.905795+00' AS at, "
    "timestamptz '2020-09-10 16:46:03+05:30' AS at_india, date '2020-09-10' AS day, time '24:00' AS midnight, "
    "interval '1 mon 2 days 03:00:00.5' AS span, ARRAY['a b', NULL, ''] AS list, '{\"n\": 1e400}'::json AS doc, "
    "'NaN'::numeric AS nan, 'Infinity'::float8 AS inf, 0.1::float8 AS tenth, int4range(1, 6) AS range, "
    "'7c7e5c24-93a0-4ab5-b6a4-2f8d0c2f3c1e'::uuid AS id"
)
POSTGRES_TYPES_CSV = (
    b"yes,no,at,at_india,day,midnight,span,list,doc,nan,inf,tenth,range,id\n"
    b"t,f,2020-09-10 16:46:03.905795+00,2020-09-10 11:16:03+00,2020-09-10,24:00:00,1 mon 2 days 03:00:00.5,"
    b'"{""a b"",NULL,""""}","{""n"": 1e400}",NaN,Infinity,0.1,"[1,6)",7c7e5c24-93a0-4ab5-b6a4-2f8d0c2f3c1e\n'
)


def export(client, source, sql, params=None) -> bytes:
    response = client.post(
        "/api/v1/queries/export",
        {"datasource": source.id, "sql": sql, "format": "csv", "params": params},
        format="json",
    )
    assert response.status_code == 200, response.content if not response.streaming else ""
    return b"".join(response.streaming_content)


def test_postgresql_copy_and_the_row_path_write_the_same_bytes(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    for sql, expected in ((POSTGRES_COMMON, COMMON_HEADER + COMMON_ROW), (POSTGRES_TYPES, POSTGRES_TYPES_CSV)):
        through_copy = export(client, pg, sql)
        with_params = export(client, pg, f"SELECT * FROM ({sql}) AS t WHERE $1::int = 1", [1])
        assert through_copy == expected
        assert with_params == expected


def test_mariadb_and_sqlite_write_the_same_bytes_as_postgresql(postgres_server, mysql_server, shop_sqlite_path):
    pg = source_from_server("pg", "postgresql", postgres_server)
    maria = source_from_server("maria", "mysql", mysql_server)
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    client = client_for(reader("ana", pg, maria, shop))
    expected = COMMON_HEADER + COMMON_ROW
    assert export(client, pg, POSTGRES_COMMON) == expected
    assert export(client, maria, MARIADB_COMMON) == expected
    assert export(client, maria, MARIADB_COMMON + " FROM DUAL WHERE $1 = 1", [1]) == expected
    assert export(client, shop, SQLITE_COMMON) == expected
    assert export(client, shop, SQLITE_COMMON + " WHERE $1 = 1", [1]) == expected


def test_null_and_the_empty_string_stay_apart(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    sql = "SELECT * FROM (VALUES ('', NULL), (NULL, '')) AS t(a, b)"
    assert export(client, pg, sql) == export(client, pg, sql + " WHERE $1::int = 1", [1]) == b'a,b\n"",\n,""\n'


# The row path writes its rows a block at a time (apps/queries/renderers.py, csv_block, of
# 2,000 rows): these reads cross five blocks. The first has nothing to quote and no NULL or
# empty string (it is joined as it is), the second a CR, the third a quote and a lone \.,
# the fourth a comma and an LF (NULLs in those three), the last only empty strings. COPY is
# the reference; MariaDB's values that PostgreSQL also has must come out as COPY writes
# PostgreSQL's.
MANY_ROWS = 10_000
POSTGRES_MANY = (
    "SELECT g AS n, CASE WHEN g = 4001 THEN NULL WHEN g % 7 = 0 AND g > 2000 THEN '' "
    "WHEN g = 2502 THEN E'x\\ry' WHEN g = 4503 THEN '\\.' WHEN g = 4504 THEN 'say \"hi\"' "
    "WHEN g = 6500 THEN E'a,\"b\"\\nc' WHEN g = 7001 THEN 'a,b' ELSE 'row ' || g END AS label, "
    "CASE WHEN g NOT BETWEEN 3000 AND 8000 THEN 12345678901234567890.123456789::numeric END AS big, "
    "timestamp '2025-03-01 10:34:56' + g * interval '1 second' AS at, 'ünïcode ✓ 💥' AS u, "
    f"date '2025-01-01' AS d FROM generate_series(1, {MANY_ROWS}) g"
)
MARIADB_MANY = (
    "SELECT seq AS n, CASE WHEN seq = 4001 THEN NULL WHEN seq % 7 = 0 AND seq > 2000 THEN '' "
    "WHEN seq = 2502 THEN 'x\\ry' WHEN seq = 4503 THEN '\\\\.' WHEN seq = 4504 THEN 'say \"hi\"' "
    "WHEN seq = 6500 THEN 'a,\"b\"\\nc' WHEN seq = 7001 THEN 'a,b' ELSE CONCAT('row ', seq) END AS label, "
    "CASE WHEN seq NOT BETWEEN 3000 AND 8000 THEN CAST(12345678901234567890.123456789 AS DECIMAL(30, 9)) END AS big, "
    "CAST('2025-03-01 10:34:56' AS DATETIME) + INTERVAL seq SECOND AS at, 'ünïcode ✓ 💥' AS u, "
    f"DATE '2025-01-01' AS d FROM seq_1_to_{MANY_ROWS}"
)
# PostgreSQL's other types in many rows: booleans, JSON, bytes, floats, timestamps with zone.
POSTGRES_MANY_TYPES = (
    'SELECT g % 3 = 0 AS yes, CASE WHEN g = 2500 THEN \'{"k": [1, 1e400], "s": "a,b"}\'::json END AS doc, '
    "CASE WHEN g % 2 = 0 THEN '\\x00ff'::bytea END AS raw, CASE WHEN g = 3 THEN 'NaN' ELSE g * 1e30 END::float8 AS f, "
    "timestamptz '2025-03-01 12:34:56.789+02' + g * interval '1 second' AS at, "
    f"ARRAY['a b', NULL, ''] AS list FROM generate_series(1, {MANY_ROWS}) g"
)


def test_the_row_path_writes_copys_bytes_block_after_block(postgres_server, mysql_server):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=MANY_ROWS)
    maria = source_from_server("maria", "mysql", mysql_server, max_rows=MANY_ROWS)
    client = client_for(reader("ana", pg, maria))
    for sql in (POSTGRES_MANY, POSTGRES_MANY_TYPES):
        through_copy = export(client, pg, sql)
        assert through_copy.count(b"\n") > MANY_ROWS
        assert export(client, pg, f"SELECT * FROM ({sql}) AS t WHERE $1::int = 1", [1]) == through_copy
    expected = export(client, pg, POSTGRES_MANY)
    assert b'\n6500,"a,""b""\nc",,' in expected and b'\n2502,"x\ry",' in expected and b"\n4503,\\.," in expected
    assert export(client, maria, MARIADB_MANY + " WHERE $1 = 1", [1]) == expected


# MariaDB's own types, and how the CSV export has always written them.
MARIADB_AWKWARD_TABLE = (
    "CREATE TABLE qb_csv_awkward (id INT PRIMARY KEY, word VARCHAR(40), note TEXT, "
    "bin_word VARCHAR(10) COLLATE utf8mb4_bin, big BIGINT UNSIGNED, zero INT(6) ZEROFILL, amount DECIMAL(40,10), "
    "f DOUBLE, small FLOAT, day DATE, at DATETIME, at6 DATETIME(6), t TIME(2), yr YEAR, flag BOOLEAN, "
    "raw VARBINARY(8), doc JSON, mood ENUM('happy', 'sad, \"very\"'), tags SET('a', 'b'), bits BIT(4)) "
    "DEFAULT CHARSET utf8mb4"
)
MARIADB_AWKWARD_ROWS = (
    "INSERT INTO qb_csv_awkward VALUES "
    "(1, '', 'a,\"b\"\\nc', 'x\\ry', 18446744073709551615, 7, 123456789012345678901234567890.0123456789, 1e30, "
    "1.5, '2025-01-01', '2025-03-01 12:34:56', '2020-09-10 16:46:03.500000', '-838:59:59.5', 2024, TRUE, x'00ff', "
    '\'{"big": 12345678901234567890, "s": "a,\\\\"b\\\\""}\', \'sad, "very"\', \'a,b\', b\'1010\'), '
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL), "
    "(3, 'ünïcode ✓ 💥', '\\\\.', ' lead', 0, 0, -0.5, -2.5e-7, 0, '0000-00-00', '0000-00-00 00:00:00', "
    "'2025-01-01 00:00:00.000001', '00:00:00', 1999, FALSE, x'', '[]', 'happy', '', b'0'), "
    "(4, 'say \"hi\"', '', '\"\"', 1, 42, 0, 0.1, -3.25, '9999-12-31', '9999-12-31 23:59:59', "
    "'2025-01-01 00:00:00', '12:00:00.25', 2000, 2, 'a,b', 'null', 'happy', 'b', b'1111')"
)
MARIADB_AWKWARD_CSV = (
    b"id,word,note,bin_word,big,zero,amount,f,small,day,at,at6,t,yr,flag,raw,doc,mood,tags,bits\n"
    b'1,"","a,""b""\nc","x\ry",18446744073709551615,7,123456789012345678901234567890.0123456789,1e+30,1.5,'
    b"2025-01-01,2025-03-01 12:34:56,2020-09-10 16:46:03.5,-838:59:59.50,2024,1,\\x00ff,"
    b'"{""big"": 12345678901234567890, ""s"": ""a,\\""b\\""""}","sad, ""very""","a,b",\\x0a\n'
    b"2,,,,,,,,,,,,,,,,,,,\n"
    b"3,\xc3\xbcn\xc3\xafcode \xe2\x9c\x93 \xf0\x9f\x92\xa5,\\., lead,0,0,-0.5000000000,-2.5e-07,0.0,0000-00-00,"
    b'0000-00-00 00:00:00,2025-01-01 00:00:00.000001,00:00:00.00,1999,0,\\x,[],happy,"",\\x00\n'
    b'4,"say ""hi""","","""""",1,42,0.0000000000,0.1,-3.25,9999-12-31,9999-12-31 23:59:59,2025-01-01 00:00:00,'
    b"12:00:00.25,2000,2,\\x612c62,null,happy,b,\\x0f\n"
)


def test_mariadb_types_keep_their_bytes(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    with mysql_cursor(mysql_server) as cursor:
        cursor.execute("DROP TABLE IF EXISTS qb_csv_awkward")
        cursor.execute(MARIADB_AWKWARD_TABLE)
        cursor.execute(MARIADB_AWKWARD_ROWS)
    client = client_for(reader("ana", maria))
    sql = "SELECT * FROM qb_csv_awkward ORDER BY id"
    assert export(client, maria, sql) == MARIADB_AWKWARD_CSV
    assert export(client, maria, sql.replace("ORDER", "WHERE id > $1 ORDER"), [0]) == MARIADB_AWKWARD_CSV


def test_a_single_column_writes_null_and_a_lone_backslash_dot_as_copy_does(postgres_server, mysql_server):
    """In a one-column CSV, NULL is an empty line (apart from `""`, the empty string), and
    `\\.` alone on a line is quoted: unquoted, it ends COPY FROM's input."""
    pg = source_from_server("pg", "postgresql", postgres_server)
    maria = source_from_server("maria", "mysql", mysql_server)
    client = client_for(reader("ana", pg, maria))
    sql = "SELECT a FROM (VALUES (1, NULL), (2, ''), (3, '\\.'), (4, 'x')) AS t(n, a) ORDER BY n"
    expected = b'a\n\n""\n"\\."\nx\n'
    assert export(client, pg, sql) == expected
    assert export(client, pg, sql.replace("ORDER", "WHERE n > $1 ORDER"), [0]) == expected
    maria_sql = (
        "SELECT a FROM (SELECT 1 AS n, NULL AS a UNION ALL SELECT 2, '' UNION ALL SELECT 3, '\\\\.' "
        "UNION ALL SELECT 4, 'x') AS t ORDER BY n"
    )
    assert export(client, maria, maria_sql) == expected


@contextmanager
def mysql_cursor(server) -> Iterator[Any]:
    connection = mysql_connection(server)
    try:
        yield connection.cursor()
        connection.commit()
    finally:
        connection.close()
