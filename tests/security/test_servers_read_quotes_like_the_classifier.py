"""Invariant 1, at the seam between classifier and server: the classifier's scanner reads
'…\\' strings one way; a server set up differently (PostgreSQL with
standard_conforming_strings off; MySQL with NO_BACKSLASH_ESCAPES or ANSI_QUOTES) would
read the same text another way, and a write could hide in the difference. The connectors
pin those settings on every connection, whatever the server's defaults say."""

import psycopg
import pytest

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import BoundStatement, ConnectorError, QueryLimits
from apps.datasources.connectors.mysql import QUOTING_SQL_MODE
from apps.sqlcore.classification import classify_sql
from tests.support.databases import SOURCE_DB, mysql_root
from tests.support.factories import source_from_server

pytestmark = pytest.mark.django_db

LIMITS = QueryLimits(max_rows=10, timeout_ms=5000)


def read_one(source, sql: str):
    result = connector_for(source, CredentialRole.READ).run_read([BoundStatement(sql)], LIMITS)
    return result.rows[0]


def test_postgresql_reads_backslashes_as_the_classifier_does_even_if_the_database_says_otherwise(postgres_server):
    admin_url = dict(host=postgres_server.host, port=postgres_server.port, user="postgres", autocommit=True)
    with psycopg.connect(dbname="postgres", **admin_url) as admin:
        admin.execute(f"ALTER DATABASE {SOURCE_DB} SET standard_conforming_strings = off")
    try:
        source = source_from_server("pg-quotes", "postgresql", postgres_server)
        sql = "SELECT 'a\\' AS a, 'b' AS b"
        assert classify_sql(sql, "postgresql").is_read
        # With the database default, 'a\' would swallow the rest and the query would fail.
        assert list(read_one(source, sql)) == ["a\\", "b"]
    finally:
        with psycopg.connect(dbname="postgres", **admin_url) as admin:
            admin.execute(f"ALTER DATABASE {SOURCE_DB} RESET standard_conforming_strings")


def test_mysql_reads_backslashes_and_double_quotes_as_the_classifier_does_whatever_the_global_sql_mode(mysql_server):
    root = mysql_root()
    cursor = root.cursor()
    cursor.execute("SELECT @@GLOBAL.sql_mode")
    (saved,) = cursor.fetchone()
    cursor.execute("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES,ANSI_QUOTES')")
    try:
        source = source_from_server("maria-quotes", "mysql", mysql_server)
        sql = "SELECT 'it\\'s' AS a, \"plain\" AS b"
        assert classify_sql(sql, "mysql").is_read
        assert list(read_one(source, sql)) == ["it's", "plain"]
    finally:
        cursor.execute("SET GLOBAL sql_mode = %s", (saved,))
        root.close()


# A combination mode (one name for several flags) puts ANSI_QUOTES back whenever the
# session's mode is set with it still in the list: taking ANSI_QUOTES out is not enough.
COMBINATION_MODES = ["ORACLE", "ANSI", "MSSQL", "DB2", "POSTGRESQL", "MAXDB"]


@pytest.mark.parametrize("mode", COMBINATION_MODES)
def test_the_mysql_quoting_pin_takes_out_combination_modes_that_imply_ansi_quotes(mysql_server, mode):
    root = mysql_root()
    cursor = root.cursor()
    cursor.execute(f"SET SESSION sql_mode = '{mode}'")
    cursor.execute(QUOTING_SQL_MODE)
    cursor.execute('SELECT @@SESSION.sql_mode, "\\"" = \'"\'')
    flags, double_quote_is_a_string = cursor.fetchone()
    root.close()
    assert {"ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", mode}.isdisjoint(flags.split(",")), flags
    assert double_quote_is_a_string == 1


@pytest.mark.parametrize("mode", ["ORACLE", "ANSI"])
def test_a_mysql_read_under_a_combination_global_mode_cannot_hide_code_in_a_string(mysql_server, mode):
    root = mysql_root()
    cursor = root.cursor()
    cursor.execute("SELECT @@GLOBAL.sql_mode")
    (saved,) = cursor.fetchone()
    cursor.execute(f"SET GLOBAL sql_mode = '{mode}'")
    try:
        source = source_from_server("maria-modes", "mysql", mysql_server)
        assert list(read_one(source, "SELECT 'it\\'s' AS a, \"plain\" AS b")) == ["it's", "plain"]
        # One string to the classifier; under ANSI_QUOTES two names and a SLEEP between.
        hidden = 'SELECT 1 AS "\\", SLEEP(1) AS "\\" -- "'
        assert classify_sql(hidden, "mysql").is_read
        with pytest.raises(ConnectorError):
            read_one(source, hidden)
    finally:
        cursor.execute("SET GLOBAL sql_mode = %s", (saved,))
        root.close()
