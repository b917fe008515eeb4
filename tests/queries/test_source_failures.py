"""When a source restarts, fails over or is down: dead connections are replaced, reads
retried once, and a source that is really gone answers 502 datasource_unavailable.

Sessions are ended for real, from an admin connection (pg_terminate_backend, KILL), and
"down" is a port nobody listens on.
"""

import time
import uuid
from contextlib import ExitStack

import pytest
from django.test import Client

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import BoundStatement, ConnectionFailed, QueryLimits
from apps.datasources.connectors.unanswered import UNANSWERED
from apps.queries.models import QueryRun
from tests.support.databases import (
    ending_sessions_once_running,
    free_port,
    kill_mysql_sessions,
    poll,
    terminate_postgres_sessions,
)
from tests.support.factories import client_for, make_datasource, reader, source_from_server
from tests.support.relay import relay_to

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# Slow enough (about half a second) to be caught running, with no function a read may not call.
SLOW_POSTGRES_READ = "SELECT count(*) AS n FROM generate_series(1, 5000000) /* {marker} */"
SLOW_MARIADB_READ = "SELECT SUM(a.seq * b.seq) AS n FROM seq_1_to_3000 a, seq_1_to_3000 b /* {marker} */"


def session_pid(backend_id: str) -> int:
    """The server's session id in a read's backend id (PostgreSQL's also names the
    read's transaction after a colon, so that a cancel reaches only that read)."""
    return int(backend_id.split(":")[0])


def submit(client, source, sql, **extra):
    body = {"datasource": source.id, "sql": sql, "max_age": 0, **extra}
    return client.post("/api/v1/queries", body, format="json")


def source_behind(relay, server, name: str, engine: str = "postgresql"):
    """A source reaching the test server of `engine` through `relay`, which can then drop or
    ignore its connections."""
    return make_datasource(
        name,
        engine=engine,
        host="127.0.0.1",
        port=relay.port,
        database=server.database,
        username=server.username,
        password=server.password,
    )


def run_of(response) -> QueryRun:
    body = response.json()
    return QueryRun.objects.get(pk=body["id"] if "id" in body else body["error"]["details"]["run"])


def test_a_read_after_the_sources_sessions_were_terminated_succeeds(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    _fill_the_pool(pg)
    assert submit(client, pg, "SELECT id FROM customers ORDER BY id").status_code == 200

    assert terminate_postgres_sessions()  # as a restart or failover would

    for _ in range(5):  # more reads than the pool holds connections: each finds a live one
        response = submit(client, pg, "SELECT name FROM customers ORDER BY id")
        assert response.status_code == 200, response.content
        assert response.json()["result"]["rows"] == [["Ada"], ["Ben"]]
        assert (run_of(response).status, run_of(response).attempts) == ("succeeded", 1)

    assert terminate_postgres_sessions()
    # A read calling a function first asks the source's catalog about it, on a pooled connection too.
    response = submit(client, pg, "SELECT upper(name) AS name FROM customers ORDER BY id")
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [["ADA"], ["BEN"]]


def test_dead_pooled_connections_are_discarded_before_a_read_uses_them(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    _fill_the_pool(pg)
    ended = terminate_postgres_sessions()
    assert len(ended) >= 2

    sessions: list[str] = []
    connector = connector_for(pg, CredentialRole.READ)
    limits = QueryLimits(max_rows=10, timeout_ms=10_000)
    result = connector.run_read([BoundStatement("SELECT 1")], limits, sessions.append)

    assert result.rows == [[1]]
    assert len(sessions) == 1  # found live at once: no failed attempt on a dead one, no retry
    assert session_pid(sessions[0]) not in ended


def test_a_read_whose_session_is_terminated_while_it_runs_is_retried_once(postgres_server, settings):
    settings.QUERYBASE_INLINE_BUDGET_MS = 30_000  # keep it in this process: the web side's retry
    pg = source_from_server("pg", "postgresql", postgres_server)
    marker = f"terminate-me-{uuid.uuid4().hex}"
    with ending_sessions_once_running(terminate_postgres_sessions, marker) as ended:
        response = submit(client_for(reader("ana", pg)), pg, SLOW_POSTGRES_READ.format(marker=marker), wait=30)

    assert ended, "the read finished before its session could be terminated"
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[5000000]]
    run = run_of(response)
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert session_pid(run.backend_id) not in ended  # the answer came from a fresh session


def test_the_worker_retries_a_read_on_a_fresh_connection(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    client = client_for(reader("ana", pg))
    warm = submit(client, pg, "SELECT 1 AS warm", wait=0).json()["id"]
    assert client.get(f"/api/v1/queries/{warm}?wait=30").json()["status"] == "succeeded"
    assert terminate_postgres_sessions()  # the worker's pooled connections among them

    queued = submit(client, pg, "SELECT name FROM customers ORDER BY id", wait=0).json()["id"]
    body = client.get(f"/api/v1/queries/{queued}?wait=30").json()

    assert body["status"] == "succeeded", body
    assert body["result"]["rows"] == [["Ada"], ["Ben"]]
    assert QueryRun.objects.get(pk=queued).attempts == 1  # no task retry was needed

    marker = f"terminate-me-{uuid.uuid4().hex}"
    with ending_sessions_once_running(terminate_postgres_sessions, marker) as ended:
        running = submit(client, pg, SLOW_POSTGRES_READ.format(marker=marker), wait=0).json()["id"]
        poll(lambda: ended)
        body = client.get(f"/api/v1/queries/{running}?wait=30").json()
    assert body["status"] == "succeeded", body
    assert QueryRun.objects.get(pk=running).attempts == 1


def test_a_mariadb_read_whose_connection_is_killed_is_retried_once(mysql_server, settings):
    settings.QUERYBASE_INLINE_BUDGET_MS = 30_000
    maria = source_from_server("maria", "mysql", mysql_server)
    marker = f"kill-me-{uuid.uuid4().hex}"
    with ending_sessions_once_running(kill_mysql_sessions, marker) as ended:
        response = submit(client_for(reader("ana", maria)), maria, SLOW_MARIADB_READ.format(marker=marker), wait=30)

    assert ended, "the read finished before its connection could be killed"
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [["20263502250000"]]
    run = run_of(response)
    assert (run.status, run.attempts) == ("succeeded", 1)
    assert session_pid(run.backend_id) not in ended


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_source_that_is_down_is_a_502_datasource_unavailable(engine, settings):
    settings.QUERYBASE_CONNECT_TIMEOUT = 1
    gone = make_datasource("gone", engine=engine, host="127.0.0.1", port=free_port(), database="x", username="x")
    client = client_for(reader("ana", gone))

    response = submit(client, gone, "SELECT 1", wait=30)

    assert response.status_code == 502
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "datasource_unavailable"
    run = QueryRun.objects.get(pk=error["details"]["run"])
    assert run.status == "failed"
    assert run.error_code == "datasource_unavailable"
    shown = client.get(f"/api/v1/queries/{run.pk}").json()
    assert (shown["status"], shown["error"]["code"]) == ("failed", "datasource_unavailable")

    export = client.post("/api/v1/queries/export", {"datasource": gone.id, "sql": "SELECT 1"}, format="json")
    assert export.status_code == 502
    assert export.json()["error"]["code"] == "datasource_unavailable"


def test_a_postgresql_source_refusing_connections_is_told_at_once_and_its_return_too(postgres_server, settings):
    # The pool connects in its own threads; a read waiting on it used to learn nothing
    # until the whole connect timeout had passed, though the source refused at once.
    settings.QUERYBASE_CONNECT_TIMEOUT = 60
    with relay_to(f"http://{postgres_server.host}:{postgres_server.port}") as relay:
        source = source_behind(relay, postgres_server, "behind-relay")
        client = client_for(reader("ana", source))
        relay.drop()  # every connection to the source is closed at once from now on

        for _ in range(2):  # the pool's first failed attempt, then the pool that is failing
            started = time.monotonic()
            export = client.post("/api/v1/queries/export", {"datasource": source.id, "sql": "SELECT 1"}, format="json")
            assert export.status_code == 502, export.content
            assert export.json()["error"]["code"] == "datasource_unavailable"
            # Far below the 60 s connect timeout, which it used to wait out each time.
            assert time.monotonic() - started < 30

        relay.restore()  # the source is back: the next read reaches it, whatever the pool's backoff
        export = client.post(
            "/api/v1/queries/export", {"datasource": source.id, "sql": "SELECT 41 + 1 AS n"}, format="json"
        )
        assert export.status_code == 200
        assert b"".join(export.streaming_content) == b"n\n42\n"


def _fill_the_pool(source) -> None:
    """Open every connection the pool may hold, at once, and give them back idle."""
    from apps.datasources.connectors.postgresql import POOL_MAX_SIZE

    connector = connector_for(source, CredentialRole.READ)
    limits = QueryLimits(max_rows=1, timeout_ms=10_000)
    with ExitStack() as stack:
        for _ in range(POOL_MAX_SIZE):
            stack.enter_context(connector.read_stream([BoundStatement("SELECT 1")], limits))


class SteppedClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def test_a_postgresql_source_that_does_not_answer_is_waited_for_once_then_told_at_once(
    postgres_server, settings, monkeypatch
):
    # Packets dropped, not refused: each read used to wait the whole connect timeout out,
    # inline and then once more per retry in the worker.
    clock = SteppedClock()
    monkeypatch.setattr(UNANSWERED, "clock", clock)
    settings.QUERYBASE_CONNECT_TIMEOUT = 2
    with relay_to(f"http://{postgres_server.host}:{postgres_server.port}") as relay:
        source = source_behind(relay, postgres_server, "silent")
        client = client_for(reader("ana", source))
        assert submit(client, source, "SELECT 1 AS n", wait=30).status_code == 200
        relay.silence()  # connections are taken and never answered from now on

        response = submit(client, source, "SELECT 2 AS n", wait=30)
        assert response.status_code == 502, response.content
        error = response.json()["error"]
        assert error["code"] == "datasource_unavailable"
        assert error["message"] == "The data source did not answer within 2s."
        # One attempt, failed for good: no worker waits the timeout out again.
        assert (run_of(response).status, run_of(response).attempts) == ("failed", 1)
        assert relay.unanswered >= 1

        # Known not to answer: told at once, even where the connect timeout is a minute.
        settings.QUERYBASE_CONNECT_TIMEOUT = 60
        for n in range(3):
            started = time.monotonic()
            response = submit(client, source, f"SELECT {n} AS n", wait=30)
            assert response.status_code == 502, response.content
            error = response.json()["error"]
            assert error["code"] == "datasource_unavailable"
            assert error["message"].startswith("The data source did not answer within 2s at the last attempt;")
            assert time.monotonic() - started < 30  # far below the minute it would wait
            assert (run_of(response).status, run_of(response).attempts) == ("failed", 1)
        export = client.post("/api/v1/queries/export", {"datasource": source.id, "sql": "SELECT 1"}, format="json")
        assert export.status_code == 502
        assert "at the last attempt" in export.json()["error"]["message"]

        # Once the window has passed, a read tries again, and finds the source back.
        relay.restore()
        clock.now += 3
        response = submit(client, source, "SELECT 42 AS n", wait=30)
        assert response.status_code == 200, response.content
        assert response.json()["result"]["rows"] == [[42]]


def timed(call):
    """`call()`'s answer, and the seconds it took."""
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_source_that_does_not_answer_is_waited_for_once_by_reads_and_schema_and_always_by_test_connection(
    engine, postgres_server, mysql_server, admin_user, settings, monkeypatch
):
    # Schema browsing used to wait the whole connect timeout out every time, and on MySQL
    # reads did too; "Test connection" is a probe: it always tries, within the timeout.
    clock = SteppedClock()
    monkeypatch.setattr(UNANSWERED, "clock", clock)
    server = postgres_server if engine == "postgresql" else mysql_server
    settings.QUERYBASE_CONNECT_TIMEOUT = 2
    with relay_to(f"http://{server.host}:{server.port}") as relay:
        source = source_behind(relay, server, "silent", engine)
        client = client_for(reader("ana", source))
        admin = client_for(admin_user)
        no_answer = "The data source did not answer within 2s."
        # The admin is told where too; users never (tests/security/test_source_errors_never_say_where_the_source_is.py).
        for_admins = f"{no_answer} (no answer from 127.0.0.1:{relay.port})"
        relay.silence()

        def schema_fails_with(message: str) -> float:
            response, took = timed(lambda: client.get(f"/api/v1/datasources/{source.id}/schema"))
            assert response.status_code == 502, response.content
            error = response.json()["error"]
            assert (error["code"], error["details"]["reason"]) == ("datasource_unavailable", "connection_timeout")
            assert error["message"].startswith(message), error["message"]
            return took

        # "Test connection" waits the timeout out, and says the host did not answer ...
        tested, took = timed(lambda: admin.post(f"/api/v1/datasources/{source.id}/test").json())
        assert (tested["ok"], tested["error_code"], tested["message"]) == (False, "connection_timeout", for_admins)
        assert 2 <= took < 10
        # ... which reads and schema browsing hear: they are told at once, even where the
        # timeout is now half a minute.
        settings.QUERYBASE_CONNECT_TIMEOUT = 30
        at_the_last_attempt = "The data source did not answer within 2s at the last attempt;"
        response, took = timed(lambda: submit(client, source, "SELECT 1 AS n", wait=30))
        assert response.status_code == 502, response.content
        assert response.json()["error"]["message"].startswith(at_the_last_attempt)
        assert (run_of(response).status, run_of(response).attempts) == ("failed", 1)
        assert took < 10
        assert schema_fails_with(at_the_last_attempt) < 10

        # Once the window has passed, schema browsing tries once more, then is told at once.
        settings.QUERYBASE_CONNECT_TIMEOUT = 2
        clock.now += 3
        assert schema_fails_with(no_answer) >= 2
        settings.QUERYBASE_CONNECT_TIMEOUT = 30
        assert schema_fails_with(at_the_last_attempt) < 10

        # The admin's "Test connection" tries for real within the window, and is bounded by
        # the connect timeout.
        settings.QUERYBASE_CONNECT_TIMEOUT = 2
        unanswered = relay.unanswered
        admin_page = Client()
        admin_page.force_login(admin_user)
        form = {
            "name": source.name,
            "engine": engine,
            "host": "127.0.0.1",
            "port": str(relay.port),
            "database": server.database,
            "username": server.username,
        }
        url = f"/admin/datasources/datasource/{source.pk}/test-connection/"
        tested, took = timed(lambda: admin_page.post(url, form).json())
        assert (tested["ok"], tested["error_code"], tested["message"]) == (False, "connection_timeout", for_admins)
        assert 2 <= took < 10
        assert relay.unanswered == unanswered + 1

        # Back: "Test connection" finds it at once, window or not, and that ends the window.
        relay.restore()
        tested, took = timed(lambda: admin_page.post(url, form).json())
        assert tested["ok"] is True, tested
        assert took < 2
        response = submit(client, source, "SELECT 42 AS n", wait=30)
        assert response.status_code == 200, response.content
        assert response.json()["result"]["rows"] == [[42]]
        schema = client.get(f"/api/v1/datasources/{source.id}/schema")
        assert schema.status_code == 200, schema.content


def test_a_mariadb_source_closing_connections_at_once_is_a_refusal_not_a_host_that_does_not_answer(
    mysql_server, settings
):
    # MySQL's client reports both as "Lost connection … reading initial communication
    # packet"; only the system error tells them apart. Taken for no answer, a refusal was
    # reported as a timeout it never waited for, and kept the host's reads away.
    settings.QUERYBASE_CONNECT_TIMEOUT = 30
    with relay_to(f"http://{mysql_server.host}:{mysql_server.port}") as relay:
        source = source_behind(relay, mysql_server, "closing", "mysql")
        client = client_for(reader("ana", source))
        relay.drop()  # connections are taken and closed at once

        for _ in range(2):  # each tries: no window was opened
            response, took = timed(lambda: client.get(f"/api/v1/datasources/{source.id}/schema"))
            assert response.status_code == 502, response.content
            error = response.json()["error"]
            assert (error["code"], error["details"]["reason"]) == ("datasource_unavailable", "connection_failed")
            assert error["message"] == ConnectionFailed.said, error["message"]
            assert took < 10

        relay.restore()
        assert client.get(f"/api/v1/datasources/{source.id}/schema").status_code == 200
