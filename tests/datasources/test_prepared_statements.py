"""Repeated parameterised reads on a pooled PostgreSQL connection run as a server-side
prepared statement: the read itself lists the session's prepared statements, so what the
server holds is seen through the API."""

import pytest

from apps.datasources.connectors.postgresql import POOL_MAX_SIZE
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SQL = "SELECT statement FROM pg_prepared_statements WHERE $1::int > 0 ORDER BY name"


def test_a_repeated_parameterised_read_is_prepared_once_and_reused(postgres_server):
    source = source_from_server("prepared", "postgresql", postgres_server)
    client = client_for(reader("ana", source))

    def statements_seen(value: int) -> list[str]:
        response = client.post(
            "/api/v1/queries", {"datasource": source.id, "sql": SQL, "params": [value], "max_age": 0}, format="json"
        )
        assert response.status_code == 200, response.content
        return [row[0] for row in response.json()["result"]["rows"]]

    assert statements_seen(1) == []  # the first run on any connection: sent as text
    # From its second run on a pooled connection, by name: the read sees itself prepared.
    # The pool may hand out each of its connections in turn, so after two rounds every
    # one of them has it (and only it: one statement, whatever the values).
    seen = [statements_seen(value) for value in range(2, 2 * POOL_MAX_SIZE + 4)]
    assert seen[-3:] == [[SQL]] * 3


def test_reads_without_parameters_are_not_prepared(postgres_server):
    source = source_from_server("unprepared", "postgresql", postgres_server)
    client = client_for(reader("ana", source))
    sql = "SELECT statement FROM pg_prepared_statements"
    for _ in range(3):
        response = client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "max_age": 0}, format="json")
        assert response.status_code == 200, response.content
        # (Statements other tests prepared on the same pooled connections may be listed.)
        assert [sql] not in response.json()["result"]["rows"]


def test_preparing_can_be_turned_off(postgres_server, settings):
    """For a source behind a pooler that does not keep sessions."""
    settings.QUERYBASE_PG_PREPARED_STATEMENTS = False
    source = source_from_server("never-prepared", "postgresql", postgres_server)
    client = client_for(reader("ana", source))
    sql = "SELECT statement FROM pg_prepared_statements WHERE $1::int > 1"
    for value in range(2 * POOL_MAX_SIZE + 3):
        response = client.post(
            "/api/v1/queries", {"datasource": source.id, "sql": sql, "params": [value], "max_age": 0}, format="json"
        )
        assert response.status_code == 200, response.content
        assert [sql] not in response.json()["result"]["rows"]


def test_a_prepared_read_that_fails_leaves_its_statement_usable(postgres_server):
    source = source_from_server("prepared-failing", "postgresql", postgres_server)
    client = client_for(reader("ana", source))
    sql = "SELECT 10 / $1::int"

    def read(value: int):
        return client.post(
            "/api/v1/queries", {"datasource": source.id, "sql": sql, "params": [value], "max_age": 0}, format="json"
        )

    # Each connection prepares it on its second run, in the flight of a read that fails.
    for _ in range(2 * POOL_MAX_SIZE):
        failed = read(0)
        assert failed.status_code == 400, failed.content
        assert failed.json()["error"]["code"] == "query_failed"
    for _ in range(2 * POOL_MAX_SIZE):
        answered = read(5)
        assert answered.status_code == 200, answered.content
        assert answered.json()["result"]["rows"] == [[2]]
