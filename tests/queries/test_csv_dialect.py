"""One CSV dialect, whatever the path: PostgreSQL's COPY (a query without parameters), the
row path (a query with parameters), MariaDB and SQLite write the same values as the same
bytes — PostgreSQL's CSV, with NULL an empty field and the empty string `""`."""

import pytest

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
