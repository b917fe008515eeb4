"""A source that cannot be reached, does not answer or refuses QueryBase's login is said
to be so, by a stable code and one sentence per kind of failure, and never where it is:
the drivers' messages name the host, port, database and login (`connection to server at
"…", port … failed: FATAL: password authentication failed for user "…"`, `Can't connect
to server on '…'`, `Access denied for user '…'@'…'`). Those stay in the server's log and
in the admin's "Test connection". An error of the SQL itself keeps the database's words.

Real failures only: a port nobody listens on, a name that resolves nowhere, a server that
accepts and never answers, a real wrong password on PostgreSQL and MariaDB.
"""

import re

import psycopg
import pytest

from apps.datasources.connectors.base import AuthenticationFailed, ConnectionFailed
from tests.support import databases
from tests.support.approvals import Team, settle
from tests.support.factories import client_for, make_datasource, reader, source_from_server
from tests.support.logs import json_log_lines

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

DATABASE = "where_the_ledger_lives"
LOGIN = "the_reporting_login"
UNRESOLVABLE = "db-primary.qb-nowhere.invalid"


class Where:
    """What an analyst must not learn of a source: its host, port, database and login."""

    def __init__(self, host: str, port: int, database: str, login: str) -> None:
        self.texts = [host, database, login]
        self.port = re.compile(rf"(?<![\w-]){port}(?![\w-])")

    def assert_absent(self, text: str) -> None:
        for secret in self.texts:
            assert secret not in text, f"{secret!r} told in {text}"
        assert not self.port.search(text), f"the port told in {text}"


def submit(client, source, sql: str, **extra):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sql": sql, "max_age": 0, **extra}, format="json")


def user_answers(client, source, where: Where, *, code: str, reason: str, message: str) -> None:
    """Every way an analyst hears of the failure (a read and the run read back, a read the
    source's catalog must vouch for first, an export, analyze, the schema browser) says
    `code` and `message`, and nothing of `where`."""
    read = submit(client, source, "SELECT 1", wait=30)
    assert read.status_code == 502, read.content
    error = read.json()["error"]
    assert (error["code"], error["message"]) == (code, message)
    shown = client.get(f"/api/v1/queries/{error['details']['run']}")
    assert shown.json()["error"] == {"code": code, "message": message}
    history = client.get("/api/v1/queries/history")

    # A read of a table is first checked against the source's catalog (is it a view, and
    # what does it call?): that fails before any run is made, in the same words.
    vetted = submit(client, source, "SELECT id FROM customers", wait=30)
    assert vetted.status_code == 502, vetted.content
    assert (vetted.json()["error"]["code"], vetted.json()["error"]["message"]) == (code, message)

    export = client.post("/api/v1/queries/export", {"datasource": source.pk, "sql": "SELECT 1"}, format="json")
    assert export.status_code == 502, export.content
    assert (export.json()["error"]["code"], export.json()["error"]["message"]) == (code, message)

    schema = client.get(f"/api/v1/datasources/{source.pk}/schema")
    assert schema.status_code == 502, schema.content
    assert (schema.json()["error"]["details"]["reason"], schema.json()["error"]["message"]) == (reason, message)

    analyzed = client.post(
        "/api/v1/queries/analyze", {"datasource": source.pk, "sql": "SELECT lower(name) FROM customers"}, format="json"
    )
    assert analyzed.status_code < 500 or analyzed.status_code == 502, analyzed.content
    for response in (read, shown, history, vetted, export, schema, analyzed):
        where.assert_absent(response.content.decode())


def write_answers(source, where: Where, *, code: str, message: str) -> None:
    """A write's dry-run on the source and its approved execution fail saying `code` and
    `message` (what the requester and the approvers read back), and nothing of `where`."""
    team = Team(source)
    request_id = team.request_write("UPDATE customers SET name = 'Ada' WHERE id = 1")["id"]
    dry_run = client_for(team.approver).post(f"/api/v1/approvals/{request_id}/dry-run")
    assert dry_run.status_code == 200, dry_run.content
    assert dry_run.json()["dry_run_result"]["error"] == {"code": code, "message": message}

    assert team.review(request_id, "approve").status_code == 200
    assert settle(request_id).status == "failed"
    for user in (team.analyst, team.approver):
        shown = client_for(user).get(f"/api/v1/approvals/{request_id}")
        assert shown.json()["execution"]["error"] == {"code": code, "message": message}
        where.assert_absent(shown.content.decode())
    where.assert_absent(dry_run.content.decode())


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_port_nobody_listens_on_is_a_source_that_cannot_be_reached(engine, settings):
    settings.QUERYBASE_CONNECT_TIMEOUT = 1
    port = databases.free_port()
    source = make_datasource(
        "gone", engine=engine, host="127.0.0.1", port=port, database=DATABASE, username=LOGIN, dry_run_enabled=True
    )
    where = Where("127.0.0.1", port, DATABASE, LOGIN)
    client = client_for(reader("ana", source))

    with json_log_lines() as lines:
        read = client.post(
            "/api/v1/queries",
            {"datasource": source.pk, "sql": "SELECT 1", "wait": 30},
            format="json",
            HTTP_X_REQUEST_ID="req-unreachable-1",
        )
        assert read.status_code == 502
    # The driver's words, host and port included, are in the log under the request's id.
    logged = [line for line in lines() if "data source connection failed" in line["event"]]
    assert logged and logged[0]["request_id"] == "req-unreachable-1"
    assert "127.0.0.1" in logged[0]["event"]

    unavailable = {"code": "datasource_unavailable", "message": ConnectionFailed.said}
    user_answers(client, source, where, reason="connection_failed", **unavailable)
    write_answers(source, where, code="connection_failed", message=ConnectionFailed.said)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_host_name_that_resolves_nowhere_is_not_repeated(engine):
    port = 5432 if engine == "postgresql" else 3306
    source = make_datasource("nowhere", engine=engine, host=UNRESOLVABLE, port=port, database=DATABASE, username=LOGIN)
    client = client_for(reader("ana", source))

    user_answers(
        client,
        source,
        Where(UNRESOLVABLE, 54321, DATABASE, LOGIN),  # the default port is no secret
        code="datasource_unavailable",
        reason="connection_failed",
        message=ConnectionFailed.said,
    )


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_server_that_never_answers_is_said_not_to_answer_in_time(engine, settings):
    settings.QUERYBASE_CONNECT_TIMEOUT = 1
    with databases.silent_server() as port:
        source = make_datasource(
            "silent", engine=engine, host="127.0.0.1", port=port, database=DATABASE, username=LOGIN
        )
        client = client_for(reader("ana", source))
        where = Where("127.0.0.1", port, DATABASE, LOGIN)

        read = submit(client, source, "SELECT 1", wait=30)
        assert read.status_code == 502, read.content
        error = read.json()["error"]
        assert error["code"] == "datasource_unavailable"
        assert error["message"] == "The data source did not answer within 1s."
        # Known not to answer: told at once, and still not where.
        again = submit(client, source, "SELECT 2", wait=30).json()["error"]
        assert again["message"].startswith("The data source did not answer within 1s at the last attempt; ")
        for text in (read.content.decode(), str(again)):
            where.assert_absent(text)


def test_a_wrong_password_on_postgresql_is_a_refused_login_without_the_login(admin_client):
    with databases.password_protected_postgres("the-right-one") as server:
        with psycopg.connect(
            host=server.host, port=server.port, user=server.username, password=server.password, autocommit=True
        ) as connection:
            connection.execute(f"CREATE ROLE {LOGIN} LOGIN PASSWORD 'its-right-one'")
            connection.execute(f"CREATE DATABASE {DATABASE} OWNER {LOGIN}")
        source = make_datasource(
            "pg-wrong",
            engine="postgresql",
            host=server.host,
            port=server.port,
            database=DATABASE,
            username=LOGIN,
            password="not-the-password",
            dry_run_enabled=True,
        )
        where = Where(server.host, server.port, DATABASE, LOGIN)
        refused = {"code": "datasource_authentication_failed", "message": AuthenticationFailed.said}
        user_answers(client_for(reader("ana", source)), source, where, reason=refused["code"], **refused)
        write_answers(source, where, **refused)

        # The admin's "Test connection" still says what the driver said.
        tested = admin_client.post(f"/api/v1/datasources/{source.pk}/test").json()
        assert tested["error_code"] == "datasource_authentication_failed"
        assert f'password authentication failed for user "{LOGIN}"' in tested["message"]


def test_a_wrong_password_on_mariadb_is_a_refused_login_without_the_login(admin_client, mysql_server):
    source = make_datasource(
        "maria-wrong",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username=mysql_server.username,
        password="not-the-password",
        dry_run_enabled=True,
    )
    where = Where(mysql_server.host, mysql_server.port, mysql_server.database, mysql_server.username)
    refused = {"code": "datasource_authentication_failed", "message": AuthenticationFailed.said}
    user_answers(client_for(reader("ana", source)), source, where, reason=refused["code"], **refused)
    write_answers(source, where, **refused)

    tested = admin_client.post(f"/api/v1/datasources/{source.pk}/test").json()
    assert tested["error_code"] == "datasource_authentication_failed"
    assert f"Access denied for user '{mysql_server.username}'" in tested["message"]


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_errors_of_the_sql_itself_keep_the_databases_words(engine, postgres_server, mysql_server):
    server = postgres_server if engine == "postgresql" else mysql_server
    source = source_from_server("shop", engine, server)
    client = client_for(reader("ana", source))

    missing_column = submit(client, source, "SELECT no_such_column FROM customers").json()["error"]
    missing_table = submit(client, source, "SELECT id FROM no_such_table").json()["error"]

    assert missing_column["code"] == missing_table["code"] == "query_failed"
    assert "no_such_column" in missing_column["message"]
    assert "no_such_table" in missing_table["message"]


def test_a_sandbox_server_that_cannot_be_reached_is_named_but_not_located(request):
    from tests.support.sandboxes import sandbox_source

    port = databases.free_port()
    source = sandbox_source(
        "postgresql", request, sandbox_host="127.0.0.1", sandbox_port=port, sandbox_username="copy_maker_login"
    )
    client = client_for(reader("ada", source))
    where = Where("127.0.0.1", port, "never-named", "copy_maker_login")

    asked = client.post(f"/api/v1/datasources/{source.pk}/sandbox")
    assert asked.status_code == 502, asked.content
    error = asked.json()["error"]
    assert error["code"] == "sandbox_unavailable"
    assert "Could not connect to the sandbox server" in error["message"]
    where.assert_absent(asked.content.decode())
    for sandbox in client.get("/api/v1/sandboxes").json():
        where.assert_absent(str(sandbox))
