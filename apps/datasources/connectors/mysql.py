"""MySQL and MariaDB through mysqlclient."""

import errno
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from itertools import chain

import MySQLdb
import MySQLdb.cursors
from MySQLdb.constants import FIELD_TYPE

from apps.datasources.connectors import mariadb_metadata, mysql_outcome, mysql_privileges, mysql_types
from apps.datasources.connectors.base import (
    AuthenticationFailed,
    BoundStatement,
    ConnectionFailed,
    ConnectionLost,
    Connector,
    ConnectorError,
    EarlierResult,
    ParamStyle,
    QueryCancelled,
    QueryFailed,
    QueryLimits,
    QueryTimedOut,
    ReadDeadline,
    ReadOnlyViolation,
    RelationDefinitions,
    RemoteTable,
    ResultColumn,
    RowStream,
    Table,
    WriteMarker,
    drain,
    group_columns,
    joined_text,
    refuse_unsafe_dry_run,
    with_indexes,
)
from apps.datasources.connectors.mysql_dry_run import unsafe_dry_run_reasons
from apps.datasources.connectors.privileges import PrivilegeReport
from apps.datasources.connectors.values import ColumnConversion, converted_block

# Client error numbers (errmsg.h / mysqld_error.h) that we translate.
_ACCESS_DENIED = {1044, 1045, 1698}
# The client gave up waiting (the system error ETIMEDOUT): to connect, "Can't connect … (110)"
# (2002), or for the server's greeting, "Lost connection … system error: 110" (2013). The
# same errors with another system error (a connection closed at once) are a refusal.
_NO_ANSWER = re.compile(rf"(?:\(|system error: ){errno.ETIMEDOUT}\)?$|timed out", re.IGNORECASE)
_READ_ONLY = {1792}  # cannot execute statement in a READ ONLY transaction
_STATEMENT_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_INTERRUPTED = {1317}  # KILL QUERY
# Server gone away, lost during a query, MariaDB's "connection was killed" (KILL), MySQL's
# "disconnected by the server", the server shutting down.
_CONNECTION_LOST = {2006, 2013, 1927, 4031, 1053}
_SCHEMA_SQL = """
SELECT c.TABLE_SCHEMA, c.TABLE_NAME,
       CASE WHEN t.TABLE_TYPE = 'VIEW' THEN 'view' ELSE 'table' END,
       c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES'
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = DATABASE()
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION
"""

# Each index's columns in key order (an expression index has NULL for its expression).
_INDEXES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE = 0, INDEX_NAME = 'PRIMARY', COLUMN_NAME
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX
"""


# The session's sql_mode without the flags that change quoting, nor the combination modes
# that imply them: with ORACLE (ANSI, MSSQL, DB2, POSTGRESQL, MAXDB) left in the list the
# server put ANSI_QUOTES back, "…" was a name again, and `SELECT 1 AS "\", SLEEP(1) AS
# "\" -- "`, one string to the classifier, slept. Flags are taken out whole (ANSI is a
# prefix of ANSI_QUOTES), between the commas of the list.
_QUOTING_MODES = "ANSI_QUOTES|NO_BACKSLASH_ESCAPES|ANSI|ORACLE|MSSQL|DB2|POSTGRESQL|MAXDB|MYSQL323|MYSQL40"
QUOTING_SQL_MODE = (
    "SET SESSION sql_mode = TRIM(BOTH ',' FROM REGEXP_REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), "
    f"',(?:{_QUOTING_MODES})(?=,)', ''))"
)


# Storage engines that keep a table's rows on this server and read them without running
# anything: a read of a table of any other engine is not vouched for. FEDERATED and
# FederatedX run a SELECT on another server (with the login the table's CONNECTION names,
# whose views and functions may SET GLOBAL there, as a read of ours here did), Spider and
# CONNECT's MYSQL/ODBC/JDBC tables likewise, SphinxSE connects to a search daemon, S3
# fetches from a bucket; an engine this list has not heard of (or one whose plugin is not
# loaded, so the server cannot say) is refused with them, and is added here once reviewed.
# MRG_MyISAM merges MyISAM tables of this server; SEQUENCE (`seq_1_to_10`) makes its rows.
LOCAL_ENGINES = frozenset(
    {
        "INNODB",
        "ARIA",
        "MYISAM",
        "MEMORY",
        "HEAP",
        "CSV",
        "ARCHIVE",
        "BLACKHOLE",
        "MRG_MYISAM",
        "SEQUENCE",
        "PERFORMANCE_SCHEMA",
        "TEMPTABLE",
    }
)
_LOCAL_ENGINES_SQL = ", ".join(f"'{engine}'" for engine in sorted(LOCAL_ENGINES))


def _is_mariadb(connection: MySQLdb.Connection) -> bool:
    return "mariadb" in connection.get_server_info().lower()


class MySQLConnector(Connector):
    outcome_markers = mysql_outcome
    driver_error = MySQLdb.Error
    engine = "mysql"
    default_port = 3306
    param_style = ParamStyle.FORMAT
    has_volatility_catalog = True  # information_schema.ROUTINES (`volatile_functions`)
    # DDL, SET autocommit and transaction control commit by themselves: only DML (and
    # reads) leave one transaction that a marker can vouch for.
    marker_statement_kinds = frozenset({"read", "dml"})

    def _connect_kwargs(self) -> dict:
        timeout = self.settings.connect_timeout
        return {
            "host": self.settings.host,
            "port": self.settings.port or self.default_port,
            "user": self.settings.username,
            "password": self.settings.password,
            "database": self.settings.database,
            "connect_timeout": timeout,
            # Bound every read of the socket too, so a server that accepts the TCP
            # connection but never speaks cannot hang us.
            "read_timeout": max(timeout, self.settings.statement_timeout_ms // 1000 + timeout),
            "charset": "utf8mb4",
            "autocommit": False,
            # Strings are read the way the classifier's scanner reads them: backslash
            # escapes on, "…" a string, whatever the server's default sql_mode says.
            "init_command": QUOTING_SQL_MODE,
        }

    def connect(self) -> AbstractContextManager[MySQLdb.Connection]:
        return self._connected(self._connect_kwargs())

    def _read_connection(self) -> AbstractContextManager[MySQLdb.Connection]:
        """A connection for one read, which sends nothing of its own once logged in: the
        read's first SET sets the quoting mode with the rest of the session
        (`_read_session_sql`), and autocommit is left as the server has it, since the
        read runs in a transaction it starts itself and the connection is closed after
        it, which rolls it back. Two round trips less than `connect`."""
        kwargs = self._connect_kwargs()
        del kwargs["init_command"]
        return self._connected({**kwargs, "autocommit": None})

    @contextmanager
    def _connected(self, kwargs: dict) -> Iterator[MySQLdb.Connection]:
        connection = self._attempt_to_connect(lambda: self._new_connection(kwargs))
        try:
            yield connection
        finally:
            connection.close()

    def _new_connection(self, kwargs: dict) -> MySQLdb.Connection:
        try:
            return MySQLdb.connect(**kwargs)
        except MySQLdb.OperationalError as error:
            raise self._translate(error) from error

    def _translate(self, error: MySQLdb.OperationalError) -> ConnectorError:
        number = error.args[0] if error.args else None
        message = self.scrub(str(error.args[1]) if len(error.args) > 1 else str(error))
        if number in _ACCESS_DENIED:
            return AuthenticationFailed(f"[{number}] {message}")
        if _NO_ANSWER.search(message):
            return self._timed_out()
        return ConnectionFailed(f"[{number}] {message}" if number else message)

    def server_version(self, connection: MySQLdb.Connection) -> str:
        return connection.get_server_info()

    def schema(self) -> list[Table]:
        self._refuse_if_unanswered()
        with self.connect() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(_SCHEMA_SQL)
                rows = cursor.fetchall()
                cursor.execute(_INDEXES_SQL)
                index_rows = cursor.fetchall()
            except MySQLdb.Error as error:
                raise ConnectorError(self.scrub(f"Could not read the schema: {error}")) from error
            finally:
                cursor.close()
        return with_indexes(group_columns(rows), index_rows)

    def audit_privileges(self) -> PrivilegeReport:
        with self.connect() as connection:
            try:
                return mysql_privileges.audit_privileges(connection)
            except MySQLdb.Error as error:
                raise ConnectorError(self.scrub(f"Could not read the privileges: {error}")) from error

    # Execution -----------------------------------------------------------------------

    @contextmanager
    def open_read_stream(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None = None,
        *,
        fresh: bool = False,
        text: bool = False,
        backend_id: str | None = None,  # never given: new_backend_id is None (a thread id)
        earlier: EarlierResult | None = None,
    ) -> Iterator[RowStream]:
        self._refuse_if_unanswered()
        deadline = ReadDeadline(limits.timeout_ms)
        # mysqlclient has no pool, so every read has a fresh connection; one per read also
        # means an early stop just closes it, instead of draining an unbuffered result.
        with self._read_connection() as connection:
            if on_backend is not None:
                on_backend(str(connection.thread_id()))
            # Decimals, dates and times arrive as the server's text (mysql_types): the
            # connection is this read's alone, so nothing else sees the change.
            connection.converter = mysql_types.json_conversions(connection.converter)
            try:
                setup = connection.cursor()
                for sql in self._read_session_sql(connection, deadline):
                    setup.execute(sql)
                for index, statement in enumerate(statements[:-1]):
                    self._arm(connection, setup, deadline)
                    if earlier is None:
                        setup.execute(statement.sql, statement.args)
                        setup.fetchall()
                        continue
                    self._stream_earlier(connection, statement, index, earlier)
                self._arm(connection, setup, deadline)
                setup.close()
                if text:  # the CSV export's last statement: its text as the dialect spells it
                    connection.converter = mysql_types.csv_conversions(connection.converter)
                # Unbuffered: rows come from the server as they are read, memory stays flat.
                cursor = connection.cursor(MySQLdb.cursors.SSCursor)
                last = statements[-1]
                cursor.execute(last.sql, last.args)
                yield self._row_stream(cursor, text=text)
            except MySQLdb.Error as error:
                raise self._query_error(error) from error

    def _stream_earlier(
        self, connection: MySQLdb.Connection, statement: BoundStatement, index: int, earlier: EarlierResult
    ) -> None:
        """An earlier statement's rows, unbuffered like the last one's, read to the end."""
        cursor = connection.cursor(MySQLdb.cursors.SSCursor)
        try:
            cursor.execute(statement.sql, statement.args)
            stream = self._row_stream(cursor, text=False)
            earlier(index, stream)
            drain(stream)
        finally:
            cursor.close()

    def _read_session_sql(self, connection: MySQLdb.Connection, deadline: ReadDeadline) -> list[str]:
        # A read-only session also refuses DDL, which would otherwise commit implicitly
        # and escape the transaction. The quoting mode (see `_connect_kwargs`), the time
        # limit and the read-only mode are one SET, one round trip, before any statement
        # of the user's: read-only is the variable SET SESSION TRANSACTION READ ONLY sets,
        # named tx_read_only by MariaDB and transaction_read_only by MySQL; a server that
        # knew neither would refuse the SET, and so the read.
        read_only = "tx_read_only" if _is_mariadb(connection) else "transaction_read_only"
        return [
            f"{QUOTING_SQL_MODE}, {self._timeout_assignment(connection, deadline.arm())}, SESSION {read_only} = 1",
            "START TRANSACTION READ ONLY",
        ]

    def _arm(self, connection: MySQLdb.Connection, cursor, deadline: ReadDeadline) -> None:
        """Give the next statement only the time the whole read has left."""
        limit_ms = deadline.statement_limit_due()
        if limit_ms is not None:
            cursor.execute(self._timeout_sql(connection, limit_ms))

    def _timeout_sql(self, connection: MySQLdb.Connection, timeout_ms: int) -> str:
        return f"SET {self._timeout_assignment(connection, timeout_ms)}"

    def _timeout_assignment(self, connection: MySQLdb.Connection, timeout_ms: int) -> str:
        if _is_mariadb(connection):
            return f"SESSION max_statement_time = {timeout_ms / 1000:.3f}"
        return f"SESSION max_execution_time = {int(timeout_ms)}"

    def _row_stream(self, cursor, *, text: bool) -> RowStream:
        description = cursor.description or ()
        # MariaDB's own name where its metadata gives one (INET6 and UUID are CHAR on the
        # wire, POINT is GEOMETRY), else the name of the protocol's type code.
        named = mariadb_metadata.data_type_names(cursor)
        documents = mariadb_metadata.json_columns(cursor) | {
            index for index, column in enumerate(description) if column[1] == FIELD_TYPE.JSON
        }
        # The first rows come before the column types: they say whether a string column
        # holds text or bytes.
        first = self._fetch(cursor)
        flags = getattr(cursor, "description_flags", None) or (0,) * len(description)
        columns = [
            ResultColumn(
                name=column[0], type=named.get(index) or mysql_types.type_name(index, column[1], flag, documents, first)
            )
            for index, (column, flag) in enumerate(zip(description, flags, strict=True))
        ]
        if text:
            converters = mysql_types.csv_converters(description, columns, flags, documents)
            plain: frozenset[int] = frozenset()
        else:
            converters = mysql_types.json_column_converters(description, documents)
            plain = mysql_types.plain_columns(description, documents)
        # Blocks of rows, flattened by C code (chain): no Python step per row.
        rows = chain.from_iterable(self._blocks(cursor, first, converters))
        return RowStream(columns=columns, rows=rows, plain_columns=plain)

    def _fetch(self, cursor) -> list:
        try:
            return list(cursor.fetchmany(1000))
        except MySQLdb.Error as error:
            raise self._query_error(error) from error

    def _blocks(self, cursor, chunk: list, converters: list[tuple[int, ColumnConversion]]) -> Iterator[Sequence]:
        """Fetched chunks of rows (the driver's tuples), with only the columns whose values
        need it converted (JSON values, or the CSV dialect's text), a column of a chunk at
        a time (values.converted_block): Python code runs per value of those columns,
        never per row."""
        while chunk:
            yield converted_block(chunk, converters)
            chunk = self._fetch(cursor)

    def _query_error(self, error: MySQLdb.Error) -> ConnectorError:
        number = error.args[0] if error.args else None
        message = self.scrub(str(error.args[1]) if len(error.args) > 1 else str(error))
        if number in _STATEMENT_TIMEOUT:
            return QueryTimedOut(f"The query ran longer than the time limit: {message}")
        if number in _INTERRUPTED:
            return QueryCancelled(f"The query was cancelled: {message}")
        if number in _READ_ONLY:
            return ReadOnlyViolation(f"MySQL refused a write inside a read: {message}")
        if number in _CONNECTION_LOST:
            return ConnectionLost(f"[{number}] {message}")
        return QueryFailed(f"[{number}] {message}" if number else message)

    def run_write(
        self,
        statements: list[BoundStatement],
        timeout_ms: int,
        *,
        dry_run: bool = False,
        marker: WriteMarker | None = None,
    ) -> list[int]:
        """Note: MySQL commits implicitly before and after DDL, so a script mixing DDL
        and DML is only partly transactional; dry-runs are refused for it upstream."""
        affected = []
        with self.connect() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(self._timeout_sql(connection, timeout_ms))
                if dry_run:
                    # Rolling back does not undo changes to MyISAM/Aria/MEMORY tables, nor
                    # AUTO_INCREMENT counters: a "dry" run against them would write for real.
                    refuse_unsafe_dry_run(unsafe_dry_run_reasons(cursor, joined_text(statements)))
                cursor.execute("START TRANSACTION")
                for statement in statements:
                    cursor.execute(statement.sql, statement.args)
                    affected.append(cursor.rowcount)
                if marker is not None and not dry_run:
                    mysql_outcome.record(cursor, marker)
                if dry_run:
                    connection.rollback()
                else:
                    connection.commit()
            except MySQLdb.Error as error:
                connection.rollback()
                raise self._query_error(error) from error
        return affected

    def volatile_functions(self, names: list[str], *, reviewed: list[str], attributes: Sequence[str] = ()) -> set[str]:
        """The stored functions among `names` that may act beyond the read: MySQL has no
        VOLATILE, so a function counts as one unless its author declared it DETERMINISTIC,
        not MODIFIES SQL DATA, and SQL SECURITY INVOKER. A function runs with its definer's
        rights by default, and from inside a read-only transaction such a function can
        still take user locks or SET GLOBAL: the reader's least privilege does not cover
        it. Names are matched in every schema, which only ever finds more. A stored function
        is never the system's, so `reviewed` names are asked like the rest.

        Nor can a function whose body this login may not see be vouched for: the server
        shows ROUTINE_DEFINITION only to the definer and to readers of mysql.proc
        (MariaDB) or holders of SHOW_ROUTINE (MySQL), and a harmless-looking INVOKER
        function may call a definer's that sets a GLOBAL. Granting the read login that
        right lets such a function be judged by its body (`function_bodies`)."""
        # Procedures are asked with the functions: a function's body may CALL one, with its
        # definer's rights (a definer's procedure set a GLOBAL from an INVOKER function
        # declared NO SQL), and a name the text calls as a function finds only more.
        # Asked before each read: a host that does not answer is told at once, as by the read.
        self._refuse_if_unanswered()
        # The names asked come back as asked: the catalog compares in its collation (as the
        # server finds a function: accents and case aside), so what matched may be spelt
        # otherwise.
        sql = (
            f"SELECT asked.position FROM ({_asked_names(names)}) AS asked WHERE EXISTS ("
            "SELECT 1 FROM information_schema.ROUTINES r "
            "WHERE LOWER(r.ROUTINE_NAME) COLLATE utf8mb3_general_ci = LOWER(asked.name) "
            "AND (r.IS_DETERMINISTIC <> 'YES' OR r.SQL_DATA_ACCESS = 'MODIFIES SQL DATA' "
            "OR r.SECURITY_TYPE <> 'INVOKER' OR r.ROUTINE_DEFINITION IS NULL))"
        )
        return {names[row[0]] for row in self._catalog_rows(sql, names, "the function catalog")}

    def function_bodies(self, names: list[str]) -> dict[str, list[str]]:
        """ROUTINE_DEFINITION is NULL to a login that is neither the definer nor allowed
        to read mysql.proc: `volatile_functions` has already refused such a function (or
        procedure: those are read too, as a body may CALL one)."""
        self._refuse_if_unanswered()
        sql = (
            f"SELECT asked.position, r.ROUTINE_DEFINITION FROM ({_asked_names(names)}) AS asked "
            "JOIN information_schema.ROUTINES r "
            "ON LOWER(r.ROUTINE_NAME) COLLATE utf8mb3_general_ci = LOWER(asked.name)"
        )
        bodies: dict[str, list[str]] = {}
        for position, body in self._catalog_rows(sql, names, "the function bodies"):
            if body:
                bodies.setdefault(names[position], []).append(body)
        return bodies

    def view_definitions(self, names: list[str]) -> RelationDefinitions:
        """Views of the system schemas are the server's own and trusted like its functions:
        those the server's own account defines in `mysql` and `sys` (information_schema and
        performance_schema hold none). Any other there is judged like the rest: root may
        add one to `sys`, and one over a definer's function set a GLOBAL from a read.
        Names compare without case, though table names have it on most file systems:
        that only finds more.
        A definition this login may not see (no SHOW VIEW) comes back empty, which the
        caller cannot vouch for. A table of an engine not known to keep its rows on this
        server (`LOCAL_ENGINES`) comes back as `remote`, in the same round trip; only its
        ENGINE is asked, which the server reads from the table's definition without
        opening it (a FEDERATED table's TABLE_ROWS would connect to its remote server)."""
        self._refuse_if_unanswered()
        sql = (
            f"SELECT asked.position, 'query', v.VIEW_DEFINITION FROM ({_asked_names(names)}) AS asked "
            "JOIN information_schema.VIEWS v ON LOWER(v.TABLE_NAME) COLLATE utf8mb3_general_ci = LOWER(asked.name) "
            "WHERE NOT (v.TABLE_SCHEMA IN ('mysql', 'sys') "
            "AND v.DEFINER IN ('mariadb.sys@localhost', 'mysql.sys@localhost')) "
            f"UNION ALL SELECT asked.position, 'engine', t.ENGINE FROM ({_asked_names(names)}) AS asked "
            "JOIN information_schema.TABLES t ON LOWER(t.TABLE_NAME) COLLATE utf8mb3_general_ci = LOWER(asked.name) "
            "WHERE t.TABLE_TYPE NOT IN ('VIEW', 'SYSTEM VIEW') "
            f"AND (t.ENGINE IS NULL OR UPPER(t.ENGINE) NOT IN ({_LOCAL_ENGINES_SQL}))"
        )
        found = RelationDefinitions()
        for position, kind, text in self._catalog_rows(sql, names + names, "the view definitions"):
            name = names[position]
            if kind == "engine":
                what = f"a table of the {text} engine" if text else "a table whose engine this server has not loaded"
                found.remote.setdefault(name, []).append(RemoteTable(name, what))
            else:
                found.queries.setdefault(name, []).append(text or "")
        return found

    def _catalog_rows(self, sql: str, args: list[str], what: str) -> list[tuple]:
        with self.connect() as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
            except MySQLdb.Error as error:
                raise ConnectorError(self.scrub(f"Could not read {what}: {error}")) from error
            finally:
                cursor.close()

    def cancel(self, backend_id: str) -> bool:
        with self.connect() as connection:
            cursor = connection.cursor()
            # A session between statements has nothing to stop yet: say so, and the caller
            # tries again. Each read has a connection of its own, so the id is the read's.
            cursor.execute(
                "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s AND COMMAND = 'Query'", [int(backend_id)]
            )
            if cursor.fetchone() is None:
                return False
            try:
                cursor.execute(f"KILL QUERY {int(backend_id)}")
            except MySQLdb.OperationalError:
                return False  # the session is gone: nothing left to stop
            return True


def _asked_names(names: list[str]) -> str:
    """A derived table of `names` (one `%s` each, in the catalog's character set) and
    their positions, by which the answer names them."""
    return " UNION ALL ".join(
        f"SELECT {position} AS position, CONVERT(%s USING utf8mb3) AS name" for position in range(len(names))
    )
