"""GET /api/v1/datasources/{id}/schema: tables and columns, for readers only."""

import pytest

from tests.support import databases
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user, source_from_server

pytestmark = pytest.mark.django_db


def reader_of(source):
    group = make_group(f"readers-{source.name}")
    grant(group, source, read=True)
    return client_for(make_user(f"reader-{source.name}", groups=(group,)))


def tables_by_name(response) -> dict:
    assert response.status_code == 200, response.content
    return {table["name"]: table for table in response.json()["tables"]}


def test_postgresql_schema(postgres_server):
    source = make_datasource(
        "pg",
        engine="postgresql",
        host=postgres_server.host,
        port=postgres_server.port,
        database=postgres_server.database,
        username=postgres_server.username,
    )
    tables = tables_by_name(reader_of(source).get(f"/api/v1/datasources/{source.id}/schema"))
    # The session's source database: other tests of this process may have added tables.
    assert {"customers", "orders", "big_orders"} <= set(tables)
    assert tables["big_orders"]["kind"] == "view"
    assert tables["customers"]["schema"] == "public"
    assert tables["customers"]["columns"] == [
        {"name": "id", "type": "integer", "nullable": False},
        {"name": "name", "type": "character varying(100)", "nullable": False},
        {"name": "country", "type": "character(2)", "nullable": True},
    ]


def test_mariadb_schema(mysql_server):
    source = make_datasource(
        "maria",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username=mysql_server.username,
        password=mysql_server.password,
    )
    tables = tables_by_name(reader_of(source).get(f"/api/v1/datasources/{source.id}/schema"))
    assert {"customers", "orders", "big_orders"} <= set(tables)  # as on PostgreSQL, above
    assert tables["big_orders"]["kind"] == "view"
    assert [column["name"] for column in tables["orders"]["columns"]] == ["id", "customer_id", "total"]
    assert tables["orders"]["columns"][2]["type"] == "decimal(10,2)"


def test_sqlite_schema_of_the_demo_shop(shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    tables = tables_by_name(reader_of(source).get(f"/api/v1/datasources/{source.id}/schema"))
    assert {"customers", "products", "orders", "order_items", "revenue_by_month"} <= set(tables)
    assert tables["revenue_by_month"]["kind"] == "view"
    assert {"name": "email", "type": "TEXT", "nullable": False} in tables["customers"]["columns"]


def test_user_with_only_approve_right_may_not_browse(shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    group = make_group("approvers")
    grant(group, source, approve=True)
    response = client_for(make_user("appr", groups=(group,))).get(f"/api/v1/datasources/{source.id}/schema")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_user_without_any_right_does_not_see_the_source(shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    response = client_for(make_user("stranger")).get(f"/api/v1/datasources/{source.id}/schema")
    assert response.status_code == 404


def test_unreachable_source_is_a_clear_502(shop_sqlite_path):
    source = make_datasource("gone", database=str(shop_sqlite_path.parent / "missing.sqlite3"))
    response = reader_of(source).get(f"/api/v1/datasources/{source.id}/schema")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "datasource_unavailable"
    assert response.json()["error"]["details"] == {"reason": "connection_failed"}


def test_revoked_right_is_not_answered_from_the_cache(shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    group = make_group("readers")
    permission = grant(group, source, read=True)
    client = client_for(make_user("r", groups=(group,)))
    assert client.get(f"/api/v1/datasources/{source.id}/schema").status_code == 200
    permission.can_read = False
    permission.can_write = True
    permission.save()
    assert client.get(f"/api/v1/datasources/{source.id}/schema").status_code == 403


@pytest.fixture
def film_database(postgres_server):
    with databases.film_database(postgres_server) as server:
        yield server


def test_postgresql_partitions_materialized_views_and_type_names(film_database):
    source = source_from_server("film", "postgresql", film_database)
    tables = tables_by_name(reader_of(source).get(f"/api/v1/datasources/{source.id}/schema"))
    # Partitions are not tables of their own: they are listed under the table they split.
    assert set(tables) == {"film", "payment", "rating_counts"}
    payment = tables["payment"]
    assert payment["kind"] == "partitioned table"
    assert [column["name"] for column in payment["columns"]] == ["id", "paid_on", "amount"]
    partitions = {partition["name"]: partition for partition in payment["partitions"]}
    assert set(partitions) == {
        "payment_p2024_01",
        "payment_p2024_02",
        "payment_p2024_03",
        "payment_rest",
        "payment_rest_one",
    }
    assert partitions["payment_p2024_01"] == {
        "schema": "public",
        "name": "payment_p2024_01",
        "parent": "payment",
        "bound": "FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')",
    }
    assert partitions["payment_rest"]["bound"] == "DEFAULT"
    assert (partitions["payment_rest_one"]["parent"], partitions["payment_rest_one"]["bound"]) == (
        "payment_rest",
        "FOR VALUES IN (1)",
    )
    assert tables["rating_counts"]["kind"] == "materialized view"
    assert tables["film"]["partitions"] == []
    assert tables["film"]["columns"] == [
        {"name": "id", "type": "integer", "nullable": False},
        {"name": "rating", "type": "mpaa_rating", "nullable": True},
        {"name": "tags", "type": "text[]", "nullable": True},
        {"name": "price", "type": "numeric(5,2)", "nullable": True},
    ]
    assert tables["rating_counts"]["columns"][0]["type"] == "mpaa_rating"
