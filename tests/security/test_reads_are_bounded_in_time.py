"""Abuse: a source's time limit bounds the whole read, not each statement, and the inline
budget bounds the API request however many statements a script has.

Found by an outside review: three `pg_sleep(15)` ran 45 s against a 20 s limit, and
100,000 times `SELECT 1;` held a web process for 14.5 s against a 1 s inline budget.
No clock is read: each test is built so that the outcome itself shows which limit
applied (a busy machine only makes the statements slower, which cannot change it).
"""

import pytest

from apps.queries.models import QueryRun
from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db

LIMIT_S = 1
# Each statement alone stays well inside the limit (about 0.2 s here); together they
# need far more than it (about 8 s). A per-statement limit lets all of them run.
STATEMENTS = 40
MEDIUM_READS = {
    "postgresql": "SELECT count(*) FROM generate_series(1, 1000000)",
    "mysql": "SELECT sum(seq % 7) FROM seq_1_to_1500000",  # MariaDB's sequence engine
    "sqlite": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 300000) SELECT count(*) FROM r",
}


@pytest.fixture
def sources(request, postgres_server, mysql_server, shop_sqlite_path):
    return {
        "postgresql": lambda **f: source_from_server("pg", "postgresql", postgres_server, **f),
        "mysql": lambda **f: source_from_server("maria", "mysql", mysql_server, **f),
        "sqlite": lambda **f: make_datasource("shop", database=str(shop_sqlite_path), **f),
    }


def submit(client, source, sql: str, **extra):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, **extra}, format="json")


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_statements_each_inside_the_limit_share_one_time_limit(sources, engine, settings):
    # The inline budget is larger than the source's limit, so the read runs to that
    # limit in this process and is not handed to a worker.
    settings.QUERYBASE_INLINE_BUDGET_MS = 60_000
    source = sources[engine](statement_timeout_ms=LIMIT_S * 1000, cache_ttl_seconds=0)
    script = ";\n".join([MEDIUM_READS[engine]] * STATEMENTS)
    response = submit(client_for(reader("ana", source)), source, script, wait=60)
    # Each statement fits the limit: only a limit shared by the whole script ends it.
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "query_timeout"
    assert QueryRun.objects.get(pk=error["details"]["run"]).status == "failed"


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_script_of_many_tiny_statements_is_handed_over_within_the_inline_budget(sources, engine, settings):
    # 10,000 statements take about 1 s to run here: well past a 0.5 s budget, which a
    # per-statement limit would never notice.
    budget_s = 0.5
    settings.QUERYBASE_INLINE_BUDGET_MS = int(budget_s * 1000)
    source = sources[engine](statement_timeout_ms=120_000, cache_ttl_seconds=0)
    script = "SELECT 1;\n" * 10_000
    response = submit(client_for(reader("ana", source)), source, script, wait=1)
    # Not answered inline: the budget, counted over the whole script, handed it over.
    assert response.status_code == 202, response.content
    run = QueryRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued"  # the worker will run it, with the source's own limit


def test_one_long_postgresql_statement_is_handed_over_within_the_inline_budget(sources, settings):
    # The source's limit (the session's default) is two minutes: only the limit the
    # read's own transaction sets, from the inline budget, stops inline a statement of
    # some seconds (40M rows counted). It travels in one flight with the statement
    # (connectors/postgresql_reads.py). The wait only has to be above the budget: the
    # budget, not the wait, bounds the inline read, and whatever the wait, a statement
    # nothing stopped would be answered inline (200). No worker runs here, so the request
    # then sits out the rest of its wait and answers 202.
    settings.QUERYBASE_INLINE_BUDGET_MS = 300
    source = sources["postgresql"](statement_timeout_ms=120_000, cache_ttl_seconds=0)
    sql = "SELECT count(*) FROM generate_series(1, 8000) a CROSS JOIN generate_series(1, 5000) b"
    response = submit(client_for(reader("ana", source)), source, sql, wait=1)
    assert response.status_code == 202, response.content
    assert QueryRun.objects.get(pk=response.json()["id"]).status == "queued"
