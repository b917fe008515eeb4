"""Invariants 1 and 2: a read that would change something outside its read-only
transaction is not a read. Through the API, against real PostgreSQL and MariaDB sources
whose logins could do the damage (the PostgreSQL source logs in as a superuser, as the
outside attack found), a user who may only read gets a refusal and nothing changes."""

import psycopg
import pytest

from apps.queries.function_catalog import forget_cached_functions
from tests.support.databases import MYSQL_USER, SOURCE_DB, mysql_root
from tests.support.factories import client_for, reader, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)

DBLINK_DELETE = "'dbname={db} user=postgres host=127.0.0.1', 'DELETE FROM writes'"


def _pg_admin(server, autocommit=True):
    return psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB, autocommit=autocommit)


@pytest.fixture
def pg(postgres_server):
    with _pg_admin(postgres_server) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS dblink")
        admin.execute("DROP TABLE IF EXISTS writes")
        admin.execute("CREATE TABLE writes (id int PRIMARY KEY, price int)")
        admin.execute("INSERT INTO writes VALUES (1, 10), (2, 20)")
        admin.execute("CREATE SEQUENCE IF NOT EXISTS s1")
        admin.execute("SELECT setval('s1', 7)")
        # A function of the source's own: VOLATILE by default, and it reaches out by dblink.
        admin.execute(
            "CREATE OR REPLACE FUNCTION wipe_writes() RETURNS text LANGUAGE sql AS "
            f"$$ SELECT dblink_exec('dbname={SOURCE_DB} user=postgres host=127.0.0.1', 'DELETE FROM writes') $$"
        )
        admin.execute("CREATE OR REPLACE FUNCTION doubled(int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT $1 * 2 $$")
        # Named as a reviewed harmless function of the system's, and reaching out by dblink.
        admin.execute(
            "CREATE OR REPLACE FUNCTION public.timeofday() RETURNS text LANGUAGE sql AS "
            f"$$ SELECT dblink_exec('dbname={SOURCE_DB} user=postgres host=127.0.0.1', 'DELETE FROM writes') $$"
        )
        # Declared STABLE, yet it takes a session lock (a STABLE function may call volatile
        # ones), with its owner's rights.
        admin.execute(
            "CREATE OR REPLACE FUNCTION stable_locker() RETURNS int LANGUAGE plpgsql STABLE SECURITY DEFINER "
            "AS $$ BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END $$"
        )
    forget_cached_functions()
    source = source_from_server("pg", "postgresql", postgres_server)
    yield source
    with _pg_admin(postgres_server) as admin:
        admin.execute("SELECT pg_advisory_unlock_all()")


def _pg_state(server):
    with _pg_admin(server) as admin:
        rows = admin.execute("SELECT count(*), sum(price) FROM writes").fetchone()
        sequence = admin.execute("SELECT last_value FROM s1").fetchone()[0]
        # Only the source's own: QueryBase's metadata database holds advisory locks too (a
        # run's session lock), and so may another checkout's suite on this server.
        locks = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]
    return rows, sequence, locks


PG_DISGUISED_WRITES = [
    "SELECT public.timeofday()",
    f'SELECT U&"dblink_exe\\0063"({DBLINK_DELETE})',
    f'SELECT u&"DBLINK_EXE\\0063"({DBLINK_DELETE})',
    f"SELECT U&\"dblink_exe!0063\" UESCAPE '!' ({DBLINK_DELETE})",
    f'SELECT U&"dblink_ex\\+000065c"({DBLINK_DELETE})',
    f'SELECT public.U&"dblink_exec"({DBLINK_DELETE})',
    "SELECT ('DELETE FROM writes').dblink_exec",
    "SELECT * FROM dblink('dbname={db} user=postgres', 'DELETE FROM writes RETURNING 1') AS t(x int)",
    'SELECT U&"pg_advisory_loc\\006b"(777)',
    'SELECT U&"pg_terminate_backen\\0064"(pid) FROM pg_stat_activity WHERE pid = 0',
    "SELECT * FROM ts_stat('SELECT to_tsvector(''x'')')",
    "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')",
    "SELECT query_to_xml('SELECT 1', true, false, '')",
    "SELECT U&\"setva\\006c\"('s1', 500)",
    "SELECT brin_summarize_new_values('writes_pkey')",
    "SELECT pg_stat_reset()",
    "SELECT wipe_writes()",
]


@pytest.mark.parametrize("sql", PG_DISGUISED_WRITES)
def test_a_reader_cannot_write_through_a_function_on_postgresql(pg, postgres_server, sql):
    sql = sql.format(db=SOURCE_DB)
    before = _pg_state(postgres_server)
    response = client_for(reader("reader", pg)).post(
        "/api/v1/queries", {"datasource": pg.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "permission_denied"
    assert _pg_state(postgres_server) == before


def test_a_user_function_the_catalog_marks_volatile_needs_an_approval(pg, postgres_server):
    response = client_for(reader("writer", pg, write=True)).post(
        "/api/v1/queries",
        {"datasource": pg.pk, "sql": "SELECT wipe_writes()", "request_approval": False},
        format="json",
    )
    assert response.status_code == 409, response.content
    body = response.json()["error"]
    assert body["code"] == "approval_required"
    reasons = body["details"]["classification"]["statements"][0]["reasons"]
    assert any("wipe_writes" in reason and "VOLATILE" in reason for reason in reasons)
    assert _pg_state(postgres_server)[0] == (2, 30)


def test_a_security_definer_function_needs_an_approval_even_when_declared_stable(pg, postgres_server):
    before = _pg_state(postgres_server)
    response = client_for(reader("writer", pg, write=True)).post(
        "/api/v1/queries",
        {"datasource": pg.pk, "sql": "SELECT stable_locker()", "request_approval": False},
        format="json",
    )
    assert response.status_code == 409, response.content
    reasons = response.json()["error"]["details"]["classification"]["statements"][0]["reasons"]
    assert any("stable_locker" in reason and "SECURITY DEFINER" in reason for reason in reasons), reasons
    assert _pg_state(postgres_server) == before


def test_a_read_that_the_catalog_makes_a_write_becomes_an_approval_request(pg, postgres_server):
    response = client_for(reader("writer", pg, write=True)).post(
        "/api/v1/queries", {"datasource": pg.pk, "sql": "SELECT wipe_writes()", "reason": "cleanup"}, format="json"
    )
    assert response.status_code == 202, response.content
    approval = response.json()["approval"]
    assert approval["status"] == "pending"
    assert approval["risk"] == "medium"
    assert _pg_state(postgres_server)[0] == (2, 30)


def test_stable_functions_and_harmless_volatile_ones_still_read(pg):
    response = client_for(reader("reader", pg)).post(
        "/api/v1/queries",
        {"datasource": pg.pk, "sql": "SELECT doubled(price), random() < 2, clock_timestamp() IS NOT NULL FROM writes"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert sorted(row[0] for row in response.json()["result"]["rows"]) == [20, 40]


@pytest.fixture
def maria(mysql_server):
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"CREATE OR REPLACE SEQUENCE {SOURCE_DB}.s2 START WITH 1")
    # Stored functions of the source's own, with the server's defaults (DEFINER, NOT
    # DETERMINISTIC), declared harmless but still running with the definer's rights, and
    # declared harmless with the caller's rights.
    cursor.execute(f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.take_lock() RETURNS INT RETURN GET_LOCK('{LOCK}', 0)")
    cursor.execute(
        f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.quiet_lock() RETURNS INT DETERMINISTIC NO SQL "
        f"RETURN GET_LOCK('{LOCK}', 0)"
    )
    cursor.execute(
        f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.tripled(x INT) RETURNS INT "
        "DETERMINISTIC NO SQL SQL SECURITY INVOKER RETURN x * 3"
    )
    connection.commit()
    connection.close()
    forget_cached_functions()
    return source_from_server("maria", "mysql", mysql_server)


LOCK = "querybase_function_rule"


MARIADB_DISGUISED_WRITES = [
    "SELECT NEXTVAL(s2)",
    "SELECT NEXT VALUE FOR s2",
    "SELECT SETVAL(s2, 500)",
    "SELECT 1 /*!50000 + SETVAL(s2, 500) */",
    "SELECT GET_LOCK('qb', 0)",
    "SELECT `get_lock`('qb', 0)",
    "SELECT spider_direct_sql('DELETE FROM t', 'tmp', 'srv \"x\"')",
    "SELECT sys_exec('touch /tmp/x')",
    "SELECT LOAD_FILE('/etc/passwd')",
]


@pytest.mark.parametrize("sql", MARIADB_DISGUISED_WRITES)
def test_a_reader_cannot_write_through_a_function_on_mariadb(maria, sql):
    response = client_for(reader("reader", maria)).post(
        "/api/v1/queries", {"datasource": maria.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 403, response.content
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"SELECT NEXTVAL({SOURCE_DB}.s2)")  # the first value: nobody advanced it
    assert cursor.fetchone()[0] == 1
    connection.close()


def _lock_is_free() -> bool:
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"SELECT IS_FREE_LOCK('{LOCK}')")
    free = cursor.fetchone()[0] == 1
    connection.close()
    return free


@pytest.mark.parametrize("function", ["take_lock", "quiet_lock"])
def test_a_stored_function_that_runs_with_its_definers_rights_needs_an_approval_on_mariadb(maria, function):
    # A read-only transaction does not stop a user lock (nor SET GLOBAL): a function at
    # the defaults, or declared harmless but run with its definer's rights, is a write.
    refused = client_for(reader("reader", maria)).post(
        "/api/v1/queries", {"datasource": maria.pk, "sql": f"SELECT {function}()"}, format="json"
    )
    assert refused.status_code == 403, refused.content
    response = client_for(reader("writer", maria, write=True)).post(
        "/api/v1/queries",
        {"datasource": maria.pk, "sql": f"SELECT {function}() AS taken", "request_approval": False},
        format="json",
    )
    assert response.status_code == 409, response.content
    body = response.json()["error"]
    assert body["code"] == "approval_required"
    reasons = body["details"]["classification"]["statements"][0]["reasons"]
    assert any(function in reason and "SQL SECURITY INVOKER" in reason for reason in reasons), reasons
    assert _lock_is_free()


def _grant_reading_bodies(granted: bool) -> None:
    connection = mysql_root()
    cursor = connection.cursor()
    verb, preposition = ("GRANT", "TO") if granted else ("REVOKE", "FROM")
    cursor.execute(f"{verb} SELECT ON mysql.proc {preposition} '{MYSQL_USER}'@'%'")
    connection.close()
    forget_cached_functions()


def test_a_stored_function_declared_deterministic_with_the_callers_rights_reads_once_its_body_is_seen_on_mariadb(
    maria,
):
    sql = "SELECT tripled(14) AS n, CONCAT('a', 'b') AS s"
    # The source's login did not define it and may not read mysql.proc: the server hides
    # the body, which could call a definer's function, so the declaration is not enough.
    hidden = client_for(reader("writer", maria, write=True)).post(
        "/api/v1/queries", {"datasource": maria.pk, "sql": sql, "request_approval": False}, format="json"
    )
    assert hidden.status_code == 409, hidden.content
    reasons = hidden.json()["error"]["details"]["classification"]["statements"][0]["reasons"]
    assert any("tripled" in reason and "may not see" in reason for reason in reasons), reasons
    _grant_reading_bodies(True)
    try:
        response = client_for(reader("reader", maria)).post(
            "/api/v1/queries", {"datasource": maria.pk, "sql": sql}, format="json"
        )
    finally:
        _grant_reading_bodies(False)
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[42, "ab"]]
