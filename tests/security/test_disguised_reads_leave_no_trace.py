"""Invariants 1 and 2, executed: SQL built to pass as a read, sent through the whole read
path (`POST /api/v1/queries` as a user who may only read) to real PostgreSQL and MariaDB
sources whose logins could do the damage, and the servers then asked what changed.

Each candidate is either refused as not a read, or it ran and left nothing a read must
not leave: rows, sequences, advisory or user locks still held, session state on the pooled
connection the next read reuses, server-wide settings. The candidates are what the
lexical rules cannot see by themselves: objects of the source's own (views, functions)
that call state-changing functions from a plain SELECT, and names the server spells
differently from the scanner.
"""

import secrets
import socket
import tempfile
from pathlib import Path

import MySQLdb
import psycopg
import psycopg.sql
import pytest

from apps.queries.function_catalog import forget_cached_functions
from tests.support.databases import MYSQL_USER, SOURCE_DB, free_port, mysql_root
from tests.support.factories import client_for, make_datasource, reader, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)

PG_LOCK = 73_331  # the advisory lock key the source's objects take


def _pg_admin(server):
    return psycopg.connect(host=server.host, port=server.port, user="postgres", dbname=SOURCE_DB, autocommit=True)


PG_OBJECTS = [
    "DROP TABLE IF EXISTS trace_ledger CASCADE",
    "CREATE TABLE trace_ledger (id int PRIMARY KEY, amount int)",
    "INSERT INTO trace_ledger VALUES (1, 10), (2, 20)",
    "CREATE SEQUENCE IF NOT EXISTS tick",
    # Views whose definitions call what a read must not: a session lock that outlives the
    # read on the pooled connection, a sequence a rollback does not undo, and one layer
    # of indirection.
    f"CREATE OR REPLACE VIEW trace_locked AS SELECT id, pg_try_advisory_lock({PG_LOCK}) AS locked FROM trace_ledger",
    "CREATE OR REPLACE VIEW trace_ticked AS SELECT id, nextval('tick') AS tick FROM trace_ledger",
    "CREATE OR REPLACE VIEW trace_summary AS SELECT count(*) AS n FROM trace_locked",
    # A view of the source's own function, VOLATILE by default.
    "CREATE OR REPLACE FUNCTION next_tick() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('tick') $$",
    "CREATE OR REPLACE VIEW trace_next AS SELECT id, next_tick() AS tick FROM trace_ledger",
    # A VOLATILE function whose unquoted name PostgreSQL keeps as written (it folds ASCII
    # letters only), while a full Unicode case mapping spells it `grösse`.
    "CREATE OR REPLACE FUNCTION größe() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('tick') $$",
    "CREATE OR REPLACE FUNCTION \"Äpfel\"() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('tick') $$",
    # Functions a plain SELECT calls without naming them: an operator, a domain's check,
    # a cast, an argument's default, an aggregate's step, the attribute notation.
    f"CREATE OR REPLACE FUNCTION lock_taken(int, int) RETURNS bool LANGUAGE sql "
    f"AS $$ SELECT pg_try_advisory_lock({PG_LOCK}) $$",
    "DROP OPERATOR IF EXISTS === (int, int)",
    "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = lock_taken)",
    f"CREATE OR REPLACE FUNCTION lock_one(int) RETURNS bool LANGUAGE sql "
    f"AS $$ SELECT pg_try_advisory_lock({PG_LOCK}) $$",
    "DROP DOMAIN IF EXISTS locked_int CASCADE",
    "CREATE DOMAIN locked_int AS int CHECK (lock_one(VALUE))",
    "DROP DOMAIN IF EXISTS self_locked CASCADE",
    f"CREATE DOMAIN self_locked AS bigint CHECK (pg_try_advisory_lock(VALUE) OR VALUE = {PG_LOCK})",
    "DROP TYPE IF EXISTS locked_pair CASCADE",
    "CREATE TYPE locked_pair AS (a int)",
    f"CREATE OR REPLACE FUNCTION to_locked_pair(int) RETURNS locked_pair LANGUAGE sql "
    f"AS $$ SELECT ROW(pg_try_advisory_lock({PG_LOCK})::int)::locked_pair $$",
    "CREATE CAST (int AS locked_pair) WITH FUNCTION to_locked_pair(int)",
    f"CREATE OR REPLACE FUNCTION shown(x bool DEFAULT pg_try_advisory_lock({PG_LOCK})) RETURNS bool "
    "LANGUAGE sql STABLE AS $$ SELECT x $$",
    f"CREATE OR REPLACE FUNCTION lock_step(int, int) RETURNS int LANGUAGE sql "
    f"AS $$ SELECT pg_try_advisory_lock({PG_LOCK})::int $$",
    "DROP AGGREGATE IF EXISTS lock_sum(int)",
    "CREATE AGGREGATE lock_sum(int) (SFUNC = lock_step, STYPE = int, INITCOND = '0')",
    f"CREATE OR REPLACE FUNCTION row_lock(trace_ledger) RETURNS bool LANGUAGE sql "
    f"AS $$ SELECT pg_try_advisory_lock({PG_LOCK}) $$",
    # Declared STABLE, yet their bodies take the lock (directly, through another
    # function, in a SQL-standard body).
    "CREATE OR REPLACE FUNCTION stable_lock() RETURNS int LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN PERFORM pg_try_advisory_lock({PG_LOCK}); RETURN 1; END $$",
    "CREATE OR REPLACE FUNCTION stable_wrap() RETURNS int LANGUAGE sql STABLE AS $$ SELECT stable_lock() $$",
    "CREATE OR REPLACE FUNCTION atomic_lock() RETURNS bool LANGUAGE sql STABLE "
    f"BEGIN ATOMIC SELECT pg_try_advisory_lock({PG_LOCK}); END",
    # Declared STABLE, and taking the lock through SQL built at run time, which no reading
    # of the body can vouch for.
    "CREATE OR REPLACE FUNCTION dynamic_lock() RETURNS int LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN EXECUTE 'SELECT pg_try_advisory_lock(' || {PG_LOCK} || ')'; RETURN 1; END $$",
    # Declared STABLE, in a procedural language whose body the classifier does not read
    # (PL/Perl, PL/Python and PL/v8 run SQL through their SPI; this one is PL/pgSQL's
    # handler under another name, so the suite needs no extra package).
    "DROP LANGUAGE IF EXISTS trace_unread CASCADE",
    "CREATE LANGUAGE trace_unread HANDLER plpgsql_call_handler",
    "CREATE OR REPLACE FUNCTION unread_lock() RETURNS int LANGUAGE trace_unread STABLE "
    f"AS $$ BEGIN PERFORM pg_try_advisory_lock({PG_LOCK}); RETURN 1; END $$",
    "CREATE OR REPLACE FUNCTION dynamic_loop_lock() RETURNS int LANGUAGE plpgsql STABLE "
    "AS $$ DECLARE r record; BEGIN FOR r IN execute format('SELECT %I(%s)', 'pg_try_advisory_lock', "
    f"{PG_LOCK}) LOOP END LOOP; RETURN 1; END $$",
    # The same hidden calls of functions declared STABLE whose bodies take the lock: an
    # operator, a domain's check, a cast, an argument's default, an aggregate's step.
    "CREATE OR REPLACE FUNCTION stable_taken(int, int) RETURNS bool LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN RETURN pg_try_advisory_lock({PG_LOCK}); END $$",
    "DROP OPERATOR IF EXISTS ~~~ (int, int)",
    "CREATE OPERATOR ~~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = stable_taken)",
    "CREATE OR REPLACE FUNCTION stable_one(int) RETURNS bool LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN RETURN pg_try_advisory_lock({PG_LOCK}); END $$",
    "DROP DOMAIN IF EXISTS stable_locked_int CASCADE",
    "CREATE DOMAIN stable_locked_int AS int CHECK (stable_one(VALUE))",
    "CREATE OR REPLACE FUNCTION stable_shown(x bool DEFAULT stable_one(1)) RETURNS bool "
    "LANGUAGE sql STABLE AS $$ SELECT x $$",
    "CREATE OR REPLACE FUNCTION stable_step(int, int) RETURNS int LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN RETURN pg_try_advisory_lock({PG_LOCK})::int; END $$",
    "DROP AGGREGATE IF EXISTS stable_lock_sum(int)",
    "CREATE AGGREGATE stable_lock_sum(int) (SFUNC = stable_step, STYPE = int, INITCOND = '0')",
    "DROP TYPE IF EXISTS stable_pair CASCADE",
    "CREATE TYPE stable_pair AS (a int)",
    "CREATE OR REPLACE FUNCTION to_stable_pair(int) RETURNS stable_pair LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN RETURN ROW(pg_try_advisory_lock({PG_LOCK})::int)::stable_pair; END $$",
    "CREATE CAST (int AS stable_pair) WITH FUNCTION to_stable_pair(int)",
    # Declared STABLE, taking the lock, and put in the system's schema by a superuser:
    # being there does not make it the system's.
    "CREATE OR REPLACE FUNCTION pg_catalog.trace_catalog_lock() RETURNS int LANGUAGE plpgsql STABLE "
    f"AS $$ BEGIN PERFORM pg_try_advisory_lock({PG_LOCK}); RETURN 1; END $$",
    # A view a superuser put in information_schema, which is a schema like any other.
    "CREATE OR REPLACE VIEW information_schema.trace_schema_locked AS "
    f"SELECT pg_try_advisory_lock({PG_LOCK}) AS locked",
    # Declared STABLE, with bodies that only read, yet read a view that takes the lock.
    "CREATE OR REPLACE FUNCTION stable_reader() RETURNS bigint LANGUAGE sql STABLE "
    "AS $$ SELECT count(*) FROM trace_locked $$",
    "CREATE OR REPLACE FUNCTION stable_pl_reader() RETURNS bigint LANGUAGE plpgsql STABLE "
    "AS $$ BEGIN RETURN (SELECT count(*) FROM public.trace_locked); END $$",
    # A composite type, and an array, whose element is such a domain: their input checks it.
    "DROP TYPE IF EXISTS trace_wrapped CASCADE",
    "CREATE TYPE trace_wrapped AS (v locked_int)",
    "DROP DOMAIN IF EXISTS trace_outer_domain",
    "CREATE DOMAIN trace_outer_domain AS locked_int",
    # Row security policies run on every read of their table (for a login they apply to).
    "DROP TABLE IF EXISTS trace_guarded, trace_guarded_plain",
    "CREATE TABLE trace_guarded (id int)",
    "ALTER TABLE trace_guarded ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY take_lock ON trace_guarded USING (lock_one(id))",
    "CREATE TABLE trace_guarded_plain (id int)",
    "INSERT INTO trace_guarded_plain VALUES (1)",
    "ALTER TABLE trace_guarded_plain ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY positive ON trace_guarded_plain USING (id > 0 AND current_user IS NOT NULL)",
    # Views whose definitions use an operator, a domain, a cast of the source's own.
    "CREATE OR REPLACE VIEW trace_compared AS SELECT 1 === 2 AS same",
    # Declared STABLE, and using that operator, or a cast of the source's own.
    "CREATE OR REPLACE FUNCTION trace_compares() RETURNS bool LANGUAGE sql STABLE AS $$ SELECT 1 === 2 $$",
    "CREATE OR REPLACE FUNCTION trace_pl_casts() RETURNS int LANGUAGE plpgsql STABLE "
    "AS $$ BEGIN RETURN (1::locked_pair).a; END $$",
    "CREATE OR REPLACE VIEW trace_checked AS SELECT 1::locked_int AS n",
    "CREATE OR REPLACE VIEW trace_cast AS SELECT (1::locked_pair).a AS a",
    # A plain view, and a function reading it: reading them must stay a read.
    "CREATE OR REPLACE VIEW trace_plain AS SELECT id, amount * 2 AS doubled, upper('x') AS x FROM trace_ledger",
    "CREATE OR REPLACE FUNCTION plain_reader() RETURNS bigint LANGUAGE sql STABLE "
    "AS $$ SELECT count(*) FROM trace_plain JOIN trace_ledger USING (id) $$",
]


# The source database is shared by the session's tests: leave none of this behind.
PG_CLEANUP = [
    "DROP VIEW IF EXISTS trace_compared, trace_checked, trace_cast",
    "DROP TABLE IF EXISTS trace_ledger, trace_guarded, trace_guarded_plain, trace_moods CASCADE",
    "DROP TYPE IF EXISTS trace_mood CASCADE",
    "DROP OPERATOR IF EXISTS === (int, int)",
    "DROP TYPE IF EXISTS trace_wrapped CASCADE",
    "DROP DOMAIN IF EXISTS trace_outer_domain",
    "DROP DOMAIN IF EXISTS locked_int, self_locked",
    "DROP TYPE IF EXISTS locked_pair CASCADE",
    "DROP AGGREGATE IF EXISTS lock_sum(int)",
    "DROP FUNCTION IF EXISTS lock_taken(int, int), lock_one(int), lock_step(int, int), shown(bool), next_tick(), "
    "stable_wrap(), stable_lock(), atomic_lock(), dynamic_lock(), dynamic_loop_lock(), "
    'größe(), "Äpfel"()',
    "DROP SEQUENCE IF EXISTS tick",
    "DROP LANGUAGE IF EXISTS trace_unread CASCADE",
    "DROP OPERATOR IF EXISTS ~~~ (int, int)",
    "DROP DOMAIN IF EXISTS stable_locked_int",
    "DROP AGGREGATE IF EXISTS stable_lock_sum(int)",
    "DROP TYPE IF EXISTS stable_pair CASCADE",
    "DROP FUNCTION IF EXISTS stable_taken(int, int), stable_shown(bool), stable_one(int), stable_step(int, int)",
    "DROP FUNCTION IF EXISTS stable_reader(), stable_pl_reader(), plain_reader()",
    "DROP FUNCTION IF EXISTS pg_catalog.trace_catalog_lock()",
    "DROP FUNCTION IF EXISTS trace_compares(), trace_pl_casts()",
    "DROP VIEW IF EXISTS information_schema.trace_schema_locked",
]


@pytest.fixture
def pg(postgres_server):
    with _pg_admin(postgres_server) as admin:
        for statement in PG_OBJECTS:
            admin.execute(statement)
    forget_cached_functions()
    yield source_from_server("pg", "postgresql", postgres_server)
    with _pg_admin(postgres_server) as admin:
        for statement in PG_CLEANUP:
            admin.execute(statement)
        admin.execute("SELECT pg_advisory_unlock_all()")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [PG_LOCK]
        )


def _pg_state(server):
    with _pg_admin(server) as admin:
        rows = admin.execute("SELECT count(*), sum(amount) FROM trace_ledger").fetchone()
        tick = admin.execute("SELECT last_value, is_called FROM tick").fetchone()
        # Held by anyone (the read's pooled session included), after the read ended.
        locks = admin.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s", [PG_LOCK]
        ).fetchone()[0]
    return rows, tick, locks


PG_DISGUISED_WRITES = [
    # Leaving the read-only transaction, or changing what outlives it.
    "SELECT 1; COMMIT; UPDATE trace_ledger SET amount = 0",
    "SELECT 1; ROLLBACK; BEGIN READ WRITE; DELETE FROM trace_ledger; COMMIT",
    "SAVEPOINT s; RELEASE s",
    "SET TRANSACTION READ WRITE",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET LOCAL search_path TO pg_temp",
    f"SELECT 1; SELECT pg_advisory_lock({PG_LOCK})",
    "LISTEN trace; SELECT 1",
    "NOTIFY trace",
    "DO $$ BEGIN PERFORM nextval('tick'); END $$",
    "PREPARE p AS SELECT 1",
    "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "LOCK TABLE trace_ledger",
    "SELECT * FROM trace_ledger FOR UPDATE",
    "SELECT * INTO trace_copy FROM trace_ledger",
    "CREATE TEMP TABLE trace_temp AS SELECT 1",
    "EXPLAIN ANALYZE SELECT * FROM trace_ticked",
    "EXPLAIN (ANALYZE) SELECT nextval('tick')",
    "WITH gone AS (DELETE FROM trace_ledger RETURNING 1) SELECT count(*) FROM gone",
    "SELECT pg_catalog.set_config('search_path', 'pg_temp', false)",
    'SELECT "pg_advisory_lock"(73331)',
    f'SELECT U&"pg_advisory_loc\\006b"({PG_LOCK})',
    "SELECT ('tick'::regclass).nextval",
    "DISCARD ALL",
    "RESET ALL",
    "SELECT * FROM trace_locked",
    "SELECT count(*) FROM public.trace_locked",
    'SELECT * FROM "trace_locked" WHERE id = 1',
    "TABLE trace_ticked",
    "SELECT * FROM trace_summary",
    "SELECT l.id FROM trace_ledger l JOIN trace_next n USING (id)",
    "SELECT (SELECT max(tick) FROM trace_ticked)",
    "WITH x AS (SELECT * FROM trace_locked) SELECT count(*) FROM x",
    "SELECT größe()",
    'SELECT "Äpfel"()',
    "SELECT 1 === 2",
    "SELECT 1 OPERATOR(public.===) 2",
    "SELECT 1::locked_int",
    "SELECT CAST(1 AS locked_int)",
    f"SELECT {PG_LOCK}::self_locked",
    "SELECT 1::locked_pair",
    "SELECT shown()",
    "SELECT lock_sum(id) FROM trace_ledger",
    "SELECT l.row_lock FROM trace_ledger l",
    "SELECT count(*) FROM trace_guarded",
    "SELECT stable_lock()",
    "SELECT stable_wrap()",
    "SELECT atomic_lock()",
    "SELECT dynamic_lock()",
    "SELECT dynamic_loop_lock()",
    "SELECT unread_lock()",
    "SELECT 1 ~~~ 2",
    "SELECT 1::stable_locked_int",
    "SELECT stable_shown()",
    "SELECT stable_lock_sum(id) FROM trace_ledger",
    "SELECT 1::stable_pair",
    "SELECT stable_reader()",
    "SELECT trace_catalog_lock()",
    "SELECT same FROM trace_compared",
    "SELECT trace_compares()",
    "SELECT trace_pl_casts()",
    "SELECT n FROM trace_checked",
    "SELECT a FROM trace_cast",
    "SELECT '(1)'::trace_wrapped",
    "SELECT 1::trace_outer_domain",
    "SELECT '{1}'::locked_int[]",
    "SELECT CAST('{\"(1)\"}' AS trace_wrapped[])",
    "SELECT * FROM information_schema.trace_schema_locked",
    # Calls in FROM: a function as a table, beside others, laterally, a sample's arguments.
    "SELECT * FROM ROWS FROM (generate_series(1, 2), next_tick())",
    "SELECT l.id, t FROM trace_ledger l CROSS JOIN LATERAL stable_lock() t",
    "SELECT count(*) FROM trace_ledger TABLESAMPLE bernoulli (next_tick())",
    "SELECT count(*) FROM trace_ledger TABLESAMPLE system (100) REPEATABLE (stable_lock())",
    "SELECT stable_pl_reader()",
    # Functions that read relations named in a string, or every relation of a schema.
    "SELECT table_to_xml('trace_locked', true, false, '')",
    "SELECT table_to_xml_and_xmlschema('public.trace_locked'::regclass, true, false, '')",
    "SELECT schema_to_xml('public', true, false, '')",
    "SELECT database_to_xml(true, false, '')",
    "SELECT (l).row_lock FROM trace_ledger l",
]


def _refused_leaving_no_trace(source, server, sql: str) -> str:
    """Sends `sql` as a read, checks it was refused leaving the source as it was, and
    answers why it was refused."""
    before = _pg_state(server)
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql}, format="json"
    )
    after = _pg_state(server)
    assert (response.status_code, after) == (403, before), response.content
    return _reasons(response)


def _reasons(response) -> str:
    statements = response.json()["error"]["details"]["classification"]["statements"]
    return " ".join(reason for statement in statements for reason in statement["reasons"])


@pytest.mark.parametrize("sql", PG_DISGUISED_WRITES)
def test_a_disguised_write_is_refused_and_changes_nothing_on_postgresql(pg, postgres_server, sql):
    _refused_leaving_no_trace(pg, postgres_server, sql)


def test_an_implicit_cast_that_takes_a_lock_makes_reads_that_may_use_it_writes(pg, postgres_server):
    # The text never names the cast or its types: PostgreSQL picks it to call pair_a.
    with _pg_admin(postgres_server) as admin:
        admin.execute(
            "CREATE OR REPLACE FUNCTION text_to_locked_pair(text) RETURNS locked_pair LANGUAGE sql "
            f"AS $$ SELECT ROW(pg_try_advisory_lock({PG_LOCK})::int)::locked_pair $$"
        )
        admin.execute("CREATE CAST (text AS locked_pair) WITH FUNCTION text_to_locked_pair(text) AS IMPLICIT")
        admin.execute("CREATE OR REPLACE FUNCTION pair_a(locked_pair) RETURNS int LANGUAGE sql STABLE AS 'SELECT $1.a'")
    forget_cached_functions()
    before = _pg_state(postgres_server)
    try:
        response = client_for(reader("reader", pg)).post(
            "/api/v1/queries",
            {"datasource": pg.pk, "sql": "SELECT pair_a(name) FROM (SELECT text 'x' AS name) s"},
            format="json",
        )
        after = _pg_state(postgres_server)
    finally:
        with _pg_admin(postgres_server) as admin:
            admin.execute("DROP CAST (text AS locked_pair)")
        forget_cached_functions()
    assert (response.status_code, after) == (403, before), response.content


@pytest.fixture
def own_equality(pg, postgres_server):
    """A comparison operator of the source's own, which IN, CASE, NULLIF and BETWEEN call
    without the text writing its symbol."""
    with _pg_admin(postgres_server) as admin:
        admin.execute("DROP TYPE IF EXISTS trace_mood CASCADE")
        admin.execute("CREATE TYPE trace_mood AS ENUM ('calm', 'busy')")
        admin.execute(
            "CREATE OR REPLACE FUNCTION mood_eq(trace_mood, trace_mood) RETURNS bool LANGUAGE sql "
            f"AS $$ SELECT pg_try_advisory_lock({PG_LOCK}) $$"
        )
        admin.execute("CREATE OPERATOR = (LEFTARG = trace_mood, RIGHTARG = trace_mood, FUNCTION = mood_eq)")
        admin.execute("CREATE TABLE trace_moods (m trace_mood)")
        admin.execute("INSERT INTO trace_moods VALUES ('calm')")
    forget_cached_functions()
    yield pg
    with _pg_admin(postgres_server) as admin:
        admin.execute("DROP TABLE IF EXISTS trace_moods")
        admin.execute("DROP TYPE IF EXISTS trace_mood CASCADE")
    forget_cached_functions()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM trace_moods WHERE m IN ('calm')",
        "SELECT NULLIF(m, 'calm') FROM trace_moods",
        "SELECT CASE m WHEN 'calm' THEN 1 END FROM trace_moods",
        "SELECT count(*) FROM trace_moods WHERE m IS DISTINCT FROM 'busy'",
    ],
)
def test_a_comparison_operator_of_the_sources_own_is_seen_where_a_word_compares(own_equality, postgres_server, sql):
    _refused_leaving_no_trace(own_equality, postgres_server, sql)


def test_a_read_that_compares_nothing_still_reads_beside_a_comparison_operator_of_the_sources_own(own_equality):
    response = client_for(reader("reader", own_equality)).post(
        "/api/v1/queries", {"datasource": own_equality.pk, "sql": "SELECT count(*) FROM trace_moods"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[1]]


@pytest.fixture
def program_table(pg, postgres_server):
    """A file_fdw foreign table whose rows come from a command run in the database
    server's shell on every read; the command leaves a file behind."""
    marker = Path(tempfile.gettempdir()) / f"querybase_trace_{secrets.token_hex(6)}"
    with _pg_admin(postgres_server) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS file_fdw")
        admin.execute("DROP SERVER IF EXISTS trace_files CASCADE")
        admin.execute("CREATE SERVER trace_files FOREIGN DATA WRAPPER file_fdw")
        admin.execute(
            f"CREATE FOREIGN TABLE trace_program (n int) SERVER trace_files OPTIONS (program 'touch {marker}; echo 1')"
        )
        # The same as a partition: reading the parent, which the text names, reads it.
        admin.execute("DROP TABLE IF EXISTS trace_parts")
        admin.execute("CREATE TABLE trace_parts (n int) PARTITION BY LIST (n)")
        admin.execute(
            "CREATE FOREIGN TABLE trace_part_program PARTITION OF trace_parts FOR VALUES IN (1) "
            f"SERVER trace_files OPTIONS (program 'touch {marker}; echo 1')"
        )
    forget_cached_functions()
    yield pg, marker
    with _pg_admin(postgres_server) as admin:
        admin.execute("DROP TABLE IF EXISTS trace_parts")
        admin.execute("DROP EXTENSION IF EXISTS file_fdw CASCADE")
    marker.unlink(missing_ok=True)
    forget_cached_functions()


@pytest.mark.parametrize("sql", ["SELECT n FROM trace_program", "SELECT n FROM trace_parts"])
def test_a_foreign_table_that_runs_a_program_when_read_is_not_a_read(program_table, sql):
    source, marker = program_table
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql}, format="json"
    )
    assert (response.status_code, marker.exists()) == (403, False), response.content
    assert "runs the program" in response.json()["error"]["message"] + str(response.json()["error"]["details"])


@pytest.fixture
def file_table(pg, postgres_server):
    """A file_fdw foreign table over a plain file on the database server, and a table with
    it as a partition: reading a file runs nothing, whichever way the read reaches it."""
    data = Path(tempfile.gettempdir()) / f"querybase_trace_{secrets.token_hex(6)}.csv"
    data.write_text("1\n2\n")
    data.chmod(0o644)
    with _pg_admin(postgres_server) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS file_fdw")
        admin.execute("DROP SERVER IF EXISTS trace_files CASCADE")
        admin.execute("CREATE SERVER trace_files FOREIGN DATA WRAPPER file_fdw")
        admin.execute(
            psycopg.sql.SQL(
                "CREATE FOREIGN TABLE trace_file (n int) SERVER trace_files OPTIONS (filename {}, format 'csv')"
            ).format(str(data))
        )
        admin.execute("DROP TABLE IF EXISTS trace_file_parts")
        admin.execute("CREATE TABLE trace_file_parts (n int) PARTITION BY LIST (n)")
        admin.execute(
            psycopg.sql.SQL(
                "CREATE FOREIGN TABLE trace_file_part PARTITION OF trace_file_parts FOR VALUES IN (1, 2) "
                "SERVER trace_files OPTIONS (filename {}, format 'csv')"
            ).format(str(data))
        )
    forget_cached_functions()
    yield pg
    with _pg_admin(postgres_server) as admin:
        admin.execute("DROP TABLE IF EXISTS trace_file_parts")
        admin.execute("DROP EXTENSION IF EXISTS file_fdw CASCADE")
    data.unlink(missing_ok=True)
    forget_cached_functions()


@pytest.mark.parametrize("sql", ["SELECT n FROM trace_file ORDER BY n", "SELECT n FROM trace_file_parts ORDER BY n"])
def test_a_foreign_table_that_reads_a_file_on_the_server_still_reads(file_table, sql):
    response = client_for(reader("reader", file_table)).post(
        "/api/v1/queries", {"datasource": file_table.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[1], [2]]


@pytest.fixture
def remote_tables(pg, postgres_server):
    """Foreign tables whose rows another server computes: the source's own server, reached
    again through postgres_fdw as postgres, whose view takes the advisory lock. The remote
    session stays open, cached on the pooled connection, and keeps the lock after the read."""
    with _pg_admin(postgres_server) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        admin.execute("DROP SERVER IF EXISTS trace_remote CASCADE")
        admin.execute(
            psycopg.sql.SQL(
                "CREATE SERVER trace_remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host {}, port {}, dbname {})"
            ).format(str(postgres_server.host), str(postgres_server.port), SOURCE_DB)
        )
        admin.execute("CREATE USER MAPPING FOR PUBLIC SERVER trace_remote OPTIONS (user 'postgres')")
        admin.execute(
            "CREATE FOREIGN TABLE trace_far (id int, locked bool) SERVER trace_remote "
            "OPTIONS (table_name 'trace_locked')"
        )
        admin.execute("CREATE VIEW trace_far_count AS SELECT count(*) AS n FROM trace_far")
        # Reading the parent, which the text names, reads its foreign partition.
        admin.execute("DROP TABLE IF EXISTS trace_far_parts")
        admin.execute("CREATE TABLE trace_far_parts (id int, locked bool) PARTITION BY LIST (id)")
        admin.execute(
            "CREATE FOREIGN TABLE trace_far_part PARTITION OF trace_far_parts FOR VALUES IN (1, 2) "
            "SERVER trace_remote OPTIONS (table_name 'trace_locked')"
        )
    forget_cached_functions()
    yield pg
    with _pg_admin(postgres_server) as admin:
        admin.execute("DROP TABLE IF EXISTS trace_far_parts")
        admin.execute("DROP EXTENSION IF EXISTS postgres_fdw CASCADE")
    forget_cached_functions()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM trace_far",
        "SELECT n FROM trace_far_count",
        "SELECT count(*) FROM trace_far_parts",
        "SELECT l.id FROM trace_ledger l WHERE EXISTS (SELECT 1 FROM public.trace_far f WHERE f.id = l.id)",
        "TABLE trace_far",
        "EXPLAIN SELECT * FROM trace_far",
    ],
)
def test_a_foreign_table_whose_server_runs_its_own_sql_is_not_a_read(remote_tables, postgres_server, sql):
    why = _refused_leaving_no_trace(remote_tables, postgres_server, sql)
    assert "a foreign table of the server trace_remote (wrapper postgres_fdw)" in why, why


@pytest.fixture
def own_operator_class(pg, postgres_server):
    """An index whose operator class compares with a function of the source's own that
    takes the lock: an index scan calls it, though the text compares with the system's
    `=`. Beside it, an index whose operator class of the source's own compares with the
    system's function, which only reads."""
    with _pg_admin(postgres_server) as admin:
        admin.execute(
            "CREATE OR REPLACE FUNCTION locking_cmp(int, int) RETURNS int LANGUAGE sql "
            f"AS $$ SELECT btint4cmp($1, $2) + 0 * pg_try_advisory_lock({PG_LOCK})::int $$"
        )
        for family, function in (("trace_locking_ops", "locking_cmp"), ("trace_plain_ops", "btint4cmp")):
            admin.execute(f"DROP OPERATOR FAMILY IF EXISTS {family} USING btree CASCADE")
            admin.execute(f"CREATE OPERATOR FAMILY {family} USING btree")
            admin.execute(
                f"CREATE OPERATOR CLASS {family} FOR TYPE int4 USING btree FAMILY {family} AS OPERATOR 1 <, "
                f"OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 {function}(int, int)"
            )
        for table, family in (("trace_sorted", "trace_locking_ops"), ("trace_sorted_plain", "trace_plain_ops")):
            admin.execute(f"DROP TABLE IF EXISTS {table}")
            admin.execute(f"CREATE TABLE {table} (id int)")
            admin.execute(f"INSERT INTO {table} SELECT generate_series(1, 5000)")
            admin.execute(f"CREATE INDEX ON {table} (id {family})")
            admin.execute(f"ANALYZE {table}")
        # An extension's type and operator classes (its functions are judged by their
        # declarations, as the system's are).
        admin.execute("CREATE EXTENSION IF NOT EXISTS citext")
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        admin.execute("DROP TABLE IF EXISTS trace_words")
        admin.execute("CREATE TABLE trace_words (w citext)")
        admin.execute("INSERT INTO trace_words VALUES ('Calm'), ('busy')")
        admin.execute("CREATE INDEX ON trace_words (w)")
        admin.execute("CREATE INDEX ON trace_words USING gin ((w::text) gin_trgm_ops)")
        # A range over it compares its bounds with it, in its literals and its columns.
        admin.execute("DROP TYPE IF EXISTS trace_locking_range CASCADE")
        admin.execute("CREATE TYPE trace_locking_range AS RANGE (subtype = int4, subtype_opclass = trace_locking_ops)")
        admin.execute("DROP TABLE IF EXISTS trace_spans")
        admin.execute("CREATE TABLE trace_spans (span trace_locking_range)")
        admin.execute("INSERT INTO trace_spans VALUES ('[1,2]'), ('[3,4]')")
        admin.execute("DROP TYPE IF EXISTS trace_span_pair CASCADE")
        admin.execute("CREATE TYPE trace_span_pair AS (span trace_locking_range)")
        admin.execute("DROP TABLE IF EXISTS trace_span_pairs CASCADE")
        admin.execute("CREATE TABLE trace_span_pairs (pair trace_span_pair)")
        admin.execute("INSERT INTO trace_span_pairs SELECT ROW(span)::trace_span_pair FROM trace_spans")
        admin.execute(
            "CREATE VIEW trace_pairs_ordered AS SELECT (pair).span IS NOT NULL AS has_span FROM trace_span_pairs "
            "ORDER BY pair"
        )
        admin.execute(
            "CREATE OR REPLACE FUNCTION trace_first_pair() RETURNS bool LANGUAGE sql STABLE "
            "AS $$ SELECT (pair).span IS NOT NULL FROM trace_span_pairs ORDER BY pair LIMIT 1 $$"
        )
        admin.execute("SELECT pg_advisory_unlock_all()")
        # Pruning the partitions of the one read compares with the key's operator class.
        admin.execute("DROP TABLE IF EXISTS trace_sorted_parts")
        admin.execute("CREATE TABLE trace_sorted_parts (id int) PARTITION BY RANGE (id trace_locking_ops)")
        admin.execute("CREATE TABLE trace_sorted_low PARTITION OF trace_sorted_parts FOR VALUES FROM (1) TO (10)")
        admin.execute("CREATE TABLE trace_sorted_high PARTITION OF trace_sorted_parts FOR VALUES FROM (10) TO (20)")
        admin.execute("SELECT pg_advisory_unlock_all()")
    forget_cached_functions()
    yield pg
    with _pg_admin(postgres_server) as admin:
        admin.execute(
            "DROP TABLE IF EXISTS trace_sorted, trace_sorted_plain, trace_sorted_parts, trace_words, trace_spans, "
            "trace_span_pairs CASCADE"
        )
        admin.execute("DROP TYPE IF EXISTS trace_span_pair, trace_locking_range CASCADE")
        admin.execute("DROP FUNCTION IF EXISTS trace_first_pair()")
        admin.execute("DROP EXTENSION IF EXISTS pg_trgm")
        admin.execute("DROP EXTENSION IF EXISTS citext")
        admin.execute("DROP OPERATOR FAMILY IF EXISTS trace_locking_ops USING btree CASCADE")
        admin.execute("DROP OPERATOR FAMILY IF EXISTS trace_plain_ops USING btree CASCADE")
        admin.execute("DROP FUNCTION IF EXISTS locking_cmp(int, int)")
    forget_cached_functions()


@pytest.mark.parametrize(
    ("sql", "used_by"),
    [
        (
            "SELECT id FROM trace_sorted WHERE id = 5",
            "its index trace_sorted_id_idx (operator class trace_locking_ops) calling locking_cmp()",
        ),
        (
            "SELECT id FROM trace_sorted_parts WHERE id = 5",
            "its partition key (operator class trace_locking_ops) calling locking_cmp()",
        ),
        ("SELECT '[1,5]'::trace_locking_range", "uses type trace_locking_range"),
        ("SELECT span FROM trace_spans ORDER BY span", "its column span"),
        ("SELECT pair FROM trace_span_pairs ORDER BY pair", "its column pair"),
        ("SELECT has_span FROM trace_pairs_ordered", "trace_pairs_ordered, which is a view"),
        ("SELECT trace_first_pair()", "trace_first_pair"),
    ],
)
def test_an_operator_class_that_calls_a_function_that_acts_makes_reads_of_its_table_writes(
    own_operator_class, postgres_server, sql, used_by
):
    why = _refused_leaving_no_trace(own_operator_class, postgres_server, sql)
    assert used_by in why, why


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT id FROM trace_sorted_plain WHERE id = 5", [[5]]),
        ("SELECT w::text FROM trace_words WHERE w = 'calm' ORDER BY w", [["Calm"]]),
        ("SELECT count(*) FROM trace_words WHERE w::text LIKE '%us%'", [[1]]),
    ],
)
def test_operator_classes_that_only_compare_still_read(own_operator_class, sql, rows):
    response = client_for(reader("reader", own_operator_class)).post(
        "/api/v1/queries", {"datasource": own_operator_class.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == rows


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT doubled FROM trace_plain ORDER BY id", [[20], [40]]),
        ("SELECT id FROM trace_guarded_plain", [[1]]),
        ("SELECT plain_reader()", [[2]]),
        ("SELECT l.amount, (l).id FROM trace_ledger l WHERE l.id = 1", [[10, 1]]),
        ("SELECT count(*) FROM pg_stat_activity WHERE false", [[0]]),
        ("SELECT count(*) FROM pg_locks WHERE false", [[0]]),
        ("SELECT count(*) FROM information_schema.tables WHERE false", [[0]]),
    ],
)
def test_views_that_only_read_still_read_on_postgresql(pg, sql, rows):
    response = client_for(reader("reader", pg)).post(
        "/api/v1/queries", {"datasource": pg.pk, "sql": sql}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == rows


# What a read must not leave on the pooled session the next read (anyone's) reuses.
SESSION_PROBE = (
    "SELECT (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory') AS locks, "
    "array_to_string(ARRAY(SELECT pg_listening_channels()), ',') AS channels, "
    "current_setting('search_path') AS search_path, current_user AS who, session_user AS login, "
    "current_setting('default_transaction_read_only') AS read_only, "
    "(SELECT count(*) FROM pg_cursors) AS cursors, "
    "(SELECT count(*) FROM pg_prepared_statements WHERE from_sql) AS prepared, "
    "(SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()) AS temporary_tables"
)

# Reads that pass the classifier by being odd rather than wrong; each must run and
# leave the session as it found it.
PG_ODD_READS = [
    "TABLE trace_ledger",
    "SELECT pg_stat_clear_snapshot()",
    "SELECT count(*) FROM trace_ledger TABLESAMPLE bernoulli (50) REPEATABLE (1)",
    "SELECT $$;SET search_path TO pg_temp; SELECT pg_advisory_lock(1)$$",
    "SELECT /* ; SET ROLE postgres; */ 1 /* nested /* ; LISTEN x; */ */",
    "SELECT E'\\'; LISTEN x; --'",
    "SELECT U&'\\0041' UESCAPE '!'",
    "VALUES (1), (2)",
    "SELECT random() < 2, setting FROM pg_settings WHERE name = 'search_path'",
    "SELECT count(*) FROM pg_prepared_statements",
    "SELECT pg_sequence_last_value('tick') IS NULL",
    "SELECT 1; SELECT 2; TABLE trace_ledger",
]


def test_odd_reads_run_and_leave_the_pooled_session_as_they_found_it_on_postgresql(pg):
    client = client_for(reader("reader", pg))

    def session():
        response = client.post("/api/v1/queries", {"datasource": pg.pk, "sql": SESSION_PROBE}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["result"]["rows"]

    before = session()
    for sql in PG_ODD_READS:
        response = client.post("/api/v1/queries", {"datasource": pg.pk, "sql": sql}, format="json")
        assert response.status_code == 200, (sql, response.content)
        assert session() == before, sql


# --- MariaDB ------------------------------------------------------------------------------

# A server-wide setting nobody else reads: a read must never change it.
MARIA_GLOBAL = "log_warnings"


def _maria_objects():
    return [
        f"CREATE OR REPLACE TABLE {SOURCE_DB}.trace_ledger (id INT PRIMARY KEY, amount INT)",
        f"INSERT INTO {SOURCE_DB}.trace_ledger VALUES (1, 10), (2, 20)",
        # A stored function at the server's defaults (DEFINER, NOT DETERMINISTIC): from
        # inside a read-only transaction it may still SET GLOBAL.
        f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.bump_global() RETURNS INT "
        f"BEGIN SET GLOBAL {MARIA_GLOBAL} = @@GLOBAL.{MARIA_GLOBAL} + 1; RETURN 1; END",
        f"CREATE OR REPLACE VIEW {SOURCE_DB}.trace_bumped AS "
        f"SELECT id, {SOURCE_DB}.bump_global() AS b FROM {SOURCE_DB}.trace_ledger",
        f"CREATE OR REPLACE VIEW {SOURCE_DB}.trace_outer AS SELECT count(*) AS n FROM {SOURCE_DB}.trace_bumped",
        f"CREATE OR REPLACE VIEW {SOURCE_DB}.trace_waits AS SELECT id, SLEEP(0) AS s FROM {SOURCE_DB}.trace_ledger",
        # Declared harmless with the caller's rights, and calls the definer's function:
        # one whose body the read login may see (it is its definer), one it may not.
        f"CREATE OR REPLACE DEFINER = '{MYSQL_USER}'@'%' FUNCTION {SOURCE_DB}.invoker_wrap() RETURNS INT "
        f"DETERMINISTIC NO SQL SQL SECURITY INVOKER RETURN {SOURCE_DB}.bump_global()",
        f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.unseen_wrap() RETURNS INT DETERMINISTIC NO SQL "
        f"SQL SECURITY INVOKER RETURN {SOURCE_DB}.bump_global()",
        # Declared harmless, visible to the read login, and calling a definer's procedure
        # (with or without parentheses) that sets a GLOBAL.
        f"CREATE OR REPLACE PROCEDURE {SOURCE_DB}.bump_proc() "
        f"BEGIN SET GLOBAL {MARIA_GLOBAL} = @@GLOBAL.{MARIA_GLOBAL} + 1; END",
        f"CREATE OR REPLACE DEFINER = '{MYSQL_USER}'@'%' FUNCTION {SOURCE_DB}.invoker_call() RETURNS INT "
        f"DETERMINISTIC NO SQL SQL SECURITY INVOKER BEGIN CALL {SOURCE_DB}.bump_proc(); RETURN 1; END",
        f"CREATE OR REPLACE DEFINER = '{MYSQL_USER}'@'%' FUNCTION {SOURCE_DB}.invoker_bare_call() RETURNS INT "
        "DETERMINISTIC NO SQL SQL SECURITY INVOKER BEGIN CALL bump_proc; RETURN 1; END",
        # Declared harmless, visible to the read login, and only reads: a view over the
        # definer's function.
        f"CREATE OR REPLACE DEFINER = '{MYSQL_USER}'@'%' FUNCTION {SOURCE_DB}.invoker_reader() RETURNS INT "
        f"DETERMINISTIC READS SQL DATA SQL SECURITY INVOKER RETURN (SELECT sum(b) FROM {SOURCE_DB}.trace_bumped)",
        f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.größe() RETURNS INT "
        f"BEGIN SET GLOBAL {MARIA_GLOBAL} = @@GLOBAL.{MARIA_GLOBAL} + 1; RETURN 1; END",
        f"CREATE OR REPLACE VIEW {SOURCE_DB}.Ledger_Mixed AS SELECT id, SLEEP(0) AS s FROM {SOURCE_DB}.trace_ledger",
        f"CREATE OR REPLACE VIEW {SOURCE_DB}.trace_plain AS "
        f"SELECT id, amount * 2 AS doubled FROM {SOURCE_DB}.trace_ledger",
    ]


def _maria_global() -> int:
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"SELECT @@GLOBAL.{MARIA_GLOBAL}")
    value = int(cursor.fetchone()[0])
    connection.close()
    return value


@pytest.fixture
def maria(mysql_server):
    connection = mysql_root()
    cursor = connection.cursor()
    for statement in _maria_objects():
        cursor.execute(statement)
    connection.commit()
    cursor.execute(f"SELECT @@GLOBAL.{MARIA_GLOBAL}")
    original = cursor.fetchone()[0]
    connection.close()
    forget_cached_functions()
    yield source_from_server("maria", "mysql", mysql_server)
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"SET GLOBAL {MARIA_GLOBAL} = {int(original)}")
    views = "trace_bumped, trace_outer, trace_waits, Ledger_Mixed, trace_plain"
    cursor.execute(f"DROP VIEW IF EXISTS {', '.join(f'{SOURCE_DB}.{view}' for view in views.split(', '))}")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_wrap")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.unseen_wrap")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_reader")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_call")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_bare_call")
    cursor.execute(f"DROP PROCEDURE IF EXISTS {SOURCE_DB}.bump_proc")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.bump_global")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.größe")
    cursor.execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.trace_ledger")
    connection.close()


MARIADB_DISGUISED_WRITES = [
    f"SET GLOBAL {MARIA_GLOBAL} = 9",
    f"SET STATEMENT max_statement_time = 1 FOR SELECT {SOURCE_DB}.bump_global()",
    f"SELECT 1; COMMIT; DO {SOURCE_DB}.bump_global()",
    f"DO {SOURCE_DB}.bump_global()",
    "SELECT GET_LOCK('trace', 0)",
    "SELECT 1 INTO @trace",
    "SELECT @trace := 1",
    f"SELECT 1 /*!50000 , {SOURCE_DB}.bump_global() */",
    f"SELECT 1 /*M!100000 , {SOURCE_DB}.bump_global() */",
    "HANDLER trace_ledger OPEN",
    "SELECT * FROM trace_ledger FOR UPDATE",
    "SELECT * FROM trace_ledger LOCK IN SHARE MODE",
    "SELECT * FROM trace_ledger INTO OUTFILE '/tmp/trace'",
    "FLUSH TABLES",
    "ANALYZE TABLE trace_ledger",
    "EXECUTE IMMEDIATE 'SELECT 1'",
    "SELECT * FROM trace_bumped",
    f"SELECT count(*) FROM `{SOURCE_DB}`.`trace_bumped`",
    "SELECT * FROM trace_outer",
    "SELECT * FROM trace_waits",
    "SELECT * FROM Ledger_Mixed",
    "SELECT invoker_wrap()",
    "SELECT invoker_reader()",
    "SELECT invoker_call()",
    "SELECT invoker_bare_call()",
    "SELECT größe()",
    "SELECT GRÖßE()",
    # Executable comments: MariaDB 10.11 skips the later version, runs the earlier one.
    f"SELECT 1 /*!999999 '*/ /*!10000 , {SOURCE_DB}.bump_global() */ -- ' */",
    "SELECT 1 /*!110000 '*/ , bump_global() -- ' */",
    "SELECT 1 /*M!110000 '*/ , bump_global() -- ' */",
]


@pytest.mark.parametrize("sql", MARIADB_DISGUISED_WRITES)
def test_a_disguised_write_is_refused_and_changes_nothing_on_mariadb(maria, sql):
    before = _maria_global()
    response = client_for(reader("reader", maria)).post(
        "/api/v1/queries", {"datasource": maria.pk, "sql": sql}, format="json"
    )
    assert (response.status_code, _maria_global()) == (403, before), response.content


def test_views_that_only_read_still_read_on_mariadb(maria):
    response = client_for(reader("reader", maria)).post(
        "/api/v1/queries",
        {"datasource": maria.pk, "sql": "SELECT doubled FROM trace_plain ORDER BY id"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[20], [40]]


def test_a_harmless_looking_function_whose_body_the_login_cannot_see_is_refused_on_mariadb(maria):
    before = _maria_global()
    response = client_for(reader("reader", maria)).post(
        "/api/v1/queries", {"datasource": maria.pk, "sql": "SELECT unseen_wrap()"}, format="json"
    )
    assert (response.status_code, _maria_global()) == (403, before), response.content


@pytest.fixture
def federated(maria, mysql_server):
    """A FEDERATED table whose rows the server reads again through its own port, as root,
    from trace_bumped (a view over the definer's function that sets a GLOBAL), and a view
    over it. The plugin ships with MariaDB; it is loaded for the test if it was not, and
    unloaded after."""
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute("SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'FEDERATED' AND SUPPORT <> 'NO'")
    loaded_here = cursor.fetchone() is None
    if loaded_here:
        try:
            cursor.execute("INSTALL SONAME 'ha_federatedx'")
        except MySQLdb.Error:  # loaded by someone else in the meantime
            loaded_here = False
    try:
        remote = f"mysql://root@{mysql_server.host}:{mysql_server.port}/{SOURCE_DB}/trace_bumped"
        cursor.execute(
            f"CREATE OR REPLACE TABLE {SOURCE_DB}.trace_far (id INT, b INT) ENGINE=FEDERATED CONNECTION='{remote}'"
        )
        cursor.execute(
            f"CREATE OR REPLACE VIEW {SOURCE_DB}.trace_far_count AS SELECT count(*) AS n FROM {SOURCE_DB}.trace_far"
        )
        forget_cached_functions()
        yield maria
    finally:
        cursor.execute(f"DROP VIEW IF EXISTS {SOURCE_DB}.trace_far_count")
        cursor.execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.trace_far")
        if loaded_here:
            cursor.execute("UNINSTALL SONAME 'ha_federatedx'")
        connection.close()
        forget_cached_functions()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM trace_far",
        f"SELECT id FROM `{SOURCE_DB}`.`trace_far`",
        "SELECT n FROM trace_far_count",
        "SELECT l.id FROM trace_ledger l WHERE l.id IN (SELECT id FROM trace_far)",
    ],
)
def test_a_table_whose_rows_another_server_reads_is_not_a_read_on_mariadb(federated, sql):
    before = _maria_global()
    response = client_for(reader("reader", federated)).post(
        "/api/v1/queries", {"datasource": federated.pk, "sql": sql}, format="json"
    )
    assert (response.status_code, _maria_global()) == (403, before), response.content
    assert "a table of the FEDERATED engine" in _reasons(response), _reasons(response)


@pytest.fixture
def maria_as_root(maria, mysql_server):
    """The source read with a login that may SET GLOBAL and write files (what the credential
    audit warns of), and INVOKER functions declared NO SQL whose bodies do both: with the
    reader's rights, inside the read-only transaction, which stops neither."""
    marker = Path(tempfile.gettempdir()) / f"querybase_trace_{secrets.token_hex(6)}"
    connection = mysql_root()
    cursor = connection.cursor()
    # A view root added to the sys schema, which holds the server's own views too.
    cursor.execute(f"CREATE OR REPLACE VIEW sys.trace_sys_bumped AS SELECT {SOURCE_DB}.bump_global() AS b")
    for name, statement in (
        ("invoker_global", f"SET GLOBAL {MARIA_GLOBAL} = @@GLOBAL.{MARIA_GLOBAL} + 1"),
        ("invoker_file", f"SELECT 1 INTO DUMPFILE '{marker}'"),
    ):
        cursor.execute(
            f"CREATE OR REPLACE FUNCTION {SOURCE_DB}.{name}() RETURNS INT DETERMINISTIC NO SQL SQL SECURITY INVOKER "
            f"BEGIN {statement}; RETURN 1; END"
        )
    connection.close()
    forget_cached_functions()
    source = make_datasource(
        "maria_root",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username="root",
    )
    yield source, marker
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute("DROP VIEW IF EXISTS sys.trace_sys_bumped")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_global")
    cursor.execute(f"DROP FUNCTION IF EXISTS {SOURCE_DB}.invoker_file")
    connection.close()
    marker.unlink(missing_ok=True)
    forget_cached_functions()


@pytest.mark.parametrize(
    "sql", ["SELECT invoker_global()", "SELECT invoker_file()", "SELECT b FROM sys.trace_sys_bumped"]
)
def test_a_harmless_looking_function_whose_body_acts_on_the_server_is_refused_on_mariadb(maria_as_root, sql):
    source, marker = maria_as_root
    before = _maria_global()
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql}, format="json"
    )
    assert (response.status_code, _maria_global(), marker.exists()) == (403, before, False), response.content


@pytest.fixture
def search_daemon_table(maria):
    """A SPHINX table: reading it makes the database server connect to the search daemon
    its CONNECTION names, any host and port (here a socket of the test's, which counts
    who connects). The plugin ships with MariaDB; it is loaded for the test if it was not."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    listener.settimeout(0.5)
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute("SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'SPHINX' AND SUPPORT <> 'NO'")
    loaded_here = cursor.fetchone() is None
    if loaded_here:
        try:
            cursor.execute("INSTALL SONAME 'ha_sphinx'")
        except MySQLdb.Error:  # loaded by someone else in the meantime
            loaded_here = False
    try:
        cursor.execute(
            f"CREATE OR REPLACE TABLE {SOURCE_DB}.trace_search (id BIGINT UNSIGNED NOT NULL, weight INT NOT NULL, "
            f"query VARCHAR(255) NOT NULL, INDEX (query)) ENGINE=SPHINX "
            f"CONNECTION='sphinx://127.0.0.1:{listener.getsockname()[1]}/trace'"
        )
        forget_cached_functions()
        yield maria, listener
    finally:
        cursor.execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.trace_search")
        if loaded_here:
            cursor.execute("UNINSTALL SONAME 'ha_sphinx'")
        connection.close()
        listener.close()
        forget_cached_functions()


def test_a_table_whose_read_connects_elsewhere_is_not_a_read_on_mariadb(search_daemon_table):
    source, listener = search_daemon_table
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries",
        {"datasource": source.pk, "sql": "SELECT id FROM trace_search WHERE query = 'x'"},
        format="json",
    )
    try:
        listener.accept()[0].close()
        connected = True
    except TimeoutError:
        connected = False
    assert (response.status_code, connected) == (403, False), response.content
    assert "a table of the SPHINX engine" in _reasons(response), _reasons(response)


def test_the_servers_own_views_in_sys_still_read_on_mariadb(maria_as_root):
    source, _ = maria_as_root
    response = client_for(reader("reader", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": "SELECT count(*) FROM sys.version"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"]["rows"] == [[1]]
