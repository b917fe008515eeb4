"""POST /api/v1/queries/analyze: the placeholders SQL needs and how it is classified on a
source, from the server's own scanner, without running or recording anything."""

import pytest
from django.conf import settings

from apps.queries.models import QueryRun
from tests.support.factories import client_for, make_datasource, make_user, reader, source_from_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def analyze(client, source, sql):
    return client.post("/api/v1/queries/analyze", {"datasource": source.pk, "sql": sql}, format="json")


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [placeholder["key"] for placeholder in response.json()["placeholders"]]


def test_placeholders_in_code_only_in_number_order_with_each_occurrence(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    sql = "SELECT $2, $1, $1 FROM t WHERE a = '$3' /* $4 */ AND b = $q$ $5 $q$ -- $6"
    response = analyze(client_for(reader("ana", pg)), pg, sql)
    assert keys(response) == ["$1", "$2"]
    first = response.json()["placeholders"][0]
    assert [sql[start:end] for start, end in first["occurrences"]] == ["$1", "$1"]
    assert response.json()["dialect"] == "postgresql"


def test_hash_is_a_comment_on_mysql_and_an_operator_on_postgresql(postgres_server, mysql_server):
    sql = "SELECT 1 # :hidden\n, :shown"
    pg = source_from_server("pg", "postgresql", postgres_server)
    maria = source_from_server("maria", "mysql", mysql_server)
    ana = client_for(reader("ana", pg, maria))
    assert keys(analyze(ana, maria, sql)) == [":shown"]
    assert keys(analyze(ana, pg, sql)) == [":hidden", ":shown"]


def test_the_classification_is_the_one_a_submission_gets(shop):
    ana = client_for(reader("ana", shop))
    read = analyze(ana, shop, "SELECT count(*) FROM orders").json()["classification"]
    write = analyze(ana, shop, "SELECT 1; DELETE FROM orders").json()["classification"]
    assert (read["verdict"], write["verdict"]) == ("read", "write")
    assert [statement["verdict"] for statement in write["statements"]] == ["read", "write"]
    submitted = ana.post(
        "/api/v1/queries",
        {"datasource": shop.pk, "sql": "SELECT 1; DELETE FROM orders", "request_approval": False},
        format="json",
    )
    assert submitted.json()["error"]["details"]["classification"] == write


def test_nothing_runs_and_nothing_is_recorded(shop):
    response = analyze(client_for(reader("ana", shop)), shop, "DELETE FROM orders")
    assert response.status_code == 200
    assert not QueryRun.objects.exists()


def test_a_source_without_rights_is_not_found(shop):
    response = analyze(client_for(make_user("nobody")), shop, "SELECT 1")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sql_too_long_to_classify_inline_is_refused_with_a_clear_error(shop):
    sql = "SELECT 1 -- " + "x" * settings.QUERYBASE_INLINE_CLASSIFY_CHARS
    response = analyze(client_for(reader("ana", shop)), shop, sql)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "sql_too_long"
