"""Bound parameters: $n with a list, :name with an object; the driver binds, text is untouched."""

import pytest

from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def run(client, source, sql, params):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "params": params}, format="json")


@pytest.fixture
def sources(shop_sqlite_path, postgres_server, mysql_server):
    return [
        make_datasource("shop", database=str(shop_sqlite_path)),
        source_from_server("pg", "postgresql", postgres_server),
        source_from_server("maria", "mysql", mysql_server),
    ]


def test_positional_and_named_parameters_on_every_engine(sources):
    client = client_for(reader("ana", *sources))
    for source in sources:
        positional = run(client, source, "SELECT $1 AS a, $2 AS b, $1 AS again", [7, "it's"]).json()
        assert positional["result"]["rows"] == [[7, "it's", 7]], source.engine
        named = run(client, source, "SELECT :who AS who, '100%' AS pct, :n AS n", {"who": "x'; DROP", "n": 2})
        assert named.json()["result"]["rows"] == [["x'; DROP", "100%", 2]], source.engine


def test_placeholders_in_strings_and_comments_are_not_parameters(sources):
    client = client_for(reader("ana", *sources))
    for source in sources:
        body = run(client, source, "SELECT '$1 :name' AS text, $1 AS value /* :other $2 */", [5]).json()
        assert body["result"]["rows"] == [["$1 :name", 5]], source.engine


def test_postgres_cast_is_not_a_named_parameter(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    body = run(client_for(reader("ana", pg)), pg, "SELECT :n::int + 1 AS next", {"n": "41"}).json()
    assert body["result"]["rows"] == [[42]]


@pytest.mark.parametrize(
    ("sql", "params", "fragment"),
    [
        ("SELECT $1, $2", [1], "2 parameter(s)"),
        ("SELECT $1", [1, 2], "1 parameter(s)"),
        ("SELECT $2", [1, 2], "$1 is missing"),
        # $0 was a 500: no number from $1 up to the highest (0) was missing.
        ("SELECT $0", [1], "from $1"),
        ("SELECT $1, $00", [1], "from $1"),
        ("SELECT $1", {"a": 1}, "must be a list"),
        ("SELECT :a", [1], "must be an object"),
        ("SELECT :a, :b", {"a": 1}, "do not match"),
        ("SELECT :a", {"a": 1, "z": 2}, "do not match"),
        ("SELECT $1", [[1, 2]], "strings, numbers"),
        ("SELECT $1", [{"x": 1}], "strings, numbers"),
        ("SELECT 1", [1], "no $n or :name"),
        ("SELECT $1, :a", [1], "either $n or :name"),
        ("SELECT $1; SELECT 2", [1], "single statement"),
    ],
)
def test_parameter_mistakes_are_clear_400s(shop_sqlite_path, sql, params, fragment):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    response = run(client_for(reader("ana", shop)), shop, sql, params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_parameters"
    assert fragment in error["message"] or fragment in str(error["details"])


def test_a_list_binds_as_an_array_on_postgresql(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    sql = "SELECT n FROM generate_series(1, 6) AS n WHERE n = ANY($1) ORDER BY n"
    assert run(client, pg, sql, [[2, 5, 9]]).json()["result"]["rows"] == [[2], [5]]
    assert run(client, pg, sql, [[]]).json()["result"]["rows"] == []
    named = run(client, pg, "SELECT 'b' = ANY(:words) AS found, :words AS words", {"words": ["a", "b", None]})
    assert named.json()["result"]["rows"] == [[True, ["a", "b", None]]]
    # Integers beside fractions bind as numeric[], exact for both.
    mixed = run(client, pg, "SELECT $1 AS mixed", [[1, 2.5, 12345678901234567890]]).json()
    assert mixed["result"]["rows"] == [[["1", "2.5", "12345678901234567890"]]]
    assert mixed["result"]["columns"][0]["type"] == "numeric[]"


def test_an_array_slice_is_not_a_named_parameter(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    body = run(
        client_for(reader("ana", pg)),
        pg,
        "SELECT a[lo:hi] AS part, a[:first] AS one FROM (SELECT ARRAY[10, 20, 30, 40] AS a, 2 AS lo, 3 AS hi) AS s",
        {"first": 1},
    ).json()
    assert body["result"]["rows"] == [[[20, 30], 10]]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([[1, "a"]], "all strings, all numbers or all booleans"),
        ([[True, 1]], "all strings, all numbers or all booleans"),
        ([[[1], [2]]], "all strings, all numbers or all booleans"),
        ([[{"x": 1}]], "all strings, all numbers or all booleans"),
    ],
)
def test_lists_that_are_no_array_are_clear_400s(postgres_server, params, fragment):
    pg = source_from_server("pg", "postgresql", postgres_server)
    response = run(client_for(reader("ana", pg)), pg, "SELECT $1", params)
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]["message"]


def test_a_list_is_refused_where_there_are_no_arrays(mysql_server):
    maria = source_from_server("maria", "mysql", mysql_server)
    response = run(client_for(reader("ana", maria)), maria, "SELECT 1 FROM DUAL WHERE 1 IN ($1)", [[1, 2]])
    assert response.status_code == 400, response.content
    assert "strings, numbers, booleans or null." in response.json()["error"]["message"]
