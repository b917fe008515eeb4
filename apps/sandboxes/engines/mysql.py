"""MySQL and MariaDB copies: a golden schema refreshed from the source, and a schema per
sandbox filled from it.

Tables are created from `SHOW CREATE TABLE` rather than `CREATE TABLE … LIKE`, because
LIKE leaves the foreign keys out; the statement keeps indexes, checks, column defaults
and the AUTO_INCREMENT position. Rows come from the source through a read-only
transaction with a consistent snapshot, at most the sample bound per table, and are
inserted with foreign-key checks off (a sample may miss a parent row); dates and times
travel as the source's text, in a SQL mode that takes every date the source may hold (a
zero date, 2025-02-30, which the driver would read as NULL). Sandboxes are filled from
the golden schema with INSERT … SELECT on the server itself, in that mode too. Views, stored
procedures and functions, and triggers follow, with their DEFINER left out (the copy's
owner defines them) and references to the schema they came from pointed at the copy.

Users' SQL runs as the copy's own restricted user, which the copy-maker creates with no
global privilege just before it makes the copy (apps/sandboxes/roles.py) and grants ALL
(no GRANT OPTION) on that one schema: it cannot see the source's schema, the golden one,
another user's sandbox or any other schema, nor create users or grant. One user per copy
rather than per source because every schema of a server is one qualified name away
(`other_sandbox.t`): a user shared by a source's copies could reach them all, and only the
lexical guard would stand in the way. Copies made when one user served every copy of the
source are given their own by upkeep (`adopt`), which makes their views, routines,
triggers and events again with the copy's own user as their definer: one left to the
shared user would run with its rights (on every copy it still reaches), then fail once
it is dropped.

Not copied: events, MariaDB SEQUENCE objects and system-versioned history, routines
the credentials may not read (SHOW CREATE returns no body to them), and views, routines
and triggers that name another schema of the server once repointed (a name written
without quotes, `src.t`, still points at the source) or that the sandbox wall refuses;
the golden copy's notes name what was left out.
"""

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice

import MySQLdb
import MySQLdb.converters
import MySQLdb.cursors
from MySQLdb.constants import FIELD_TYPE

from apps.sandboxes.engines.base import (
    LOGIN_CONNECTION_LIMIT,
    CopyEngine,
    CopyFailed,
    GoldenReport,
    LoginRightsMissing,
    NotConnected,
    SandboxLogin,
    UploadColumn,
)
from apps.sandboxes.guard import outside_reach

_INSERT_BATCH_ROWS = 500
# Dates and times are read from the source as its own text, which the copy's server reads
# back as the same value: the driver's dates hold no zero date ('0000-00-00'), zero month
# or day, nor the 2025-02-30 of ALLOW_INVALID_DATES, and would copy them as NULL (or fail
# the copy on a NOT NULL column).
_SOURCE_CONVERSIONS = {
    **MySQLdb.converters.conversions,
    **dict.fromkeys(
        (FIELD_TYPE.DATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIME, FIELD_TYPE.YEAR), str
    ),
}
# The modes that refuse such dates are left out of a copy's session, and invalid days let
# in: whatever the source holds, its copy holds too.
_REFUSING_DATES = {"NO_ZERO_DATE", "NO_ZERO_IN_DATE"}
_DEFINER = re.compile(r"\s+DEFINER\s*=\s*(?:`[^`]*`|'[^']*'|[^\s@]+)@(?:`[^`]*`|'[^']*'|[^\s]+)", re.IGNORECASE)
# Schemas a sandbox may name: information_schema only describes, and only what the login sees.
_DESCRIPTIVE_SCHEMAS = frozenset({"information_schema"})

# Errors that mean "the copy-maker lacks a privilege" (no CREATE USER, no GRANT OPTION, …).
_ACCESS_DENIED = frozenset({1044, 1045, 1142, 1227, 1410})
# REVOKE of a grant or user that is not there (a golden schema, a copy never granted).
_NO_SUCH_GRANT = frozenset({1133, 1141, 1147})

# DECIMAL(65, 20): 45 digits before the point and 20 after; more after it are rounded.
_UPLOAD_TYPES = {
    "integer": "BIGINT",
    "decimal": "DECIMAL(65, 20)",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "DATETIME(6)",
    "text": "LONGTEXT",
}


def quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def granted_schema(name: str) -> str:
    """Schema `name` as a GRANT names it: quoted, its `_` and `%` (wildcards there) escaped.
    Doubled `%` for the driver, whose placeholders use it."""
    escaped = name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return quoted(escaped).replace("%", "%%")


def without_definer(statement: str) -> str:
    return _DEFINER.sub("", statement, count=1)


def repointed(statement: str, old_schema: str, new_schema: str) -> str:
    """The statement with references to `old_schema`.x pointed at `new_schema`.x."""
    return statement.replace(quoted(old_schema) + ".", quoted(new_schema) + ".")


class MySQLCopies(CopyEngine):
    engine = "mysql"

    @contextmanager
    def _connect(
        self, *, source: bool = False, database: str | None = None, login: SandboxLogin | None = None
    ) -> Iterator[MySQLdb.Connection]:
        """A connection to the source (read), or to the sandbox server as the copy-maker
        (copy mechanics) or as a restricted user, `login` (SQL built from a user's input,
        objects that must be defined by that user)."""
        settings = self.source if source else self.server
        username, password = settings.username, settings.password
        if login is not None:
            username, password = login.name, login.password
        kwargs = {
            "host": settings.host,
            "port": settings.port or 3306,
            "user": username,
            "password": password,
            "connect_timeout": settings.connect_timeout,
            "charset": "utf8mb4",
            "autocommit": not source,
        }
        if source:
            kwargs["database"] = self.source.database
            kwargs["conv"] = _SOURCE_CONVERSIONS
        elif database:
            kwargs["database"] = database
        try:
            connection = MySQLdb.connect(**kwargs)
        except MySQLdb.Error as error:
            where = "the source" if source else "the sandbox server"
            raise NotConnected(where, self.scrub(str(error))) from error
        try:
            yield connection
        except MySQLdb.Error as error:
            raise CopyFailed(self.scrub(f"Copying failed: {error}")) from error
        finally:
            connection.close()

    # Golden copy --------------------------------------------------------------------------

    def build_golden(self, name: str, max_rows_per_table: int) -> GoldenReport:
        with self._connect(source=True) as source:
            cursor = source.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            try:
                charset, collation = _one(
                    cursor,
                    "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME = DATABASE()",
                )
                self._create_schema(name, charset, collation)
                try:
                    return self._fill_golden(source, name, max_rows_per_table)
                except BaseException:
                    self.drop(name)
                    raise
            finally:
                source.rollback()

    def _create_schema(self, name: str, charset: str, collation: str) -> None:
        with self._connect() as server:
            server.cursor().execute(
                f"CREATE DATABASE {quoted(name)} CHARACTER SET {quoted(charset)} COLLATE {quoted(collation)}"
            )

    def _fill_golden(self, source: MySQLdb.Connection, name: str, max_rows: int) -> GoldenReport:
        origin = self.source.database
        reader = source.cursor()
        objects = _schema_objects(reader)
        notes = [
            f"{kind} {object_name} is not copied" for object_name, kind in objects if kind not in ("BASE TABLE", "VIEW")
        ]
        sampled = []
        with self._connect(database=name) as golden:
            writer = golden.cursor()
            writer.execute("SET SESSION foreign_key_checks = 0")
            tables = [object_name for object_name, kind in objects if kind == "BASE TABLE"]
            with _taking_every_date(writer):
                for table in tables:
                    writer.execute(_one(reader, f"SHOW CREATE TABLE {quoted(table)}")[1])
                for table in tables:
                    if self._copy_rows(source, writer, table, max_rows):
                        sampled.append(table)
            views = {
                view: _one(reader, f"SHOW CREATE VIEW {quoted(view)}")[1] for view, kind in objects if kind == "VIEW"
            }
            notes += _create_in_dependency_order(writer, views, origin, name)
            notes += _copy_routines_and_triggers(reader, writer, origin, name)
            notes += _remove_what_reaches_out(writer, name, self.other_databases(name))
        return GoldenReport(sampled_tables=sorted(sampled), notes=notes)

    def _copy_rows(self, source: MySQLdb.Connection, writer, table: str, max_rows: int) -> bool:
        """Insert at most `max_rows` rows of `table`; True if it has more."""
        columns = _stored_columns(source.cursor(), table)
        column_list = ", ".join(quoted(column) for column in columns)
        rows = source.cursor(MySQLdb.cursors.SSCursor)
        rows.execute(f"SELECT {column_list} FROM {quoted(table)} LIMIT {int(max_rows) + 1}")
        insert = f"INSERT INTO {quoted(table)} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})"
        copied = 0
        try:
            while copied < max_rows:
                batch = rows.fetchmany(min(_INSERT_BATCH_ROWS, max_rows - copied))
                if not batch:
                    break
                writer.executemany(insert, batch)
                copied += len(batch)
            more = rows.fetchone() is not None
        finally:
            rows.close()
        return more

    # Sandboxes ----------------------------------------------------------------------------

    def copy(self, golden: str, name: str) -> None:
        with self._connect(database=golden) as connection:
            cursor = connection.cursor()
            charset, collation = _one(
                cursor,
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                "WHERE SCHEMA_NAME = DATABASE()",
            )
            objects = _schema_objects(cursor)
            login = self._login_of(name)  # before anything is made: without it, nothing is
            cursor.execute(
                f"CREATE DATABASE {quoted(name)} CHARACTER SET {quoted(charset)} COLLATE {quoted(collation)}"
            )
            try:
                self._grant(cursor, name, login)
                self._fill_copy(cursor, golden, name, objects)
            except BaseException:
                self.drop(name)
                raise

    def _fill_copy(self, cursor, golden: str, name: str, objects: list[tuple[str, str]]) -> None:
        tables = [object_name for object_name, kind in objects if kind == "BASE TABLE"]
        creates = {table: _one(cursor, f"SHOW CREATE TABLE {quoted(table)}")[1] for table in tables}
        views = {view: _one(cursor, f"SHOW CREATE VIEW {quoted(view)}")[1] for view, kind in objects if kind == "VIEW"}
        cursor.execute(f"USE {quoted(name)}")
        cursor.execute("SET SESSION foreign_key_checks = 0")
        with _taking_every_date(cursor):
            for table in tables:
                cursor.execute(creates[table])
            for table in tables:
                columns = ", ".join(quoted(column) for column in _stored_columns(cursor, table, schema=golden))
                cursor.execute(
                    f"INSERT INTO {quoted(table)} ({columns}) SELECT {columns} FROM {quoted(golden)}.{quoted(table)}"
                )
        cursor.execute(f"USE {quoted(golden)}")
        routines = _routine_and_trigger_statements(cursor)
        # Views, routines and triggers are made by the copy's restricted user, so they run
        # with its rights: one the copy-maker defined would run a function the user may
        # replace (an INVOKER one, reading the source) with the copy-maker's.
        with self._connect(database=name, login=self._login_of(name)) as own:
            definer = own.cursor()
            _create_in_dependency_order(definer, views, golden, name)
            for statement in routines.values():
                if statement:
                    definer.execute(repointed(without_definer(statement), golden, name))

    def drop(self, name: str) -> None:
        """Drop the schema. Its own user goes with it (apps.sandboxes.roles drops it); a user
        shared by the source's older copies loses its grant on it."""
        with self._connect() as server:
            cursor = server.cursor()
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted(name)}")
            if self.shared_login is not None:
                # A dropped schema keeps its grants: a later one of the same name would get them.
                _revoke(cursor, name, self.shared_login)

    def adopt(self, name: str) -> None:
        """Give copy `name`, made when one user served every copy of the source, to its own
        user (made before by apps.sandboxes.roles): grant it the schema, make the copy's
        views, routines, triggers and events again with it as their definer (a definer that
        loses its rights on the schema breaks them; one left to the shared user runs with
        its rights), then take the schema from the shared user. What the user made in the
        copy stays. Running it again finishes a pass that stopped."""
        login = self._login_of(name)
        with self._connect(database=name) as server:
            cursor = server.cursor()
            views = [
                _one(cursor, f"SHOW CREATE VIEW {quoted(view)}")[1]
                for view, kind in _schema_objects(cursor)
                if kind == "VIEW"
            ]
            routines = self._routines_to_define_again(cursor, name)
            self._grant(cursor, name, login)
            with self._connect(database=name, login=login) as own:
                definer = own.cursor()
                for statement in views:
                    definer.execute("CREATE OR REPLACE " + without_definer(statement).removeprefix("CREATE "))
                for label, statement in routines.items():
                    kind, routine = label.split(" ", 1)
                    definer.execute(f"DROP {kind} IF EXISTS {quoted(routine)}")
                    definer.execute(without_definer(statement))
            if self.shared_login is not None:
                _revoke(cursor, name, self.shared_login)

    def _routines_to_define_again(self, cursor, name: str) -> dict[str, str]:
        """The CREATE statements of copy `name`'s routines, triggers and events, by "KIND
        name". The copy-maker may not read the body of a routine it did not define (without
        SELECT on mysql.proc); the shared user, which defined it, may. Raises CopyFailed if
        a body is still unread: such a routine would keep the shared user as its definer."""
        statements = _routine_and_trigger_statements(cursor) | _event_statements(cursor)
        unread = sorted(label for label, statement in statements.items() if not statement)
        if unread and self.shared_login is not None:
            with self._connect(database=name, login=self.shared_login) as shared:
                read = _routine_and_trigger_statements(shared.cursor())
            statements |= {label: statement for label, statement in read.items() if statement}
            unread = sorted(label for label, statement in statements.items() if not statement)
        if unread:
            raise CopyFailed(
                f"{', '.join(unread)} in sandbox {name} cannot be defined again by the sandbox's own user: neither "
                f"the sandbox server's user {self.server.username} nor the shared login may read the body; "
                "grant the former SELECT on mysql.proc."
            )
        return statements

    def _grant(self, cursor, name: str, login: SandboxLogin) -> None:
        """ALL on schema `name` (a sandbox) to its restricted user, without GRANT OPTION."""
        try:
            cursor.execute(f"GRANT ALL PRIVILEGES ON {granted_schema(name)}.* TO %s@'%%'", [login.name])
        except MySQLdb.Error as error:
            if _code(error) in _ACCESS_DENIED:
                raise LoginRightsMissing(
                    f"The sandbox server's user {self.server.username} may not grant rights on the sandbox schemas: "
                    "it needs ALL PRIVILEGES on them WITH GRANT OPTION."
                ) from error
            raise

    # The restricted user --------------------------------------------------------------------

    def create_login(self, login: SandboxLogin) -> None:
        """CREATE USER with no privilege at all; `copy` grants it its one schema."""
        with self._connect() as server:
            try:
                server.cursor().execute(
                    "CREATE USER %s@'%%' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS %s",
                    [login.name, login.password, LOGIN_CONNECTION_LIMIT],
                )
            except MySQLdb.Error as error:
                if _code(error) in _ACCESS_DENIED:
                    raise LoginRightsMissing(
                        f"The sandbox server's user {self.server.username} may not create users: sandboxes run "
                        "users' SQL as a restricted user it creates for each, so it needs CREATE USER."
                    ) from error
                # The statement carries the new password: keep it out of the message.
                message = self.scrub(f"Could not create the sandbox user: {error}").replace(login.password, "********")
                raise CopyFailed(message) from error

    def drop_login(self, name: str) -> None:
        with self._connect() as server:
            server.cursor().execute("DROP USER IF EXISTS %s@'%%'", [name])

    def exists(self, name: str) -> bool:
        with self._connect() as server:
            cursor = server.cursor()
            cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [name])
            return cursor.fetchone() is not None

    def size_bytes(self, name: str) -> int:
        with self._connect() as server:
            cursor = server.cursor()
            cursor.execute(
                "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s",
                [name],
            )
            return int(cursor.fetchone()[0])

    def load_table(self, name: str, table: str, columns: list[UploadColumn], rows: Iterable[list]) -> None:
        definition = ", ".join(f"{quoted(column.name)} {_UPLOAD_TYPES[column.type]}" for column in columns)
        insert = (
            f"INSERT INTO {quoted(table)} ({', '.join(quoted(column.name) for column in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        # The table's and columns' names come from the user: made as the restricted user.
        with self._connect(database=name, login=self._login_of(name)) as connection:
            cursor = connection.cursor()
            cursor.execute(f"CREATE TABLE {quoted(table)} ({definition})")  # DDL commits by itself
            try:
                connection.autocommit(False)
                # mysqlclient sends each batch as one multi-row INSERT.
                pending = iter(rows)
                while batch := list(islice(pending, _INSERT_BATCH_ROWS)):
                    cursor.executemany(insert, batch)
                connection.commit()
            except BaseException:
                connection.rollback()
                connection.autocommit(True)
                cursor.execute(f"DROP TABLE IF EXISTS {quoted(table)}")
                raise

    def quote_name(self, name: str) -> str:
        return quoted(name)

    def quote_table(self, schema: str, table: str) -> str:
        # Unqualified: a sandbox's connection is in its own schema.
        return quoted(table)

    def key_columns(self, name: str, schema: str, table: str) -> list[str]:
        with self._connect() as server:
            cursor = server.cursor()
            cursor.execute(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                [name, table],
            )
            return [row[0] for row in cursor.fetchall()]

    def database_of(self, name: str) -> str:
        return name

    def other_databases(self, name: str) -> set[str]:
        with self._connect() as server:
            cursor = server.cursor()
            cursor.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
            names = {row[0].lower() for row in cursor.fetchall()}
        # The source's schema is named even when the login cannot list it.
        names.add(self.source.database.lower())
        return names - {name.lower()} - _DESCRIPTIVE_SCHEMAS


def _revoke(cursor, name: str, login: SandboxLogin) -> None:
    """Take schema `name` from `login` (nothing if it had no grant there)."""
    try:
        cursor.execute(f"REVOKE ALL PRIVILEGES ON {granted_schema(name)}.* FROM %s@'%%'", [login.name])
    except MySQLdb.Error as error:
        if _code(error) not in _NO_SUCH_GRANT:
            raise


def _code(error: MySQLdb.Error) -> int | None:
    return error.args[0] if error.args and isinstance(error.args[0], int) else None


@contextmanager
def _taking_every_date(cursor) -> Iterator[None]:
    """The session in a SQL mode that takes every date the source may hold (_REFUSING_DATES
    left out), for making the tables and copying the rows; the session's own mode after,
    for the routines and triggers it makes, which keep the mode they were made in."""
    own_mode = _one(cursor, "SELECT @@SESSION.sql_mode")[0]
    modes = set(filter(None, own_mode.split(",")))
    cursor.execute("SET SESSION sql_mode = %s", [",".join(sorted(modes - _REFUSING_DATES | {"ALLOW_INVALID_DATES"}))])
    yield
    cursor.execute("SET SESSION sql_mode = %s", [own_mode])


def _one(cursor, statement: str) -> tuple:
    cursor.execute(statement)
    return cursor.fetchone()


def _schema_objects(cursor) -> list[tuple[str, str]]:
    """(name, TABLE_TYPE) of the current schema's tables, views and sequences."""
    cursor.execute(
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "ORDER BY TABLE_NAME"
    )
    return [(row[0], row[1]) for row in cursor.fetchall()]


def _stored_columns(cursor, table: str, *, schema: str | None = None) -> list[str]:
    """Columns that take values (generated columns compute theirs)."""
    cursor.execute(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
        "AND TABLE_NAME = %s AND EXTRA NOT LIKE '%%GENERATED%%' AND EXTRA NOT IN ('VIRTUAL', 'PERSISTENT', "
        "'STORED') ORDER BY ORDINAL_POSITION",
        [schema, table],
    )
    return [row[0] for row in cursor.fetchall()]


def _create_in_dependency_order(cursor, views: dict[str, str], old_schema: str, new_schema: str) -> list[str]:
    """Create views, retrying those that name a view not made yet; notes for any left."""
    pending = {view: repointed(without_definer(statement), old_schema, new_schema) for view, statement in views.items()}
    while pending:
        made = []
        for view, statement in pending.items():
            try:
                cursor.execute(statement)
                made.append(view)
            except MySQLdb.Error:
                continue
        if not made:
            return [f"VIEW {view} could not be created" for view in sorted(pending)]
        for view in made:
            del pending[view]
    return []


def _routine_and_trigger_statements(cursor) -> dict[str, str]:
    """CREATE statements of the current schema's procedures, functions and triggers, by
    "KIND name"; a routine whose body the login may not read maps to ""."""
    statements = {}
    cursor.execute(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
    )
    for kind, routine in cursor.fetchall():
        row = _one(cursor, f"SHOW CREATE {kind} {quoted(routine)}")
        statements[f"{kind} {routine}"] = row[2] or ""
    cursor.execute("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()")
    for (trigger,) in cursor.fetchall():
        statements[f"TRIGGER {trigger}"] = _one(cursor, f"SHOW CREATE TRIGGER {quoted(trigger)}")[2] or ""
    return statements


def _event_statements(cursor) -> dict[str, str]:
    """CREATE statements of the current schema's events, by "EVENT name". Never copied
    from a source; made in a copy only by a user whom the first wall let through."""
    cursor.execute("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
    return {
        f"EVENT {event}": _one(cursor, f"SHOW CREATE EVENT {quoted(event)}")[3] or "" for (event,) in cursor.fetchall()
    }


def _remove_what_reaches_out(cursor, schema: str, other_databases: set[str]) -> list[str]:
    """Drop views, routines and triggers of the golden schema that name another schema of
    the server (one named without quotes still points at the source) or that the sandbox
    wall would refuse if a user wrote them (apps/sandboxes/guard.py)."""
    definitions = []
    cursor.execute("SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s", [schema])
    definitions += [("VIEW", name, text) for name, text in cursor.fetchall()]
    cursor.execute(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s",
        [schema],
    )
    definitions += list(cursor.fetchall())
    cursor.execute(
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s", [schema]
    )
    definitions += [("TRIGGER", name, text) for name, text in cursor.fetchall()]
    notes = []
    for kind, name, text in definitions:
        reason = outside_reach(text or "", "mysql", other_databases=other_databases)
        if reason is not None:
            cursor.execute(f"DROP {kind} IF EXISTS {quoted(name)}")
            notes.append(f"{kind} {name} is not copied: {reason}")
    return notes


def _copy_routines_and_triggers(reader, writer, old_schema: str, new_schema: str) -> list[str]:
    notes = []
    for label, statement in _routine_and_trigger_statements(reader).items():
        if not statement:
            notes.append(f"{label} is not copied: the source's credentials may not read its body")
            continue
        try:
            writer.execute(repointed(without_definer(statement), old_schema, new_schema))
        except MySQLdb.Error as error:
            notes.append(f"{label} is not copied: {error.args[-1] if error.args else error}")
    return notes
