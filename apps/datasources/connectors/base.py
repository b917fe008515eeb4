"""The connector interface every engine implements, and the values it returns."""

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from types import ModuleType
from typing import Any, TypeVar

from django.conf import settings

from apps.datasources.connectors.privileges import PrivilegeReport
from apps.datasources.connectors.unanswered import UNANSWERED, Address
from apps.sqlcore.statements import BoundStatement, ParamStyle
from querybase.errors import QueryBaseError

logger = logging.getLogger(__name__)
T = TypeVar("T")
C = TypeVar("C")


class CredentialRole(StrEnum):
    """Which credentials a connection uses: the least-privilege read ones, or the owner's."""

    READ = "read"
    OWNER = "owner"


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to open a connection. Built from a DataSource; holds the
    plaintext password, so it is never logged, serialised or cached."""

    host: str
    port: int | None
    database: str
    username: str
    password: str = field(repr=False)
    role: CredentialRole
    connect_timeout: int
    statement_timeout_ms: int


class ConnectorError(QueryBaseError):
    """A failure talking to a data source, with a stable code and a message safe to show."""

    code = "datasource_error"

    def __init__(self, message: str):
        super().__init__(message)

    @property
    def message_for_admins(self) -> str:
        """What those who administer sources are told ("Test connection")."""
        return self.message


class ConnectionProblem(ConnectorError):
    """The server could not be reached, did not answer, refused the login or dropped the
    connection: a fault of the connection, not of the SQL. Users are told the kind of
    failure alone (`said`, one sentence per class): the driver's text names the server's
    host, port, database and login, which only those who administer sources see ("Test
    connection", `message_for_admins`) and the server's log, written here, under the
    request's id, so every such failure is logged once, where it is made."""

    said = "The data source could not be reached."

    def __init__(self, detail: str, *, said: str | None = None):
        super().__init__(said or self.said)
        self.detail = detail
        logger.warning("data source connection failed (%s): %s", self.code, detail)

    @property
    def message_for_admins(self) -> str:
        return f"{self.message} ({self.detail})"


class ConnectionFailed(ConnectionProblem):
    code = "connection_failed"
    said = "The data source could not be reached, or refused the connection."


class ConnectionLost(ConnectionFailed):
    """A connection that was open died under a read: the server restarted or failed over,
    or an admin ended the session. The read itself is not at fault, so it may be run
    again on a fresh connection (see `once_more_if_connection_lost`)."""

    code = "connection_lost"
    said = "The connection to the data source was lost."


class AuthenticationFailed(ConnectionProblem):
    """The source refused QueryBase's credentials (not the user's login to QueryBase,
    which is `authentication_failed`, 401)."""

    code = "datasource_authentication_failed"
    said = (
        "The data source refused QueryBase's login (its credentials are wrong or were changed); "
        "an administrator can check them with Test connection."
    )


class ConnectionTimedOut(ConnectionProblem):
    code = "connection_timeout"
    said = "The data source did not answer in time."


class InvalidConfiguration(ConnectorError):
    code = "invalid_configuration"


class QueryBaseOwnDatabase(ConnectorError):
    """The source is one of QueryBase's own databases, which it never serves (a refusal,
    not a fault of the source: callers pass it on as it is)."""

    code = "querybase_database"


class QueryFailed(ConnectorError):
    """The database refused or failed the statement; the message is the database's own."""

    code = "query_failed"


class ReadOnlyViolation(QueryFailed):
    """A write reached the database inside a read: the read-only transaction refused it."""

    code = "read_only_violation"


class QueryTimedOut(ConnectorError):
    code = "query_timeout"


class QueryCancelled(ConnectorError):
    code = "query_cancelled"


class DryRunUnsafe(ConnectorError):
    """The engine cannot undo these statements, so a dry-run would really write."""

    code = "dry_run_unsafe"

    def __init__(self, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = reasons or [message]


def refuse_unsafe_dry_run(reasons: list[str]) -> None:
    """Raise DryRunUnsafe with every reason, if there is any."""
    if reasons:
        shown = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
        raise DryRunUnsafe(f"A rollback would not undo everything this does: {shown}.", reasons)


def the_row(row: tuple[Any, ...] | None) -> tuple[Any, ...]:
    """The row a query that always answers one returned (a catalog lookup, SHOW …)."""
    if row is None:
        raise QueryFailed("The database answered no row where it always answers one.")
    return row


def joined_text(statements: "list[BoundStatement]") -> str:
    """The statements as one script, for inspecting what they name."""
    return ";\n".join(statement.sql for statement in statements)


# The table, in the target database, where an approved write's own transaction records
# that it committed (see README, "Knowing the outcome of an interrupted write").
OUTCOME_TABLE = "querybase_write_outcomes"


@dataclass(frozen=True)
class WriteMarker:
    """The row an approved write's transaction inserts last, just before COMMIT: after a
    crash, its presence says the write committed."""

    request_id: int
    sql_sha256: str
    schema: str  # where OUTCOME_TABLE is (PostgreSQL schema, MySQL database)


class WriteOutcome(StrEnum):
    """What the marker says about an interrupted write."""

    COMMITTED = "committed"
    NOT_APPLIED = "not_applied"  # it did not commit, and now never can
    STILL_OPEN = "still_open"  # its transaction is still deciding (or the source is down): ask again later
    UNKNOWABLE = "unknowable"  # no marker to ask (its table is gone)


@dataclass(frozen=True)
class QueryLimits:
    """`timeout_ms` bounds the whole read (connecting, every statement, the rows), not
    each statement: three statements cannot take three times the limit."""

    max_rows: int
    timeout_ms: int


class ReadDeadline:
    """The end of a read's time budget, and how much each statement may still use.

    Servers only know per-statement limits, so the connector re-arms the server's
    limit with what remains before a statement. Re-arming costs a round trip, so it is
    skipped while the last one is younger than `REARM_AFTER_S`: a statement started
    then may overrun the deadline by at most that much (and 100,000 tiny statements
    do not cost 100,000 extra round trips).
    """

    REARM_AFTER_S = 0.1

    def __init__(self, timeout_ms: int, clock: Callable[[], float] = time.monotonic):
        self.timeout_ms = timeout_ms
        self.clock = clock
        self.ends_at = clock() + timeout_ms / 1000
        self._armed_at: float | None = None

    def remaining_ms(self) -> int:
        """Milliseconds left, at least 1; raises QueryTimedOut once the budget is spent
        (a server limit of 0 would mean "no limit", so 0 is never handed out)."""
        remaining = int((self.ends_at - self.clock()) * 1000)
        if remaining < 1:
            raise QueryTimedOut(f"The read ran longer than its time limit ({self.timeout_ms / 1000:g}s in all).")
        return remaining

    def arm(self) -> int:
        """The server limit (ms) to set now, remembered as set."""
        remaining = self.remaining_ms()
        self._armed_at = self.clock()
        return remaining

    def statement_limit_due(self) -> int | None:
        """Before a statement: the server limit (ms) to set now, or None if the one set
        moments ago still holds. Raises QueryTimedOut when nothing remains."""
        if self._armed_at is not None and self.clock() - self._armed_at < self.REARM_AFTER_S:
            self.remaining_ms()
            return None
        return self.arm()


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: str


@dataclass
class RowStream:
    """Columns and an iterator of rows of JSON values, read from the database lazily. A
    row is a sequence: a tuple where the driver's row was kept (a list per row of a
    million-row export was a large part of its time), else a list."""

    columns: list[ResultColumn]
    rows: Iterator[Sequence[Any]]
    #: Columns whose values the connector vouches are only ever text, integers, booleans or
    #: NULL, by the column's type (never floats, arrays or objects): the JSON export writes
    #: them without looking at each value's type (values.json_rows_bytes_encoder).
    plain_columns: frozenset[int] = frozenset()


#: Hears the result of each statement before the last of a read (its index from 0, and
#: its rows, which it reads to the end), while the read's transaction is open.
EarlierResult = Callable[[int, RowStream], None]


@dataclass
class CsvStream:
    """An engine's own CSV of a result: the header line, then one bytes object per row."""

    header: bytes
    rows: Iterator[bytes]


@dataclass
class QueryResult:
    columns: list[ResultColumn]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    took_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": [asdict(column) for column in self.columns],
            "rows": self.rows,
            "row_count": self.row_count,
            "truncated": self.truncated,
            "took_ms": self.took_ms,
        }


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    took_ms: float
    server_version: str = ""
    error_code: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class Partition:
    """A partition of a partitioned table (PostgreSQL): its columns are the table's."""

    schema: str
    name: str
    parent: str  # the table it is a partition of (itself a partition, for sub-partitions)
    bound: str  # PostgreSQL's text: FOR VALUES FROM (…) TO (…), DEFAULT, …


@dataclass(frozen=True)
class Index:
    name: str
    columns: list[str]  # in key order; an expression index shows its expressions
    unique: bool
    primary: bool


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str  # "table", "view", "materialized view", "partitioned table", "foreign table"
    columns: list[Column]
    # Every partition below a partitioned table, sub-partitions included, listed here
    # rather than as tables of their own. A tuple: the class default also serves schemas
    # cached before the field existed.
    partitions: tuple[Partition, ...] = ()
    indexes: list[Index] = field(default_factory=list)


def with_indexes(tables: list[Table], rows) -> list[Table]:
    """Attach (schema, table, index, unique, primary, column) rows, ordered by index and
    key position, to the tables they belong to."""
    by_table: dict[tuple[str, str], dict[str, Index]] = {}
    for schema, table, name, unique, primary, column in rows:
        indexes = by_table.setdefault((schema, table), {})
        if name not in indexes:
            indexes[name] = Index(name=name, columns=[], unique=bool(unique), primary=bool(primary))
        if column is not None:
            indexes[name].columns.append(str(column))
    for table in tables:
        table.indexes.extend(by_table.get((table.schema, table.name), {}).values())
    return tables


def group_columns(rows) -> list[Table]:
    """Fold (schema, table, kind, column, type, nullable) rows, ordered by table, into tables."""
    tables: list[Table] = []
    for schema, name, kind, column, column_type, nullable in rows:
        if not tables or (tables[-1].schema, tables[-1].name) != (schema, name):
            tables.append(Table(schema=schema, name=name, kind=kind, columns=[]))
        tables[-1].columns.append(Column(name=column, type=column_type, nullable=bool(nullable)))
    return tables


def group_partitions(tables: list[Table], parents: dict[tuple[str, str], tuple[str, str, str]]) -> list[Table]:
    """Move each partition (key (schema, name) in `parents`, with its parent's schema and
    name and its bound) from the list of tables into its top-level table's `partitions`."""

    def root(key: tuple[str, str]) -> tuple[str, str]:
        seen = set()
        while key in parents and key not in seen:
            seen.add(key)
            key = parents[key][:2]
        return key

    below: dict[tuple[str, str], list[Partition]] = {}
    for key, (parent_schema, parent_name, bound) in parents.items():
        parent = parent_name if parent_schema == key[0] else f"{parent_schema}.{parent_name}"
        below.setdefault(root(key), []).append(Partition(schema=key[0], name=key[1], parent=parent, bound=bound))
    return [
        replace(table, partitions=tuple(below.get((table.schema, table.name), ())))
        for table in tables
        if (table.schema, table.name) not in parents
    ]


@dataclass(frozen=True)
class HiddenCallers:
    """The source's own operators, domains and casts (`operator:SYMBOL`, `type:NAME`,
    `cast:implicit`), by what their use calls: `unsafe`, a function the catalog says may
    change state, with why; `declared_safe`, the source's own SQL or PL/pgSQL functions
    declared safe, whose bodies decide (function_catalog reads them); `parts`, the source's
    own types whose values hold values of other types of its own (`type:NAME` → the
    `type:NAME`s of a composite's fields, a domain's base, a range's subtype, an array's
    element): reading a literal of one runs the input, and checks, of its parts."""

    unsafe: dict[str, str] = field(default_factory=dict)
    declared_safe: dict[str, frozenset[str]] = field(default_factory=dict)
    parts: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteTable:
    """A table whose rows another server or engine produces: `table`, the one named or one
    read through it (a partition, an inheriting table); `what`, what it is, for the approver
    ("a foreign table of the server s (wrapper postgres_fdw)", "a table of the FEDERATED engine")."""

    table: str
    what: str


@dataclass(frozen=True)
class RelationDefinitions:
    """What reading each of some relations runs (names folded): `queries`, the SELECT texts
    of views and, on PostgreSQL, of a table's row security policies (an empty text is one
    the login may not see); `programs`, the commands a foreign table runs on the database
    server each time it is read (file_fdw's `program`); `remote`, the tables (the one named,
    or one read through it: a partition, an inheriting table) whose rows another server or
    engine produces, each described for the approver (a PostgreSQL foreign table with its
    server and wrapper, a MariaDB table with its engine; names folded);
    `operator_class_calls`, on PostgreSQL, the functions (folded) of the source's own
    operator classes that a read may call without naming them, each with what uses it
    (an index of the table, a column's type)."""

    queries: dict[str, list[str]] = field(default_factory=dict)
    programs: dict[str, list[str]] = field(default_factory=dict)
    remote: dict[str, list[RemoteTable]] = field(default_factory=dict)
    operator_class_calls: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


class Connector(ABC):
    """One data source engine. Subclasses hold every engine-specific detail."""

    engine: str
    #: Whether host/port/username are meaningful for this engine.
    network: bool = True
    #: The port a network engine's server listens on when the source names none.
    default_port: int = 0
    param_style: ParamStyle
    #: Whether `volatile_functions` asks a real catalog (else it always answers "none").
    has_volatility_catalog: bool = False
    #: Statement kinds (the classifier's) a write may hold and still run as one
    #: transaction that an outcome marker can vouch for; empty: no markers on this engine.
    marker_statement_kinds: frozenset[str] = frozenset()

    def __init__(self, connection_settings: ConnectionSettings):
        self.settings = connection_settings

    @classmethod
    def validate_config(cls, *, host: str, port: int | None, database: str) -> dict[str, str]:
        """Field errors for a configuration, before anything is saved."""
        errors = {}
        if not host:
            errors["host"] = "A host is required for this engine."
        if not database:
            errors["database"] = "A database name is required."
        return errors

    @abstractmethod
    def connect(self) -> AbstractContextManager:
        """A context manager yielding an open DB-API connection; raises ConnectorError."""

    # Hosts that do not answer (unanswered.py) ------------------------------------------

    def _address(self) -> Address:
        return self.settings.host, self.settings.port or self.default_port

    def _timed_out(self) -> ConnectionTimedOut:
        """A connect timeout, in the same words whatever the engine."""
        host, port = self._address()
        timeout = self.settings.connect_timeout
        return ConnectionTimedOut(
            f"no answer from {host}:{port}", said=f"The data source did not answer within {timeout}s."
        )

    def _attempt_to_connect(self, connect: Callable[[], C]) -> C:
        """`connect()` (which raises ConnectorError), its outcome told to UNANSWERED: a
        ConnectionTimedOut opens the host's window, a connection made ends it."""
        try:
            connection = connect()
        except ConnectionTimedOut:
            UNANSWERED.no_answer(self._address(), self.settings.connect_timeout)
            raise
        UNANSWERED.answered(self._address())
        return connection

    def _refuse_if_unanswered(self) -> None:
        """A host whose last attempt got no answer is not waited for again at once: a read
        or schema browsing fails now, saying when it is tried again. "Test connection" never
        asks: it is the admin's explicit probe, bounded by the connect timeout itself."""
        quiet = UNANSWERED.quiet_for(self._address())
        if quiet is None:
            return
        timeout, left = quiet
        host, port = self._address()
        raise ConnectionTimedOut(
            f"no answer from {host}:{port} at the last attempt",
            said=f"The data source did not answer within {timeout}s at the last attempt; "
            f"it is tried again in {max(left, 1):.0f}s.",
        )

    @abstractmethod
    def server_version(self, connection) -> str:
        """The server's version string."""

    @abstractmethod
    def schema(self) -> list[Table]:
        """Tables and views the credentials can see, with their columns."""

    def test_connection(self) -> ConnectionTestResult:
        """Really connect and ask the server its version; never raises for a data source fault."""
        started = time.monotonic()
        try:
            with self.connect() as connection:
                version = self.server_version(connection)
        except ConnectorError as error:
            return ConnectionTestResult(
                ok=False, took_ms=_ms_since(started), error_code=error.code, message=error.message_for_admins
            )
        return ConnectionTestResult(ok=True, took_ms=_ms_since(started), server_version=version)

    @abstractmethod
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
    ) -> AbstractContextManager[RowStream]:
        """One attempt at `read_stream`, without its retry. `fresh` asks for a new
        connection rather than a pooled one (engines without a pool always use a new one).
        A connection found dead under the read raises ConnectionLost. `text`: values as
        the CSV dialect spells them (see `read_stream`). `backend_id`: one from
        `new_backend_id`, which the read's session then carries. `earlier` is handed the
        rows of each statement before the last, as they stream (JSON values); without it
        their rows are read and dropped."""

    @classmethod
    def new_backend_id(cls) -> str | None:
        """An id for a read's session, made before the read, where the engine lets a
        session be named (PostgreSQL's application_name): a caller records it with the
        run, so a cancel can reach the read without a second write, and passes it to
        `read_with`. None where only the open session knows its id (`on_backend` then
        reports it)."""
        return None

    @contextmanager
    def read_stream(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None = None,
        *,
        text: bool = False,
    ) -> Iterator[RowStream]:
        """Run `statements` in one read-only transaction with the statement timeout, and
        stream the rows of the last one. Values are JSON values (values.py), or with `text`
        the CSV export's (csv_text.py): strings in the engine's own spelling, None for
        NULL, and numbers the CSV renderer spells itself. The transaction is rolled back on exit, so even
        a statement the classifier missed cannot leave a change behind.

        `on_backend` receives the server-side id of the session as soon as it is known,
        so another process can cancel the query (see `cancel`).

        A connection that dies before the first row is handed out is replaced once by a
        fresh one; after that, rows have gone to the caller and ConnectionLost is raised.
        """
        with ExitStack() as stack:
            yield once_more_if_connection_lost(
                limits,
                lambda attempt_limits, fresh: stack.enter_context(
                    self.open_read_stream(statements, attempt_limits, on_backend, fresh=fresh, text=text)
                ),
            )

    def server_csv(self, sql: str, limits: QueryLimits) -> AbstractContextManager[CsvStream] | None:
        """The engine's own CSV of one read query (at most `limits.max_rows` rows), under
        the same read-only transaction and timeout as `read_stream`.

        None where the engine has no such fast path: the caller then renders the rows of
        `read_stream`. `sql` must be a single query that can stand in a subquery.
        """
        return None

    def volatile_functions(self, names: list[str], *, reviewed: list[str], attributes: Sequence[str] = ()) -> set[str]:
        """Which of `names` (lower case) the server's catalog says may change state.
        `reviewed`: those of `names` whose system function is reviewed as harmless
        (function_effects.HARMLESS_VOLATILE_FUNCTIONS); only other functions of that name
        count. `attributes`: names written as an attribute (`x.name`), which PostgreSQL
        calls as name(x) when x has no such column: only a function one argument can
        call counts for those.

        PostgreSQL keeps volatility in pg_proc, MySQL and MariaDB say how a stored function
        was declared (information_schema.ROUTINES); SQLite has no catalog and answers with
        an empty set, relying on the classifier's own function lists.
        """
        return set()

    def function_bodies(self, names: list[str]) -> dict[str, list[str]]:
        """The bodies (SQL text) of the source's own functions among `names` (folded),
        one per function of that name whose body the login may read, and whatever else a
        call of that name runs: an aggregate's support functions' bodies, the argument
        defaults (`SELECT <defaults>`). Engines without such a catalog answer with none."""
        return {}

    def hidden_callers(self) -> "HiddenCallers":
        """What a query may name without naming the function it calls: `operator:SYMBOL`
        and `type:NAME` (folded) of the source's own operators, domains and casts, with
        the functions they call. Engines without them answer with none.
        """
        return HiddenCallers()

    def view_definitions(self, names: list[str]) -> RelationDefinitions:
        """What reading the relations among `names` (folded as the classifier folds them,
        `sqltext.fold_name`) runs, in every schema but the system's: a view runs whatever
        its definition calls; on PostgreSQL a table's row security policies (`SELECT
        <policy>`) run on every read of it, and a file_fdw foreign table its program; a
        table whose rows another server or engine produces is read there (`remote`).
        Engines without such a catalog answer with none.
        """
        return RelationDefinitions()

    @abstractmethod
    def audit_privileges(self) -> PrivilegeReport:
        """What this connection's login can do beyond reading (the credential audit's facts)."""

    @abstractmethod
    def cancel(self, backend_id: str) -> bool:
        """Stop the query running in session `backend_id`; True if a running statement was
        signalled, False if none was running (yet): the read may be between statements, or
        not have sent its first one, so a caller that must stop it asks again."""

    @abstractmethod
    def run_write(
        self,
        statements: list[BoundStatement],
        timeout_ms: int,
        *,
        dry_run: bool = False,
        marker: WriteMarker | None = None,
    ) -> list[int]:
        """Run `statements` with the owner credentials in one transaction (as far as the
        engine allows) and commit; with `dry_run`, roll back instead. With `marker`, its
        row is inserted after the last statement, in the same transaction. Returns the rows
        affected per statement (-1 where the engine does not say)."""

    # Engines that keep outcome markers name their module (with `prepare(connection)` and
    # `settle(connection, marker, wait_ms)`) and their driver's error class, which their
    # `_query_error` turns into a ConnectorError.
    outcome_markers: ModuleType | None = None
    driver_error: type[Exception] = Exception
    _query_error: Callable[..., ConnectorError]

    def prepare_outcome_marker(self) -> str | None:
        """Create OUTCOME_TABLE where the owner's connection puts new tables, unless it is
        there; return that schema, or None if these credentials cannot keep markers there."""
        if self.outcome_markers is None:
            return None
        with self.connect() as connection:
            try:
                return self.outcome_markers.prepare(connection)
            except self.driver_error as error:
                raise self._query_error(error) from error

    def write_outcome(self, marker: WriteMarker, wait_ms: int) -> WriteOutcome:
        """Settle the outcome of the write `marker` belongs to: a "not applied" marker is
        inserted unless the write's own is there. The key is unique, so this waits (up to
        `wait_ms`) for a write transaction still holding it, and once it is in, that
        transaction can no longer commit."""
        if self.outcome_markers is None:
            return WriteOutcome.UNKNOWABLE
        with self.connect() as connection:
            try:
                return self.outcome_markers.settle(connection, marker, wait_ms)
            except self.driver_error as error:
                raise self._query_error(error) from error

    def dry_run(self, statements: list[BoundStatement], timeout_ms: int) -> list[int]:
        """Run `statements` in a transaction that is rolled back, and return the rows each
        affected. Engines where a rollback may not undo everything check first, in the
        same connection, and raise DryRunUnsafe with the reasons (SQLite undoes all)."""
        return self.run_write(statements, timeout_ms, dry_run=True)

    def read_with(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        consume: Callable[[list[ResultColumn], Iterator[Sequence[Any]]], T],
        on_backend: Callable[[str], None] | None = None,
        *,
        backend_id: str | None = None,
        earlier: EarlierResult | None = None,
    ) -> T:
        """`read_stream`, handed to `consume(columns, rows)` while it is open; what it returns.
        `earlier` hears the statements before the last (see `open_read_stream`).

        `consume` sees every row before anything of it is answered, so a connection lost
        at any point is retried once on a fresh connection, with `consume` (and `earlier`,
        from statement 0) called again from the first row: they must start over (the
        result store drops what it wrote)."""

        def one_attempt(attempt_limits: QueryLimits, fresh: bool) -> T:
            with self.open_read_stream(
                statements, attempt_limits, on_backend, fresh=fresh, backend_id=backend_id, earlier=earlier
            ) as stream:
                return consume(stream.columns, stream.rows)

        return once_more_if_connection_lost(limits, one_attempt)

    def run_read(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None = None,
        *,
        earlier: EarlierResult | None = None,
    ) -> QueryResult:
        """`read_stream`, collected: at most `limits.max_rows` rows, `truncated` if there were more.
        `earlier` hears the statements before the last (see `open_read_stream`).

        Nothing reaches the caller before the end, so a connection lost at any point,
        not only before the first row, is retried once on a fresh connection."""
        started = time.monotonic()
        columns, rows, truncated = once_more_if_connection_lost(
            limits,
            lambda attempt_limits, fresh: self._collect(
                statements, attempt_limits, on_backend, fresh=fresh, earlier=earlier
            ),
        )
        return QueryResult(
            columns=columns, rows=rows, row_count=len(rows), truncated=truncated, took_ms=_ms_since(started)
        )

    def _collect(
        self,
        statements: list[BoundStatement],
        limits: QueryLimits,
        on_backend: Callable[[str], None] | None,
        *,
        fresh: bool,
        earlier: EarlierResult | None = None,
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        with self.open_read_stream(statements, limits, on_backend, fresh=fresh, earlier=earlier) as stream:
            rows: list[list[Any]] = []
            truncated = False
            for row in stream.rows:
                if len(rows) == limits.max_rows:
                    truncated = True
                    break
                rows.append(list(row))  # a result's rows are lists, whatever the stream's are
            return stream.columns, rows, truncated

    def scrub(self, message: str) -> str:
        """Remove the password from a driver message before it goes anywhere."""
        password = self.settings.password
        return message.replace(password, "********") if password else message


def drain(stream: RowStream) -> None:
    """Read what is left of an earlier statement's rows: the next statement can only be
    sent once they are all in (closing a PostgreSQL stream early cancels the statement,
    which would abort the transaction)."""
    for _ in stream.rows:
        pass


def once_more_if_connection_lost(limits: QueryLimits, attempt: Callable[[QueryLimits, bool], T]) -> T:
    """`attempt(limits, fresh=False)`; if its connection turns out to be dead, once more
    on a fresh connection, within what remains of the time limit.

    A server restart or failover kills every pooled connection at once, and a read
    changes nothing, so running it again is safe. Only once: a second loss means the
    source itself is in trouble, which the caller reports as unavailable.
    """
    deadline = ReadDeadline(limits.timeout_ms)
    try:
        return attempt(limits, False)
    except ConnectionLost as error:
        logger.info("connection lost under a read, retrying once on a fresh connection: %s", error.message)
        return attempt(replace(limits, timeout_ms=deadline.remaining_ms()), True)


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def default_connect_timeout() -> int:
    return settings.QUERYBASE_CONNECT_TIMEOUT
