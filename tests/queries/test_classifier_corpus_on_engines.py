"""Every read of the classifier corpus, run on the real engines through QueryBase's own
read path (the connectors' read-only transaction, their pinned settings, the statements
as the classifier cut them).

What this shows: the server parses each text the way the classifier did — no syntax
error, so no statement boundary, quote or comment was read differently — and the server
never finds a write in it (no read-only violation), and nothing changed afterwards.

The corpus names tables and columns freely (`t`, `u`, `audit_counts` …), so the schema
is grown on demand in a scratch database: a missing table is created, a missing column
is added to the tables the statement names (integer columns, which is why some reads
then fail on a type, which is fine: the server got as far as typing them).
"""

import os
import re

import psycopg
import pytest

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import ConnectorError, QueryLimits
from apps.sqlcore.classification import classify_sql
from apps.sqlcore.statements import BoundStatement
from apps.sqlcore.tables import referenced_tables
from tests.support.classifier_corpus import CORPUS, READ
from tests.support.databases import Server, mysql_root, postgres_admin_url
from tests.support.factories import source_from_server

pytestmark = pytest.mark.django_db

SCRATCH_DB = f"qb_corpus{os.environ.get('QUERYBASE_TEST_NAMESPACE', '')}"
SCHEMA_STEPS = 30
LIMITS = QueryLimits(max_rows=100, timeout_ms=10_000)
# Reads of MySQL 8 that MariaDB (the server here) does not have: a syntax error there.
MYSQL_8_ONLY = {"my-values-row", "my-table"}

PG_SYNTAX_ERROR = "42601"
PG_READ_ONLY_VIOLATION = "25006"
MY_SYNTAX_ERROR = 1064
MY_READ_ONLY_VIOLATION = 1792


class PostgresScratch:
    def __init__(self):
        with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
        url = psycopg.conninfo.conninfo_to_dict(postgres_admin_url())
        self.server = Server(
            url.get("host", "127.0.0.1"), int(url.get("port", 5432)), url.get("user", "postgres"), "", SCRATCH_DB
        )
        self.owner = psycopg.connect(
            dbname=SCRATCH_DB, host=self.server.host, port=self.server.port, user=self.server.username, autocommit=True
        )

    def grow(self, error: Exception, sql: str) -> bool:
        """Create what `error` says is missing; False if it is not a missing table or column."""
        if isinstance(error, psycopg.errors.UndefinedTable):
            name = re.search(r'relation "(.+)" does not exist', error.diag.message_primary).group(1)
            self.owner.execute(f"CREATE TABLE {_pg_ident(name)} (id integer)")
            return True
        if isinstance(error, psycopg.errors.UndefinedColumn):
            found = re.match(r'column (?:\w+\.)?(".*"|\S+) does not exist$', error.diag.message_primary)
            column = found.group(1)
            column = column[1:-1].replace('""', '"') if column.startswith('"') else column
            return self._add_column(column, sql)
        return False

    def _add_column(self, column: str, sql: str) -> bool:
        added = False
        for table in referenced_tables(sql, "postgresql"):
            exists = self.owner.execute("SELECT to_regclass(%s) IS NOT NULL", [_pg_ident(table.name)]).fetchone()[0]
            if exists:
                self.owner.execute(
                    f"ALTER TABLE {_pg_ident(table.name)} ADD COLUMN IF NOT EXISTS {_pg_ident(column)} integer"
                )
                added = True
        return added

    def outcome(self, error: Exception) -> str:
        code = getattr(error, "sqlstate", None)
        return {PG_SYNTAX_ERROR: "syntax error", PG_READ_ONLY_VIOLATION: "read-only violation"}.get(code, "ran")

    def contents(self) -> dict[str, int]:
        tables = self.owner.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ).fetchall()
        return {name: self.owner.execute(f"SELECT count(*) FROM {_pg_ident(name)}").fetchone()[0] for (name,) in tables}

    def close(self):
        self.owner.close()
        with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")


class MysqlScratch:
    def __init__(self, mysql_server: Server):
        self.owner = mysql_root()
        cursor = self.owner.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        cursor.execute(f"CREATE DATABASE {SCRATCH_DB}")
        # Every right on the scratch data: the read-only transaction is the only wall here.
        cursor.execute(f"GRANT ALL ON {SCRATCH_DB}.* TO '{mysql_server.username}'@'%'")
        cursor.execute(f"USE {SCRATCH_DB}")
        self.server = Server(
            mysql_server.host, mysql_server.port, mysql_server.username, mysql_server.password, SCRATCH_DB
        )

    def grow(self, error: Exception, sql: str) -> bool:
        code, message = error.args[0], error.args[1]
        cursor = self.owner.cursor()
        if code == 1146:
            name = re.search(r"Table '[^.]+\.(.+)' doesn't exist", message).group(1)
            cursor.execute(f"CREATE TABLE `{name}` (id integer)")
            return True
        if code == 1054:
            column = re.search(r"Unknown column '(.+)' in", message).group(1).split(".")[-1]
            added = False
            for table in referenced_tables(sql, "mysql"):
                cursor.execute(
                    "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    [SCRATCH_DB, table.name],
                )
                if cursor.fetchone():
                    cursor.execute(
                        f"ALTER TABLE `{table.name}` ADD COLUMN IF NOT EXISTS `{column.replace('`', '``')}` integer"
                    )
                    added = True
            return added
        return False

    def outcome(self, error: Exception) -> str:
        code = error.args[0] if error.args else None
        return {MY_SYNTAX_ERROR: "syntax error", MY_READ_ONLY_VIOLATION: "read-only violation"}.get(code, "ran")

    def contents(self) -> dict[str, int]:
        cursor = self.owner.cursor()
        cursor.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [SCRATCH_DB])
        counts = {}
        for (name,) in cursor.fetchall():
            cursor.execute(f"SELECT count(*) FROM `{name}`")
            counts[name] = cursor.fetchone()[0]
        return counts

    def close(self):
        self.owner.cursor().execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        self.owner.close()


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def postgres_scratch(postgres_server):
    scratch = PostgresScratch()
    yield scratch
    scratch.close()


@pytest.fixture(scope="module")
def mysql_scratch(mysql_server):
    scratch = MysqlScratch(mysql_server)
    yield scratch
    scratch.close()


def _run_on_engine(scratch, engine: str, case) -> str:
    """Run the read as QueryBase would, growing the scratch schema as the server asks."""
    connector = connector_for(source_from_server(f"corpus-{case.id}", engine, scratch.server), CredentialRole.READ)
    statements = [BoundStatement(statement.text) for statement in classify_sql(case.sql, engine).statements]
    for _ in range(SCHEMA_STEPS):
        try:
            connector.run_read(statements, LIMITS)
            return "ran"
        except ConnectorError as error:
            cause = error.__cause__
            if not (cause is not None and scratch.grow(cause, case.sql)):
                return scratch.outcome(cause) if cause is not None else "ran"
    return "ran"


def _reads(engine: str):
    return [pytest.param(case, id=case.id) for case in CORPUS[engine] if case.verdict == READ]


@pytest.mark.parametrize("case", _reads("postgresql"))
def test_every_postgresql_read_of_the_corpus_is_a_read_to_the_server(postgres_scratch, case):
    before = postgres_scratch.contents()
    assert _run_on_engine(postgres_scratch, "postgresql", case) == "ran"
    after = postgres_scratch.contents()
    assert {name: rows for name, rows in after.items() if name in before} == before


@pytest.mark.parametrize("case", _reads("mysql"))
def test_every_mysql_read_of_the_corpus_is_a_read_to_the_server(mysql_scratch, case):
    before = mysql_scratch.contents()
    outcome = _run_on_engine(mysql_scratch, "mysql", case)
    assert outcome == ("syntax error" if case.id in MYSQL_8_ONLY else "ran")
    after = mysql_scratch.contents()
    assert {name: rows for name, rows in after.items() if name in before} == before
