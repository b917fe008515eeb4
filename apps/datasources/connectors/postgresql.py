"""PostgreSQL through psycopg 3, with a connection pool per source and credentials."""

import hashlib
import re
import secrets
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from itertools import chain, islice
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from apps.datasources.connectors import (
    postgresql_outcome,
    postgresql_prepared,
    postgresql_privileges,
    postgresql_reads,
    postgresql_types,
)
from apps.datasources.connectors.base import (
    AuthenticationFailed,
    BoundStatement,
    ConnectionFailed,
    ConnectionLost,
    ConnectionSettings,
    ConnectionTimedOut,
    Connector,
    ConnectorError,
    CredentialRole,
    CsvStream,
    EarlierResult,
    HiddenCallers,
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
    group_partitions,
    joined_text,
    once_more_if_connection_lost,
    refuse_unsafe_dry_run,
    the_row,
    with_indexes,
)
from apps.datasources.connectors.postgresql_dry_run import unsafe_dry_run_reasons
from apps.datasources.connectors.postgresql_identity import refuse_querybase_database
from apps.datasources.connectors.postgresql_pool import ConnectAttemptFailed, MeteredConnectionPool
from apps.datasources.connectors.privileges import PrivilegeReport
from apps.sqlcore.classification import classify_sql
from apps.sqlcore.function_effects import HARMLESS_VOLATILE_FUNCTIONS
from apps.sqlcore.sqltext import fold_name

# From the catalog rather than information_schema, which has no materialized views,
# names types USER-DEFINED and ARRAY, and lists partitions as plain tables. The rights
# filter is information_schema's: a table shows if the login has any right on a column.
_SCHEMA_SQL = """
SELECT n.nspname, c.relname,
       CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table' ELSE 'table' END,
       a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       parent_namespace.nspname, parent.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_catalog.pg_class parent ON parent.oid = i.inhparent
LEFT JOIN pg_catalog.pg_namespace parent_namespace ON parent_namespace.oid = parent.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
ORDER BY n.nspname, c.relname, a.attnum
"""

# Each index's key columns (or expressions), one row per key position.
_INDEXES_SQL = """
SELECT n.nspname, t.relname, i.relname, ix.indisunique, ix.indisprimary, pg_get_indexdef(ix.indexrelid, k.n, true)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL generate_series(1, ix.indnkeyatts) AS k(n)
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'
ORDER BY n.nspname, t.relname, i.relname, k.n
"""

# Rows fetched per network round trip while streaming (libpq chunked-rows mode).
STREAM_CHUNK_ROWS = 2000
POOL_MAX_SIZE = 4
ATTEMPT_GRACE_SECONDS = 1

_pools: dict[ConnectionSettings, MeteredConnectionPool] = {}
_pools_lock = threading.Lock()
# SQLSTATEs of a session the server ended: admin_shutdown (pg_terminate_backend, a
# fast shutdown), crash_shutdown, cannot_connect_now (starting up or in recovery); the
# connection_exception class (08xxx) counts too (see `_connection_lost`).
_SESSION_ENDED_STATES = {"57P01", "57P02", "57P03"}
# A read's backend id (`new_backend_id`), which becomes its transaction's application_name.
_BACKEND_ID = re.compile(r"querybase-read-[0-9a-f]{16}")


def _configure(connection: psycopg.Connection) -> None:
    postgresql_types.configure_loaders(connection)
    postgresql_prepared.configure(connection)


def _hung_up(connection: psycopg.Connection) -> bool:
    """Whether the server ended this idle pooled connection (restart, failover,
    pg_terminate_backend, idle_session_timeout).

    An idle session has nothing to say, so a readable socket means the server sent its
    goodbye (a FATAL message, then EOF): only then is a round trip spent to be sure.
    Asking every connection with a query would cost a round trip on every read.
    """
    if connection.closed:
        return True
    # poll, not select: a busy process may hold descriptors above select's 1024.
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        ConnectionPool.check_connection(connection)
    except psycopg.Error:
        return True
    return False


def _end_read(connection: psycopg.Connection) -> None:
    """Roll back what a read left open, for the connection's next user. A dead connection,
    or one left in the middle of a command, refuses even this, and that error would hide
    the real one: it is closed instead, and the pool discards it."""
    status = connection.info.transaction_status
    if connection.pgconn.pipeline_status:  # a flight that did not land (postgresql_reads)
        connection.close()
        return
    if status == psycopg.pq.TransactionStatus.IDLE:
        return
    if status in (psycopg.pq.TransactionStatus.INTRANS, psycopg.pq.TransactionStatus.INERROR):
        try:
            connection.rollback()
            return
        except psycopg.Error:
            pass
    connection.close()


def _connection_lost(error: psycopg.Error) -> bool:
    """Whether `error` says the connection died, rather than the statement failing."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state in _SESSION_ENDED_STATES or state.startswith("08")


# A catalog name that may be one of `%s` (folded names): by its ASCII lower case, or any
# name with other letters, which the caller folds and compares itself.
_NAME_MATCHES = "(lower({name}) = ANY(%s) OR octet_length({name}::text) <> length({name}::text))"

# Whether function `{p}` is the system's (made by initdb: oid below FirstNormalObjectId,
# 16384) or an extension's (installed by an admin). Not every function in pg_catalog: a
# superuser may add one there, and a STABLE one taking a lock was trusted for its schema.
_SYSTEMS_FUNCTION = (
    "({p}.oid < 16384 OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend e "
    "WHERE e.classid = 'pg_catalog.pg_proc'::regclass AND e.objid = {p}.oid AND e.deptype = 'e'))"
)
# Whether function `{p}` may change state: VOLATILE or SECURITY DEFINER, unless it is the
# system's (or an extension's) and its name is in the array parameter `{reviewed}`. Or a
# user's function in a procedural language whose body the classifier does not read
# (`function_bodies` reads SQL and PL/pgSQL): PL/Perl, PL/Python, PL/Tcl or PL/v8 run any
# SQL through their language's SPI, whatever the function was declared. (A C function
# takes a superuser to create, like an extension, and is judged by its declaration.)
_UNSAFE_FUNCTION = (
    f"((({{p}}.provolatile = 'v' OR {{p}}.prosecdef) AND NOT (lower({{p}}.proname) = ANY(%({{reviewed}})s) "
    f"AND {_SYSTEMS_FUNCTION})) OR ({{p}}.prolang NOT IN (SELECT l.oid FROM pg_catalog.pg_language l "
    f"WHERE l.lanname IN ('sql', 'plpgsql', 'c', 'internal')) AND NOT {_SYSTEMS_FUNCTION}))"
)
_HARMLESS = sorted(HARMLESS_VOLATILE_FUNCTIONS)
# Relation `{c}` and every partition or inheriting table under it, at any depth: reading a
# table reads them all.
_BELOW = (
    "WITH RECURSIVE below(oid) AS (SELECT {c}.oid UNION SELECT i.inhrelid "
    "FROM pg_catalog.pg_inherits i JOIN below ON i.inhparent = below.oid) SELECT oid FROM below"
)
# Whether foreign data wrapper `w` reads with file_fdw's own handler (the C function in
# file_fdw's library, which only a superuser can declare): a file_fdw table reads a file
# on the server, or runs a program, which the `program` rows refuse. Every other wrapper
# hands the read to code that reaches elsewhere: postgres_fdw runs SQL on another server
# (its views call whatever they call, in a session of its own that our pooled connection
# keeps open, outside our read-only transaction), others a remote database, a web service
# or a command; nothing in this catalog says what happens there. A wrapper without a
# handler cannot be read at all, and is refused with the rest.
_FILE_FDW_HANDLER = (
    "EXISTS (SELECT 1 FROM pg_catalog.pg_proc h WHERE h.oid = w.fdwhandler AND h.prosrc = 'file_fdw_handler' "
    "AND h.probin = '$libdir/file_fdw' AND h.prolang = (SELECT oid FROM pg_catalog.pg_language WHERE lanname = 'c'))"
)
# The functions of the source's own operator families (made by a user or an extension:
# oid past the system's) that reading relation `d.oid` may call without the text naming
# them, each with what uses it: an index scan calls its operator class's support functions
# (a btree's comparison function) and operators, so does pruning the partitions of a
# table partitioned with one, and sorting, grouping or comparing a
# column calls those of its type's default operator class (an array's, its element's).
# `CREATE OPERATOR CLASS` takes a superuser, but its functions may be any user's SQL: a
# comparison function taking pg_try_advisory_lock took it on `SELECT * FROM t WHERE id = 5`.
_OPERATOR_CLASS_CALLS = (
    "SELECT 'its index ' || x.relname || ' (operator class ' || oc.opcname || ')' AS used_by, oc.opcfamily AS family "
    "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class x ON x.oid = i.indexrelid "
    "CROSS JOIN LATERAL unnest(i.indclass::oid[]) k(opclass) JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass "
    "WHERE i.indrelid = d.oid "
    "UNION ALL SELECT 'its partition key (operator class ' || oc.opcname || ')', oc.opcfamily "
    "FROM pg_catalog.pg_partitioned_table pt CROSS JOIN LATERAL unnest(pt.partclass::oid[]) k(opclass) "
    "JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass WHERE pt.partrelid = d.oid "
    # Sorting or comparing a column's values compares the values they hold, at any depth
    # (a composite's fields, an array's elements, a domain's base, a range's bounds), with
    # their types' default operator classes; only types of the source's own can bring one
    # of its own (the system's types have the system's btree and hash classes).
    "UNION ALL SELECT 'its column ' || ty.attname || ' (operator class ' || oc.opcname || ')', oc.opcfamily "
    "FROM (WITH RECURSIVE held(attname, oid) AS (SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a "
    "WHERE a.attrelid = d.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid >= 16384 "
    "UNION SELECT held.attname, c.child FROM held JOIN pg_catalog.pg_type h ON h.oid = held.oid "
    "CROSS JOIN LATERAL (SELECT h.typelem UNION ALL SELECT h.typbasetype UNION ALL SELECT f.atttypid "
    "FROM pg_catalog.pg_attribute f WHERE f.attrelid = h.typrelid AND f.attnum > 0 AND NOT f.attisdropped "
    "UNION ALL SELECT r.rngsubtype FROM pg_catalog.pg_range r WHERE r.rngtypid = h.oid "
    "UNION ALL SELECT r.rngtypid FROM pg_catalog.pg_range r WHERE r.rngmultitypid = h.oid) c(child) "
    "WHERE c.child >= 16384) SELECT * FROM held) ty "
    "CROSS JOIN LATERAL (SELECT o.oid FROM pg_catalog.pg_opclass o WHERE o.opcdefault AND o.opcintype = ty.oid "
    "UNION ALL SELECT r.rngsubopc FROM pg_catalog.pg_range r WHERE r.rngtypid = ty.oid) k(opclass) "
    "JOIN pg_catalog.pg_opclass oc ON oc.oid = k.opclass"
)
# The functions of each operator family: its support functions and its operators'.
_FAMILY_FUNCTIONS = (
    "(SELECT amprocfamily AS family, amproc AS function FROM pg_catalog.pg_amproc "
    "UNION SELECT m.amopfamily, o.oprcode FROM pg_catalog.pg_amop m "
    "JOIN pg_catalog.pg_operator o ON o.oid = m.amopopr)"
)
_OPERATOR_CLASS_CALLS = (
    f"SELECT used.used_by, p.proname::text AS function FROM ({_OPERATOR_CLASS_CALLS}) used "
    "CROSS JOIN LATERAL (SELECT amproc AS function FROM pg_catalog.pg_amproc WHERE amprocfamily = used.family "
    "UNION SELECT o.oprcode FROM pg_catalog.pg_amop m JOIN pg_catalog.pg_operator o ON o.oid = m.amopopr "
    "WHERE m.amopfamily = used.family) f JOIN pg_catalog.pg_proc p ON p.oid = f.function WHERE used.family >= 16384"
)
# Types of the source's own that hold values of other types of its own (a table's row type
# with a column of a domain, a domain over a domain, a range of one, an array of one):
# `'(1)'::t` runs the input, and the checks, of t's fields, though the text names t alone.
# Only parts of the source's own count (oid past the system's), which keeps the answer to
# the few columns of such types, not every column of every table.
_TYPE_PARTS = (
    "SELECT 'type:' || t.typname, 'type:' || p.typname FROM pg_catalog.pg_type t "
    "JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped "
    "JOIN pg_catalog.pg_type p ON p.oid = a.atttypid WHERE t.typtype = 'c' AND p.oid >= 16384 "
    "UNION SELECT 'type:' || t.typname, 'type:' || p.typname FROM pg_catalog.pg_type t "
    "JOIN pg_catalog.pg_type p ON p.oid = t.typbasetype WHERE t.typtype = 'd' AND p.oid >= 16384 "
    "UNION SELECT 'type:' || t.typname, 'type:' || p.typname FROM pg_catalog.pg_type t "
    "JOIN pg_catalog.pg_type p ON p.oid = t.typelem WHERE t.typcategory = 'A' AND p.oid >= 16384 "
    "UNION SELECT 'type:' || t.typname, 'type:' || p.typname FROM pg_catalog.pg_range r "
    "JOIN pg_catalog.pg_type t ON t.oid IN (r.rngtypid, r.rngmultitypid) "
    "JOIN pg_catalog.pg_type p ON p.oid IN (r.rngsubtype, r.rngtypid) AND p.oid <> t.oid AND p.oid >= 16384"
)
# What foreign table `t` is, for the approver: its server and wrapper.
_REMOTE_TABLE = "'a foreign table of the server ' || s.srvname || ' (wrapper ' || w.fdwname || ')'"
# The languages whose bodies the classifier reads (`function_bodies`), and function `{p}`'s
# body text: a SQL-standard body (BEGIN ATOMIC) has no prosrc, only a definition.
_READ_LANGUAGES = "SELECT l.oid FROM pg_catalog.pg_language l WHERE l.lanname IN ('sql', 'plpgsql')"
_BODY = "CASE WHEN coalesce({p}.prosrc, '') = '' THEN pg_catalog.pg_get_functiondef({p}.oid) ELSE {p}.prosrc END"


def _without_jit(connection: psycopg.Connection) -> None:
    """For the rest of this catalog lookup's transaction: the lookups' joins and recursive
    walks over the catalog are estimated far above jit_above_cost, and compiling them took
    half a second (the volatility lookup, 440 ms) to answer in a millisecond."""
    connection.execute("SET LOCAL jit = off")


class PostgreSQLConnector(Connector):
    outcome_markers = postgresql_outcome
    driver_error = psycopg.Error
    engine = "postgresql"
    default_port = 5432
    param_style = ParamStyle.DOLLAR_NUMERIC
    has_volatility_catalog = True
    # Everything is transactional here but transaction control itself (BEGIN, COMMIT, …).
    marker_statement_kinds = frozenset({"read", "dml", "ddl", "dcl", "session", "other"})

    def _connect_kwargs(self) -> dict:
        # standard_conforming_strings is pinned on so the server reads '...\' strings the
        # way the classifier's scanner does (a backslash is not an escape there).
        options = f"-c statement_timeout={self.settings.statement_timeout_ms} -c standard_conforming_strings=on"
        if self.settings.role is CredentialRole.READ:
            # A second wall behind the classifier: every transaction starts read-only.
            options += " -c default_transaction_read_only=on"
        return {
            "host": self.settings.host,
            "port": self.settings.port or self.default_port,
            "dbname": self.settings.database,
            "user": self.settings.username,
            "password": self.settings.password,
            "connect_timeout": self.settings.connect_timeout,
            "application_name": "querybase",
            "options": options,
        }

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        connection = self._attempt_to_connect(self._new_connection)
        try:
            refuse_querybase_database(connection)
            yield connection
        finally:
            connection.close()

    def _new_connection(self) -> psycopg.Connection:
        try:
            return psycopg.connect(**self._connect_kwargs())
        except psycopg.OperationalError as error:
            raise self._translate(error) from error

    def _translate(self, error: psycopg.OperationalError) -> ConnectorError:
        if isinstance(error, psycopg.errors.ConnectionTimeout):
            return self._timed_out()
        message = self.scrub(str(error).strip())
        lowered = message.lower()
        if "password authentication failed" in lowered or "no password supplied" in lowered:
            return AuthenticationFailed(message)
        if "timeout expired" in lowered:
            return ConnectionTimedOut(message)
        return ConnectionFailed(message)

    def server_version(self, connection: psycopg.Connection) -> str:
        return the_row(connection.execute("SHOW server_version").fetchone())[0]

    def schema(self) -> list[Table]:
        self._refuse_if_unanswered()
        with self.connect() as connection:
            try:
                rows = connection.execute(_SCHEMA_SQL).fetchall()
                index_rows = connection.execute(_INDEXES_SQL).fetchall()
            except psycopg.Error as error:
                raise ConnectorError(self.scrub(f"Could not read the schema: {error}")) from error
        parents = {(row[0], row[1]): (row[6], row[7], row[8] or "") for row in rows if row[7] is not None}
        return group_partitions(with_indexes(group_columns(row[:6] for row in rows), index_rows), parents)

    def audit_privileges(self) -> PrivilegeReport:
        with self.connect() as connection:
            try:
                return postgresql_privileges.audit_privileges(connection)
            except psycopg.Error as error:
                raise ConnectorError(self.scrub(f"Could not read the privileges: {error}")) from error

    # Execution -----------------------------------------------------------------------

    def _pool(self) -> MeteredConnectionPool:
        """One pool per distinct set of connection settings (a changed password makes a new
        one). Found by the settings themselves: they are all the connection is made of,
        and hashing them is cheaper than building and digesting the connection's arguments
        on every read."""
        with _pools_lock:
            pool = _pools.get(self.settings)
        if pool is None:
            # Before a pool is made, one direct connection finds out whether the source is
            # QueryBase's own database (`connect` refuses it): its pooled connections reach
            # the same one. Outside the lock: an unreachable source does not hold up the others.
            with self.connect():
                pass
        with _pools_lock:
            pool = _pools.get(self.settings)
            if pool is None:
                kwargs = self._connect_kwargs()
                key = hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()
                pool = MeteredConnectionPool(
                    source=f"{kwargs['host']}:{kwargs['port']}/{kwargs['dbname']}",
                    role=self.settings.role.value,
                    address=self._address(),
                    connect_timeout=self.settings.connect_timeout,
                    kwargs=kwargs,
                    min_size=0,
                    max_size=POOL_MAX_SIZE,
                    configure=_configure,
                    # A caller waits a little longer than the attempt made for it may take,
                    # so it is told that attempt's failure, not a bare PoolTimeout followed
                    # by a whole attempt of its own.
                    timeout=self.settings.connect_timeout + ATTEMPT_GRACE_SECONDS,
                    open=True,
                    name=f"querybase-{key[:8]}",
                )
                _pools[self.settings] = pool
        return pool

    @contextmanager
    def _pooled_connection(self) -> Iterator[psycopg.Connection]:
        self._refuse_if_unanswered()
        pool = self._pool()
        if pool.cannot_connect():
            # The source refused the pool's last attempt: one direct attempt says now
            # whether it is back (the read then goes on that connection), rather than
            # a wait for the pool's next attempt.
            with self._fresh_connection() as connection:
                yield connection
            return
        try:
            connection = self._live_connection(pool)
        except ConnectAttemptFailed as failed:
            raise self._translate(failed.error) from failed
        except PoolTimeout as error:
            # The pool only says it gave up: find out why with one direct attempt.
            self._refuse_if_unanswered()
            with self.connect():
                pass
            raise self._timed_out() from error
        try:
            yield connection
        finally:
            # A connection that died meanwhile is dropped by the pool, not kept.
            pool.putconn(connection)

    @staticmethod
    def _live_connection(pool: ConnectionPool) -> psycopg.Connection:
        """A pooled connection the server has not hung up. A restart ends every pooled
        session at once, so each dead one is closed and given back (the pool then
        discards it) until a live or new one comes."""
        for _ in range(POOL_MAX_SIZE):
            connection = pool.getconn()
            if not _hung_up(connection):
                return connection
            connection.close()
            pool.putconn(connection)
        return pool.getconn()

    @contextmanager
    def _fresh_connection(self) -> Iterator[psycopg.Connection]:
        """A new connection outside the pool, set up like a pooled one."""
        with self.connect() as connection:
            _configure(connection)
            yield connection

    @contextmanager
    def open_read_stream(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None = None,
        *,
        fresh: bool = False,
        text: bool = False,
        backend_id: str | None = None,
        earlier: EarlierResult | None = None,
    ) -> Iterator[RowStream]:
        deadline = ReadDeadline(limits.timeout_ms)
        tag = self._checked_tag(backend_id or self.new_backend_id())
        with self._read_session(fresh=fresh) as connection:
            if on_backend is not None:
                # The session too, for whoever wants to know which one answered.
                on_backend(f"{connection.info.backend_pid}:{tag}")
            # Each statement is one flight: the first opens the read-only transaction with
            # the time limit and the tag, each later one re-arms the limit when due, and
            # the last ends the transaction (postgresql_reads). Repeated parameterised
            # statements run prepared (postgresql_prepared).
            cursor = postgresql_reads.ReadCursor(connection)
            if text:
                # The CSV dialect is PostgreSQL's own text (as COPY writes it): every value
                # is read as that text, with no Python object in between.
                postgresql_types.load_everything_as_text(cursor)
            else:
                postgresql_types.load_texts_for_json(cursor)
            opening = postgresql_reads.Opening(begin=True, timeout_ms=deadline.arm(), tag=tag)
            for index, statement in enumerate(statements[:-1]):
                if index > 0:
                    opening = postgresql_reads.Opening(timeout_ms=deadline.statement_limit_due())
                earlier_rows = cursor.stream(statement.sql, statement.args, size=STREAM_CHUNK_ROWS, opening=opening)
                if earlier is None:
                    for _ in earlier_rows:  # read to the end (see `drain`), and dropped
                        pass
                    continue
                stream = self._row_stream(cursor, earlier_rows, text=False)
                earlier(index, stream)
                drain(stream)
            if len(statements) > 1:
                opening = postgresql_reads.Opening(timeout_ms=deadline.statement_limit_due())
            last = statements[-1]
            raw_rows = cursor.stream(last.sql, last.args, size=STREAM_CHUNK_ROWS, opening=opening, rollback=True)
            try:
                yield self._row_stream(cursor, raw_rows, text=text)
            finally:
                # Stops the server sending the rest when the reader stopped early.
                raw_rows.close()  # type: ignore[attr-defined]  # a generator, typed as an iterator

    @staticmethod
    def _checked_tag(tag: str) -> str:
        if not _BACKEND_ID.fullmatch(tag):
            raise ValueError("not a read's backend id")
        return tag

    @contextmanager
    def _read_session(self, *, fresh: bool) -> Iterator[psycopg.Connection]:
        """A pooled (or, with `fresh`, a new) connection for one read, whatever the read
        leaves open rolled back on exit; database errors become ConnectorError
        (ConnectionLost when the connection died)."""
        with self._fresh_connection() if fresh else self._pooled_connection() as connection:
            try:
                yield connection
            except psycopg.Error as error:
                raise self._query_error(error) from error
            finally:
                _end_read(connection)

    @contextmanager
    def _read_only_transaction(
        self,
        deadline: ReadDeadline,
        on_backend: Callable[[str], None] | None = None,
        *,
        fresh: bool = False,
        tag: str | None = None,
    ) -> Iterator[psycopg.Connection]:
        """A pooled (or, with `fresh`, a new) connection in a read-only transaction with
        what remains of the time limit, rolled back on exit; database errors become
        ConnectorError (ConnectionLost when the connection died)."""
        tag = self._checked_tag(tag or self.new_backend_id())
        with self._read_session(fresh=fresh) as connection:
            # One round trip: BEGIN READ ONLY, then, for this transaction alone, the time
            # limit and the tag (postgresql_reads). The tag names the transaction, not the
            # pooled session, so a late cancel cannot stop the next read on this connection.
            postgresql_reads.ReadCursor(connection).open_read_only(deadline.arm(), tag)
            if on_backend is not None:
                # The session too, for whoever wants to know which one answered.
                on_backend(f"{connection.info.backend_pid}:{tag}")
            yield connection

    @contextmanager
    def server_csv(self, sql: str, limits: QueryLimits) -> Iterator[CsvStream]:
        with ExitStack() as stack:
            yield once_more_if_connection_lost(
                limits,
                lambda attempt_limits, fresh: stack.enter_context(self._copy_csv(sql, attempt_limits, fresh=fresh)),
            )

    @contextmanager
    def _copy_csv(self, sql: str, limits: QueryLimits, *, fresh: bool) -> Iterator[CsvStream]:
        # COPY renders CSV in the server's C code, several times faster than rows
        # converted in Python; the subquery carries the row cap. The newline closes a
        # trailing `--` comment; there is none before the SQL, so that an error's "LINE n"
        # is the user's line n. `sql` is a classified read whose parentheses balance, so
        # it cannot reach outside its parentheses.
        copy_sql = (
            f"COPY (SELECT * FROM ({sql}\n) AS querybase_export LIMIT {int(limits.max_rows)}) "
            "TO STDOUT WITH (FORMAT csv, HEADER true)"
        )
        deadline = ReadDeadline(limits.timeout_ms)
        with (
            self._read_only_transaction(deadline, fresh=fresh) as connection,
            connection.cursor().copy(copy_sql) as copy,
        ):
            lines = self._copy_lines(copy)
            yield CsvStream(header=bytes(next(lines, b"")), rows=lines)
            # A reader that stopped at the cap left COPY's end unread (the LIMIT leaves
            # at most a row more): read it, or the connection stays mid-command.
            for _ in lines:
                pass

    def _copy_lines(self, copy: psycopg.Copy) -> Iterator[bytes]:
        """COPY TO STDOUT sends one message per row (the header first): one bytes each."""
        try:
            # psycopg hands out buffers (bytes or memoryview); consumers only concatenate
            # them, so they pass without a copy each.
            yield from copy  # type: ignore[misc]
        except psycopg.Error as error:
            raise self._query_error(error) from error

    def _row_stream(self, cursor: psycopg.RawCursor, rows: Iterator[tuple], *, text: bool) -> RowStream:
        first = next(rows, None)  # the description is known once the first rows arrive
        # Built anew by psycopg on each access (an object per column): read it once.
        description = cursor.description or []
        columns = self._columns(description)
        if first is None:
            return RowStream(columns=columns, rows=iter(()))
        if text:
            return RowStream(columns=columns, rows=self._translated(chain([first], rows)))
        arrays = postgresql_types.text_array_columns(description, [column.type for column in columns])
        converters = postgresql_types.json_column_converters(description)
        return RowStream(columns=columns, rows=self._json_rows(chain([first], rows), converters, arrays))

    def _columns(self, description: list[psycopg.Column]) -> list[ResultColumn]:
        database = (self.settings.host, self.settings.port, self.settings.database)
        types = postgresql_types.column_type_names(description, database, self.connect)
        return [
            ResultColumn(name=column.name, type=type_name) for column, type_name in zip(description, types, strict=True)
        ]

    def _json_rows(
        self, rows, converters: list[tuple[int, postgresql_types.ColumnConversion]], text_arrays: list[int]
    ) -> Iterator[list]:
        try:
            # A chunk (what one round trip brings) is converted a column at a time.
            while chunk := list(islice(rows, STREAM_CHUNK_ROWS)):
                yield from postgresql_types.json_rows_of_chunk(chunk, converters, text_arrays)
        except psycopg.Error as error:
            raise self._query_error(error) from error

    def _translated(self, rows: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from rows
        except psycopg.Error as error:
            raise self._query_error(error) from error

    def _query_error(self, error: psycopg.Error) -> ConnectorError:
        message = self.scrub(str(error).strip())
        if isinstance(error, psycopg.errors.QueryCanceled):
            if "statement timeout" in message:
                return QueryTimedOut(f"The query ran longer than the time limit: {message}")
            return QueryCancelled(f"The query was cancelled: {message}")
        if isinstance(error, psycopg.errors.ReadOnlySqlTransaction):
            return ReadOnlyViolation(f"PostgreSQL refused a write inside a read: {message}")
        if _connection_lost(error):
            return ConnectionLost(message)
        if "out of memory for query result" in message:
            # libpq could not hold a chunk of rows within the process's memory ceiling
            # (querybase/memory_limit.py): the rows are too large, not the server at fault.
            return QueryFailed(
                "The result's rows are too large for this server to read (its memory limit per process, "
                "QUERYBASE_PROCESS_MEMORY_LIMIT_MB): select fewer rows or only part of their large values."
            )
        prefix = f"[{error.sqlstate}] " if error.sqlstate else ""
        return QueryFailed(f"{prefix}{message}")

    def run_write(
        self,
        statements: list[BoundStatement],
        timeout_ms: int,
        *,
        dry_run: bool = False,
        marker: WriteMarker | None = None,
    ) -> list[int]:
        affected = []
        with self.connect() as connection:
            try:
                with connection.transaction(force_rollback=dry_run):
                    connection.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
                    if dry_run:
                        # Checked in the transaction that runs them: sequences, triggers,
                        # foreign tables, user functions (see postgresql_dry_run).
                        refuse_unsafe_dry_run(unsafe_dry_run_reasons(connection, joined_text(statements)))
                    cursor = psycopg.RawCursor(connection)
                    for statement in statements:
                        cursor.execute(statement.sql, statement.args)
                        affected.append(cursor.rowcount)
                    if marker is not None and not dry_run:
                        postgresql_outcome.record(connection, marker)
            except psycopg.Error as error:
                raise self._query_error(error) from error
        return affected

    def volatile_functions(self, names: list[str], *, reviewed: list[str], attributes: Sequence[str] = ()) -> set[str]:
        # Every overload counts (the text does not say which one runs), and names are
        # compared in lower case, which only ever finds more. SECURITY DEFINER counts as
        # VOLATILE: a STABLE function may still call volatile ones (locks, dblink,
        # signals), and with its owner's rights the reader's least privilege is no limit.
        # So does a function whose argument defaults, or an aggregate whose steps, call
        # such a function (pg_depend records both): the call runs in the caller's query.
        # `attributes` are names written `x.name`, a call only of a one-argument function.
        limits = QueryLimits(max_rows=len(names), timeout_ms=self.settings.statement_timeout_ms)
        return once_more_if_connection_lost(
            limits, lambda again, fresh: self._volatile(names, reviewed, list(attributes), again, fresh)
        )

    def _volatile(
        self, names: list[str], reviewed: list[str], attributes: list[str], limits: QueryLimits, fresh: bool
    ) -> set[str]:
        # A reviewed name is the system's function (pg_catalog) or an extension's; one of
        # the same name made by a user is asked about like any other. `lower()` of a name
        # folds ASCII letters only (pg_proc names are of the C collation), so names with
        # other letters come back whole and are folded here as the classifier folds them.
        unsafe = (
            f"({_UNSAFE_FUNCTION.format(p='p', reviewed='reviewed')} OR EXISTS ("
            "SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_proc q ON q.oid = d.refobjid "
            "WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid "
            "AND d.refclassid = 'pg_catalog.pg_proc'::regclass "
            f"AND {_UNSAFE_FUNCTION.format(p='q', reviewed='harmless')}))"
        )
        with self._read_only_transaction(ReadDeadline(limits.timeout_ms), fresh=fresh) as connection:
            _without_jit(connection)
            rows = connection.execute(
                f"SELECT p.proname::text, {unsafe}, pg_catalog.pg_get_expr(p.proargdefaults, 0) "
                "FROM pg_catalog.pg_proc p "
                "WHERE (lower(p.proname) = ANY(%(names)s) OR octet_length(p.proname::text) <> length(p.proname::text) "
                "OR (lower(p.proname) = ANY(%(attributes)s) AND p.pronargs - p.pronargdefaults <= 1)) "
                f"AND ({unsafe} OR p.pronargdefaults > 0)",
                {"names": names, "attributes": attributes, "reviewed": reviewed, "harmless": _HARMLESS},
            ).fetchall()
        # System functions are pinned, so pg_depend does not say that a default calls one:
        # the defaults are read as the classifier reads a query.
        asked = set(names) | set(attributes)
        return {
            fold_name(name)
            for name, volatile, defaults in rows
            if volatile or (defaults and not classify_sql(f"SELECT {defaults}", "postgresql").is_read)
        } & asked

    def function_bodies(self, names: list[str]) -> dict[str, list[str]]:
        limits = QueryLimits(max_rows=len(names), timeout_ms=self.settings.statement_timeout_ms)
        return once_more_if_connection_lost(limits, lambda again, fresh: self._function_bodies(names, again, fresh))

    def _function_bodies(self, names: list[str], limits: QueryLimits, fresh: bool) -> dict[str, list[str]]:
        # SQL and PL/pgSQL, whose text the classifier reads; a SQL-standard body (BEGIN
        # ATOMIC) has no prosrc and is read from the function's definition. The system's
        # and extensions' functions are judged by the lists and their declarations. An
        # aggregate runs its support functions, so their bodies count as its own; a call
        # leaving arguments out runs their defaults.
        users = f"NOT {_SYSTEMS_FUNCTION.format(p='p')}"
        names_match = _NAME_MATCHES.format(name="p.proname")
        with self._read_only_transaction(ReadDeadline(limits.timeout_ms), fresh=fresh) as connection:
            _without_jit(connection)
            rows = connection.execute(
                f"SELECT p.proname::text, {_BODY.format(p='p')} FROM pg_catalog.pg_proc p "
                f"WHERE p.prolang IN ({_READ_LANGUAGES}) AND p.prokind = 'f' AND {names_match} AND {users} "
                f"UNION ALL SELECT p.proname::text, {_BODY.format(p='s')} FROM pg_catalog.pg_proc p "
                "JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid "
                "JOIN pg_catalog.pg_proc s ON s.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, "
                "a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn) "
                f"WHERE s.prolang IN ({_READ_LANGUAGES}) AND {names_match} "
                f"AND NOT {_SYSTEMS_FUNCTION.format(p='s')} "
                "UNION ALL SELECT p.proname::text, 'SELECT ' || pg_catalog.pg_get_expr(p.proargdefaults, 0) "
                f"FROM pg_catalog.pg_proc p WHERE p.pronargdefaults > 0 AND {names_match} AND {users}",
                [names, names, names],
            ).fetchall()
        bodies: dict[str, list[str]] = {}
        for name, body in rows:
            if fold_name(name) in names and body:
                bodies.setdefault(fold_name(name), []).append(body)
        return bodies

    def hidden_callers(self) -> HiddenCallers:
        limits = QueryLimits(max_rows=10_000, timeout_ms=self.settings.statement_timeout_ms)
        return once_more_if_connection_lost(limits, lambda again, fresh: self._hidden_callers(again, fresh))

    def _hidden_callers(self, limits: QueryLimits, fresh: bool) -> HiddenCallers:
        # Objects users made (oid past the system's), so the system's own never count. Each
        # with its function: one the catalog says may change state, or one of the source's
        # own declared safe, whose body decides (a STABLE PL/pgSQL operator function may
        # still PERFORM pg_advisory_lock).
        unsafe = _UNSAFE_FUNCTION.format(p="f", reviewed="harmless")
        wanted = f"({unsafe} OR (f.prolang IN ({_READ_LANGUAGES}) AND NOT {_SYSTEMS_FUNCTION.format(p='f')}))"
        with self._read_only_transaction(ReadDeadline(limits.timeout_ms), fresh=fresh) as connection:
            _without_jit(connection)
            rows = connection.execute(
                f"SELECT 'operator:' || o.oprname, f.proname::text, {unsafe} FROM pg_catalog.pg_operator o "
                "JOIN pg_catalog.pg_proc f ON f.oid IN (o.oprcode, o.oprrest, o.oprjoin) "
                f"WHERE o.oid >= 16384 AND {wanted} "
                f"UNION ALL SELECT 'type:' || t.typname, f.proname::text, {unsafe} FROM pg_catalog.pg_constraint c "
                "JOIN pg_catalog.pg_type t ON t.oid = c.contypid "
                "JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::regclass AND d.objid = c.oid "
                "AND d.refclassid = 'pg_catalog.pg_proc'::regclass "
                f"JOIN pg_catalog.pg_proc f ON f.oid = d.refobjid WHERE {wanted} "
                # An explicit cast runs where the text names its target type.
                f"UNION ALL SELECT 'type:' || t.typname, f.proname::text, {unsafe} FROM pg_catalog.pg_cast c "
                "JOIN pg_catalog.pg_type t ON t.oid = c.casttarget "
                f"JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc WHERE c.oid >= 16384 AND {wanted} "
                # An implicit or assignment cast runs where no text names its types (a
                # column compared with a value): every read that may use one.
                f"UNION ALL SELECT 'cast:implicit', f.proname::text, {unsafe} FROM pg_catalog.pg_cast c "
                "JOIN pg_catalog.pg_proc f ON f.oid = c.castfunc "
                f"WHERE c.oid >= 16384 AND c.castcontext IN ('i', 'a') AND {wanted} "
                # A type's input functions run on its literals.
                f"UNION ALL SELECT 'type:' || t.typname, f.proname::text, {unsafe} FROM pg_catalog.pg_type t "
                "JOIN pg_catalog.pg_proc f ON f.oid IN (t.typinput, t.typreceive, t.typmodin) "
                f"WHERE t.oid >= 16384 AND {wanted} "
                # A range's input compares its bounds with its subtype's operator class
                # (`'[1,5]'::r` called a comparison function of the source's own), and
                # its difference and canonical functions run on its values.
                f"UNION ALL SELECT 'type:' || t.typname, f.proname::text, {unsafe} FROM pg_catalog.pg_range r "
                "JOIN pg_catalog.pg_type t ON t.oid = r.rngtypid JOIN pg_catalog.pg_opclass oc ON oc.oid = r.rngsubopc "
                f"JOIN {_FAMILY_FUNCTIONS} ff ON ff.family = oc.opcfamily "
                "JOIN pg_catalog.pg_proc f ON f.oid = ff.function "
                f"WHERE oc.opcfamily >= 16384 AND {wanted} "
                f"UNION ALL SELECT 'type:' || t.typname, f.proname::text, {unsafe} FROM pg_catalog.pg_range r "
                "JOIN pg_catalog.pg_type t ON t.oid = r.rngtypid "
                f"JOIN pg_catalog.pg_proc f ON f.oid IN (r.rngsubdiff, r.rngcanonical) WHERE {wanted}",
                {"harmless": _HARMLESS},
            ).fetchall()
            checks = connection.execute(
                "SELECT 'type:' || t.typname, pg_catalog.pg_get_expr(c.conbin, 0) FROM pg_catalog.pg_constraint c "
                "JOIN pg_catalog.pg_type t ON t.oid = c.contypid WHERE c.contype = 'c'"
            ).fetchall()
            parts = connection.execute(_TYPE_PARTS).fetchall()
        found: dict[str, str] = {}
        declared_safe: dict[str, set[str]] = {}
        for key, function, is_unsafe in rows:
            if is_unsafe:
                why = f"calls {function}(), which the source's catalog says may change state"
                found.setdefault(fold_name(key), why)
            else:
                declared_safe.setdefault(fold_name(key), set()).add(fold_name(function))
        # A check calling a system function has no pg_depend row (those are pinned).
        for key, check in checks:
            classification = classify_sql(f"SELECT {check}", "postgresql")
            if not classification.is_read:
                found.setdefault(fold_name(key), "checks its values with a call that is not a read")
        holds: dict[str, set[str]] = {}
        for container, part in parts:
            holds.setdefault(fold_name(container), set()).add(fold_name(part))
        return HiddenCallers(
            unsafe=found,
            declared_safe={key: frozenset(names) for key, names in declared_safe.items()},
            parts={key: frozenset(names) for key, names in holds.items()},
        )

    def view_definitions(self, names: list[str]) -> RelationDefinitions:
        limits = QueryLimits(max_rows=len(names), timeout_ms=self.settings.statement_timeout_ms)
        return once_more_if_connection_lost(limits, lambda again, fresh: self._view_definitions(names, again, fresh))

    def _view_definitions(self, names: list[str], limits: QueryLimits, fresh: bool) -> RelationDefinitions:
        # Every view of the name but the system's own (made by initdb, which are trusted as
        # the reviewed functions are; information_schema is a schema like any other, where a
        # superuser may add one): the text does not say which one the search path finds.
        # A table's row security policies run on every read of it too, as a view's query,
        # and a file_fdw foreign table with a `program` (or a partition or inheriting table
        # of the one read) runs it in the server's shell. Any other foreign table is read by
        # its wrapper, elsewhere (`_REMOTE_TABLE`).
        names_match = _NAME_MATCHES.format(name="c.relname")
        with self._read_only_transaction(ReadDeadline(limits.timeout_ms), fresh=fresh) as connection:
            _without_jit(connection)
            rows = connection.execute(
                "SELECT c.relname::text, 'query', pg_catalog.pg_get_viewdef(c.oid), NULL FROM pg_catalog.pg_class c "
                f"WHERE c.relkind = 'v' AND {names_match} "
                "AND c.oid >= 16384 "
                "UNION ALL SELECT c.relname::text, 'query', "
                "'SELECT ' || pg_catalog.pg_get_expr(p.polqual, p.polrelid), NULL "
                "FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid "
                f"WHERE p.polqual IS NOT NULL AND {names_match} "
                # Reading a table reads its partitions and inheriting tables too.
                "UNION ALL SELECT c.relname::text, 'program', o.option_value, NULL FROM pg_catalog.pg_class c "
                f"CROSS JOIN LATERAL ({_BELOW.format(c='c')}) d "
                "JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = d.oid "
                "CROSS JOIN LATERAL pg_catalog.pg_options_to_table(f.ftoptions) o "
                f"WHERE o.option_name = 'program' AND {names_match} "
                f"UNION ALL SELECT c.relname::text, 'remote', {_REMOTE_TABLE}, t.relname::text "
                "FROM pg_catalog.pg_class c "
                f"CROSS JOIN LATERAL ({_BELOW.format(c='c')}) d "
                "JOIN pg_catalog.pg_class t ON t.oid = d.oid "
                "JOIN pg_catalog.pg_foreign_table f ON f.ftrelid = t.oid "
                "JOIN pg_catalog.pg_foreign_server s ON s.oid = f.ftserver "
                "JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw "
                f"WHERE NOT {_FILE_FDW_HANDLER} AND {names_match} "
                f"UNION ALL SELECT c.relname::text, 'operator class', u.used_by, u.function FROM pg_catalog.pg_class c "
                f"CROSS JOIN LATERAL ({_BELOW.format(c='c')}) d CROSS JOIN LATERAL ({_OPERATOR_CLASS_CALLS}) u "
                f"WHERE {names_match}",
                [names, names, names, names, names],
            ).fetchall()
        found = RelationDefinitions()
        for name, kind, text, detail in rows:
            if fold_name(name) not in names:
                continue
            if kind == "remote":
                found.remote.setdefault(fold_name(name), []).append(RemoteTable(fold_name(detail), text))
            elif kind == "operator class":
                found.operator_class_calls.setdefault(fold_name(name), []).append((fold_name(detail), text))
            else:
                kept = found.programs if kind == "program" else found.queries
                kept.setdefault(fold_name(name), []).append(text or "")
        return found

    @classmethod
    def new_backend_id(cls) -> str:
        """The read's transaction tag (its application_name while it runs): random, so
        it names one read, and known before the read, so its run records it as it is made."""
        return f"querybase-read-{secrets.token_hex(8)}"

    def cancel(self, backend_id: str) -> bool:
        # The tag alone (`new_backend_id`), or "pid:tag" as `on_backend` reports it.
        tag = backend_id.rsplit(":", 1)[-1]
        with self.connect() as connection:
            signalled = connection.execute(
                "SELECT bool_or(pg_cancel_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND state = 'active' AND pid <> pg_backend_pid()",
                [tag],
            ).fetchone()
        return bool(signalled and signalled[0])


def publish_pool_stats() -> None:
    """Refresh the gauges of this process's pools (the metrics endpoint calls it)."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.publish_stats()
