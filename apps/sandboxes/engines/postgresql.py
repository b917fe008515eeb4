"""PostgreSQL copies: a golden database refreshed from the source, sandboxes made with
`CREATE DATABASE … TEMPLATE golden`.

Why this mechanism. The schema comes from the machine's pg_dump (it knows every kind of
object: types, functions, views, sequences, indexes, constraints, triggers, extensions)
and data from COPY per table, so the size bound is a LIMIT in the source's own query and
the data never passes through Python objects. All of it reads one snapshot of the
source: a REPEATABLE READ, READ ONLY transaction exports it and pg_dump joins it
(`--snapshot`); pg_dump's own transactions are read-only too. The dump excludes table
data (and large objects); sequence positions are read from pg_sequences in the same
snapshot. Restoring runs in three steps: objects, then the rows and sequence positions,
then indexes, constraints and triggers, so loading is fast,
triggers do not fire on copied rows, and rows whose parent was left out of a sample are
removed before the foreign keys are checked.

A template database must have no sessions while it is copied, which is why sandboxes are
copied from the golden database and never from the source.

Who owns what. The copy-maker (the sandbox server's credentials) creates and owns every
database and the golden copy's objects; nobody but it may connect to a golden copy. Each
sandbox has a login of its own (apps/sandboxes/roles.py), made before the copy: `copy`
makes the database with `CREATE DATABASE … TEMPLATE` closed to connections, takes CONNECT
from PUBLIC, hands the copy's objects (schemas, tables, views, sequences, types,
routines, …) to that login with ALTER … OWNER, object by object (never REASSIGN OWNED BY
the copy-maker, which would also hand over whatever else it owns, production databases
included), and only then lets that login, and no other, connect. Users' SQL logs in as
it: it can do anything to its copy's objects, and nothing to another database, another
login or the server (NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS, a few
connections at most). A connection cannot leave its database, but a login may change its
own password (PostgreSQL lets every role do that): a login per copy is why its password
opens that one copy and no other user's.

Copies made when one login served every copy of the source (and owned the golden copy's
objects) are adopted by upkeep (`adopt`, `adopt_golden`): what that login owns in the
copy goes to the copy's own login with REASSIGN OWNED BY the shared login (it owns
nothing outside the source's copies), the rest it had there is dropped.
"""

import base64
import hashlib
import hmac
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg import sql

from apps.datasources.connectors.base import the_row
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
from apps.sandboxes.guard import reaches_outside, routine_reason

# Objects a template copy waits for: CREATE DATABASE refuses while a session is still
# leaving the template (a golden copy just built, or a reader that has just gone).
_TEMPLATE_BUSY_RETRIES = 20
_TOOL_TIMEOUT_SECONDS = 3600
# Passes of orphan removal: each pass can orphan rows one level further down.
_MAX_ORPHAN_PASSES = 20

_TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname),
       array_agg(quote_ident(a.attname) ORDER BY a.attnum)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
GROUP BY n.nspname, c.relname
ORDER BY 1
"""

# Sequence positions: pg_dump files them with table data, which the dump leaves out.
_SEQUENCES_SQL = """
SELECT format('%I.%I', schemaname, sequencename), last_value FROM pg_sequences WHERE last_value IS NOT NULL
"""

_EXTENSION_FUNCTIONS_SQL = """
SELECT quote_ident(e.extname), array_agg(p.proname::text)
FROM pg_extension e
JOIN pg_depend d ON d.refobjid = e.oid AND d.deptype = 'e' AND d.classid = 'pg_proc'::regclass
JOIN pg_proc p ON p.oid = d.objid
GROUP BY e.extname
"""
# Functions and procedures of the copy's own schemas (not of extensions), by signature.
_USER_FUNCTIONS_SQL = """
SELECT p.oid::regprocedure::text, l.lanname, p.prosrc
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  AND d.deptype = 'e')
"""

_FOREIGN_KEYS_SQL = """
SELECT format('%I.%I', cn.nspname, c.relname), format('%I.%I', pn.nspname, p.relname),
       (SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(f.conkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.num),
       (SELECT array_agg(quote_ident(a.attname) ORDER BY k.ord) FROM unnest(f.confkey) WITH ORDINALITY k(num, ord)
        JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.num)
FROM pg_constraint f
JOIN pg_class c ON c.oid = f.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class p ON p.oid = f.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
WHERE f.contype = 'f'
"""

_KEY_COLUMNS_SQL = """
SELECT a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indisprimary AND n.nspname = %s AND c.relname = %s
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""

# What a copy hands to its own login: every object of its own schemas that
# an extension did not bring. Indexes, constraints, triggers and owned sequences follow
# their table; array and row types follow their type or table.
_NOT_FROM_EXTENSION = (
    "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog}'::regclass AND d.objid = {alias}.oid "
    "AND d.deptype = 'e')"
)
_OWN_SCHEMA = "{alias}.nspname NOT LIKE 'pg\\_%' AND {alias}.nspname <> 'information_schema'"
_HANDED_SCHEMAS_SQL = f"""
SELECT format('SCHEMA %I', n.nspname) FROM pg_namespace n
WHERE {_OWN_SCHEMA.format(alias="n")} AND {_NOT_FROM_EXTENSION.format(catalog="pg_namespace", alias="n")}
"""
_HANDED_OBJECTS_SQL = f"""
SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
       WHEN 'S' THEN 'SEQUENCE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END || ' ' || format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c') AND {_OWN_SCHEMA.format(alias="n")}
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_class", alias="c")}
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
           AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
UNION ALL
SELECT 'TYPE ' || format('%I.%I', n.nspname, t.typname)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'r') AND {_OWN_SCHEMA.format(alias="n")}
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_type", alias="t")}
UNION ALL
SELECT CASE p.prokind WHEN 'a' THEN 'AGGREGATE ' ELSE 'ROUTINE ' END || p.oid::regprocedure::text
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_OWN_SCHEMA.format(alias="n")} AND {_NOT_FROM_EXTENSION.format(catalog="pg_proc", alias="p")}
UNION ALL
SELECT 'STATISTICS ' || format('%I.%I', n.nspname, s.stxname)
FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE {_OWN_SCHEMA.format(alias="n")}
UNION ALL
SELECT 'TEXT SEARCH CONFIGURATION ' || format('%I.%I', n.nspname, t.cfgname)
FROM pg_ts_config t JOIN pg_namespace n ON n.oid = t.cfgnamespace WHERE {_OWN_SCHEMA.format(alias="n")}
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_ts_config", alias="t")}
UNION ALL
SELECT 'TEXT SEARCH DICTIONARY ' || format('%I.%I', n.nspname, t.dictname)
FROM pg_ts_dict t JOIN pg_namespace n ON n.oid = t.dictnamespace WHERE {_OWN_SCHEMA.format(alias="n")}
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_ts_dict", alias="t")}
UNION ALL
SELECT 'COLLATION ' || format('%I.%I', n.nspname, c.collname)
FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace WHERE {_OWN_SCHEMA.format(alias="n")}
  AND {_NOT_FROM_EXTENSION.format(catalog="pg_collation", alias="c")}
"""

_UPLOAD_TYPES = {
    "integer": "bigint",
    "decimal": "numeric",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "text": "text",
}


# The server each command-line tool connects to, named when it cannot.
_TOOL_REACHES = {"pg_dump": "the source", "pg_restore": "the sandbox server"}


class PostgreSQLCopies(CopyEngine):
    engine = "postgresql"

    # Connections ------------------------------------------------------------------------

    def _server_kwargs(self, dbname: str) -> dict:
        return {
            "host": self.server.host,
            "port": self.server.port or 5432,
            "user": self.server.username,
            "password": self.server.password,
            "dbname": dbname,
            "connect_timeout": self.server.connect_timeout,
            "application_name": "querybase-sandbox",
        }

    @contextmanager
    def _server(self, dbname: str = "postgres") -> Iterator[psycopg.Connection]:
        """A connection as the copy-maker: copy mechanics only, never a user's SQL."""
        with self._connected(self._server_kwargs(dbname)) as connection:
            yield connection

    @contextmanager
    def _as_login(self, dbname: str) -> Iterator[psycopg.Connection]:
        """A connection to copy `dbname` as its own restricted login, for SQL built from
        what a user gave (an uploaded table's names and rows)."""
        login = self._login_of(dbname)
        kwargs = self._server_kwargs(dbname) | {"user": login.name, "password": login.password}
        with self._connected(kwargs) as connection:
            yield connection

    @contextmanager
    def _connected(self, kwargs: dict) -> Iterator[psycopg.Connection]:
        try:
            connection = psycopg.connect(**kwargs, autocommit=True)
        except psycopg.Error as error:
            raise NotConnected("the sandbox server", self.scrub(str(error))) from error
        try:
            yield connection
        except psycopg.Error as error:
            raise CopyFailed(self.scrub(f"The sandbox server refused: {error}")) from error
        finally:
            connection.close()

    @contextmanager
    def _source_snapshot(self) -> Iterator[psycopg.Connection]:
        """The source in one REPEATABLE READ, READ ONLY transaction (rolled back at the end)."""
        try:
            connection = psycopg.connect(
                host=self.source.host,
                port=self.source.port or 5432,
                user=self.source.username,
                password=self.source.password,
                dbname=self.source.database,
                connect_timeout=self.source.connect_timeout,
                application_name="querybase-sandbox-refresh",
                options="-c default_transaction_read_only=on",
            )
        except psycopg.Error as error:
            raise NotConnected("the source", self.scrub(str(error))) from error
        try:
            connection.read_only = True
            connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with connection.transaction(force_rollback=True):
                connection.execute("SET LOCAL search_path = pg_catalog")
                yield connection
        except psycopg.Error as error:
            raise CopyFailed(self.scrub(f"Reading the source failed: {error}")) from error
        finally:
            connection.close()

    # Golden copy --------------------------------------------------------------------------

    def build_golden(self, name: str, max_rows_per_table: int) -> GoldenReport:
        # Only the copy-maker connects to a golden copy: a change there would reach every
        # sandbox made from it, and a session left in it would stop them being made.
        self._create_closed(name, "template0")
        try:
            return self._fill_golden(name, max_rows_per_table)
        except BaseException:
            self.drop(name)
            raise

    def _create_closed(self, name: str, template: str) -> None:
        """Create database `name` from `template` with nobody but the copy-maker (its
        owner) allowed in. A database's rights are not copied from its template, and PUBLIC
        may connect to a new one: it is made closed to connections, so that no session of
        another login gets in before CONNECT is taken from PUBLIC (one that did would stay)."""
        database = sql.Identifier(name)
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} ALLOW_CONNECTIONS false").format(
            database, sql.Identifier(template)
        )
        with self._server() as server:
            for attempt in range(_TEMPLATE_BUSY_RETRIES):
                try:
                    server.execute(statement)
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == _TEMPLATE_BUSY_RETRIES - 1:
                        raise
                    time.sleep(0.1)
            try:
                server.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(database))
                server.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(database))
            except BaseException:
                server.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(database))
                raise

    def _hand_to(self, name: str, login: SandboxLogin) -> None:
        """Make `login` the owner of copy `name`'s objects (schemas first: a new owner
        needs CREATE on the object's schema), then let it in: one transaction."""
        role = sql.Identifier(login.name)
        with self._server(name) as copy, copy.transaction():
            copy.execute("SET LOCAL search_path = pg_catalog")
            objects = [row[0] for row in copy.execute(_HANDED_SCHEMAS_SQL).fetchall()]
            objects += [row[0] for row in copy.execute(_HANDED_OBJECTS_SQL).fetchall()]
            for target in objects:
                # `target` is "KIND name" with the name quoted by the catalog's own format()/regprocedure.
                copy.execute(sql.SQL("ALTER " + target + " OWNER TO {}").format(role))  # type: ignore[arg-type]
            copy.execute(_let_in(name, login))

    # The copies' logins ----------------------------------------------------------------------

    def create_login(self, login: SandboxLogin) -> None:
        """CREATE ROLE with LOGIN and no other right; the copy-maker becomes a member so it
        may hand objects to the role (ALTER … OWNER needs that). The one database the role
        may enter is granted by `copy`."""
        role = sql.Identifier(login.name)
        with self._server() as server:
            try:
                server.execute(
                    sql.SQL(
                        "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                        "NOBYPASSRLS NOINHERIT CONNECTION LIMIT {}"
                    ).format(role, sql.Literal(scram_verifier(login.password)), sql.Literal(LOGIN_CONNECTION_LIMIT))
                )
            except psycopg.errors.InsufficientPrivilege as error:
                raise LoginRightsMissing(
                    f"The sandbox server's user {self.server.username} may not create roles: sandboxes run users' "
                    "SQL as a restricted role it creates for each, so it needs CREATEROLE (and CREATEDB)."
                ) from error
            superuser = the_row(server.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone())
            if not superuser[0]:
                # PostgreSQL 16 and later grant the creator ADMIN only; SET is what ALTER … OWNER needs.
                with_set = sql.SQL(" WITH SET TRUE") if server.info.server_version >= 160000 else sql.SQL("")
                server.execute(sql.SQL("GRANT {} TO CURRENT_USER{}").format(role, with_set))

    def drop_login(self, name: str) -> None:
        """Drop the login, ending its sessions first: its copy's were ended with the copy,
        but one holding its password may be connected elsewhere (a database PUBLIC may
        enter), and a dropped role's session would live on."""
        with self._server() as server:
            # A copy-maker made NOINHERIT may not end them: the role is dropped all the same.
            with suppress(psycopg.errors.InsufficientPrivilege):
                server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name])
            server.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    def _fill_golden(self, name: str, max_rows: int) -> GoldenReport:
        with tempfile.TemporaryDirectory(prefix="qb-golden-") as workdir:
            dump = Path(workdir) / "schema.dump"
            with self._source_snapshot() as source:
                snapshot = the_row(source.execute("SELECT pg_export_snapshot()").fetchone())[0]
                self._pg_dump(snapshot, dump)
                self._pg_restore(dump, name, "pre-data")
                tables = source.execute(_TABLES_SQL).fetchall()
                foreign_keys = source.execute(_FOREIGN_KEYS_SQL).fetchall()
                sequences = source.execute(_SEQUENCES_SQL).fetchall()
                with self._server(name) as golden:
                    for sequence, position in sequences:
                        golden.execute("SELECT pg_catalog.setval(%s::regclass, %s, true)", [sequence, position])
                    sampled = {
                        table for table, columns in tables if self._copy_rows(source, golden, table, columns, max_rows)
                    }
                    if sampled:
                        sampled |= self._remove_orphans(golden, foreign_keys)
            self._pg_restore(dump, name, "post-data")
        notes = ["large objects are not copied", *self._remove_what_reaches_out(name)]
        return GoldenReport(sampled_tables=sorted(sampled), notes=notes)

    def _remove_what_reaches_out(self, name: str) -> list[str]:
        """Drop from the golden copy what could act beyond it once a user runs it: foreign
        servers (and their tables and user mappings), extensions with functions that open
        connections or touch files, and functions the sandbox wall would refuse if a user
        wrote them (apps/sandboxes/guard.py). CASCADE takes what depends on them."""
        notes = []
        with self._server(name) as golden:
            for (server,) in golden.execute("SELECT quote_ident(srvname) FROM pg_foreign_server").fetchall():
                golden.execute(f"DROP SERVER {server} CASCADE")
                notes.append(f"foreign server {server} and its foreign tables are not copied")
            for extension, functions in golden.execute(_EXTENSION_FUNCTIONS_SQL).fetchall():
                if reaches_outside(functions):
                    golden.execute(f"DROP EXTENSION {extension} CASCADE")
                    notes.append(f"extension {extension} is not copied: it reaches outside the database")
            for signature, language, body in golden.execute(_USER_FUNCTIONS_SQL).fetchall():
                reason = routine_reason(language, body or "")
                if reason is not None:
                    golden.execute(f"DROP ROUTINE IF EXISTS {signature} CASCADE")
                    notes.append(f"function {signature} is not copied: {reason}")
        return notes

    def _pg_dump(self, snapshot: str, target: Path) -> None:
        self._run_tool(
            [
                "pg_dump",
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--no-subscriptions",
                "--no-publications",
                "--exclude-table-data=*.*",
                "--no-blobs",
                f"--snapshot={snapshot}",
                f"--file={target}",
                "--host",
                self.source.host,
                "--port",
                str(self.source.port or 5432),
                "--username",
                self.source.username,
                "--dbname",
                self.source.database,
            ],
            password=self.source.password,
        )

    def _pg_restore(self, dump: Path, name: str, section: str) -> None:
        self._run_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--section={section}",
                "--host",
                self.server.host,
                "--port",
                str(self.server.port or 5432),
                "--username",
                self.server.username,
                "--dbname",
                name,
                str(dump),
            ],
            password=self.server.password,
        )

    def _run_tool(self, command: list[str], *, password: str) -> None:
        # The password goes in the environment, never on a command line others can list.
        env = {**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": str(self.server.connect_timeout)}
        try:
            finished = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=_TOOL_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise CopyFailed(f"{command[0]} could not run: {error}") from error
        if finished.returncode != 0:
            said = self.scrub(finished.stderr.strip()[:2000])
            if "connection to server" in said:
                raise NotConnected(_TOOL_REACHES[command[0]], f"{command[0]}: {said}")
            raise CopyFailed(f"{command[0]} failed: {said}")

    def _copy_rows(
        self, source: psycopg.Connection, golden: psycopg.Connection, table: str, columns: list[str], max_rows: int
    ) -> bool:
        """Stream at most `max_rows` rows of `table` into the golden copy; True if it has more.

        Text COPY, not binary: binary values of user-defined types carry type OIDs, which
        differ between the two databases."""
        # `table` and `columns` are quoted by the source's own format()/quote_ident().
        column_list = ", ".join(columns)
        more = the_row(source.execute(f"SELECT EXISTS (SELECT 1 FROM {table} OFFSET {int(max_rows)})").fetchone())[0]
        select = f"SELECT {column_list} FROM {table} LIMIT {int(max_rows)}"
        with (
            source.cursor().copy(f"COPY ({select}) TO STDOUT") as rows_out,
            golden.cursor().copy(f"COPY {table} ({column_list}) FROM STDIN") as rows_in,
        ):
            for block in rows_out:
                rows_in.write(block)
        return bool(more)

    def _remove_orphans(self, golden: psycopg.Connection, foreign_keys: list[tuple]) -> set[str]:
        """Rows pointing at a parent row a sample left out would fail the foreign keys added
        next: remove them (and, level by level, rows pointing at those). Returns the tables
        that lost rows, which are samples too."""
        thinned: set[str] = set()
        for _ in range(_MAX_ORPHAN_PASSES):
            removed = False
            for child, parent, child_columns, parent_columns in foreign_keys:
                present = " AND ".join(f"c.{column} IS NOT NULL" for column in child_columns)
                matches = " AND ".join(
                    f"p.{parent_column} = c.{child_column}"
                    for child_column, parent_column in zip(child_columns, parent_columns, strict=True)
                )
                deleted = golden.execute(
                    f"DELETE FROM {child} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {matches})"
                ).rowcount
                if deleted:
                    thinned.add(child)
                    removed = True
            if not removed:
                break
        return thinned

    # Sandboxes ----------------------------------------------------------------------------

    def copy(self, golden: str, name: str) -> None:
        login = self._login_of(name)  # before anything is made: without it, nothing is
        self._create_closed(name, golden)
        try:
            self._hand_to(name, login)
        except BaseException:
            self.drop(name)
            raise

    def adopt(self, name: str) -> None:
        login = self._login_of(name)
        self._take_from_shared_login(name, sql.Identifier(login.name), then=_let_in(name, login))

    def adopt_golden(self, name: str) -> None:
        self._take_from_shared_login(name, sql.SQL("CURRENT_USER"))

    def _take_from_shared_login(
        self, name: str, new_owner: sql.Composable, *, then: sql.Composed | None = None
    ) -> None:
        """Hand what the shared login owns in database `name` to `new_owner` and drop what
        else it has there (rights, default privileges), then run `then`: all in one
        transaction, so a pass that fails leaves the copy as it was. The shared login was
        made by QueryBase and never owned a database, so REASSIGN OWNED moves nothing
        outside this one; DROP OWNED also takes its CONNECT on the source's other copies,
        which it is losing anyway (a copy not adopted yet runs nothing)."""
        shared = self.shared_login.name if self.shared_login else None
        with self._server(name) as copy, copy.transaction():
            if shared and copy.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [shared]).fetchone():
                copy.execute(sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(shared), new_owner))
                copy.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(shared)))
            if then is not None:
                copy.execute(then)

    def drop(self, name: str) -> None:
        # FORCE ends the sessions still open in the copy (a user's pooled read connection).
        with self._server() as server:
            server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def exists(self, name: str) -> bool:
        with self._server() as server:
            return server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    def size_bytes(self, name: str) -> int:
        with self._server() as server:
            row = server.execute(
                "SELECT pg_database_size(datname) FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
        return int(row[0]) if row else 0

    def load_table(self, name: str, table: str, columns: list[UploadColumn], rows: Iterable[list]) -> None:
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(column.name), sql.SQL(_UPLOAD_TYPES[column.type]))
            for column in columns
        )
        names = sql.SQL(", ").join(sql.Identifier(column.name) for column in columns)
        # The table's and columns' names come from the user: made as the role, like their SQL.
        with self._as_login(name) as connection, connection.transaction():
            connection.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), definition))
            with connection.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)
            ) as copy:
                for row in rows:
                    copy.write_row(row)

    def quote_name(self, name: str) -> str:
        return sql.Identifier(name).as_string()

    def quote_table(self, schema: str, table: str) -> str:
        return sql.Identifier(schema, table).as_string()

    def key_columns(self, name: str, schema: str, table: str) -> list[str]:
        # As the role: the copy's functions and operators are the user's, and one of theirs
        # that fits this query's types better than the catalog's would run with the rights
        # of whoever asks. The copy-maker never runs a query inside a sandbox.
        with self._as_login(name) as connection:
            rows = connection.execute(_KEY_COLUMNS_SQL, [schema, table]).fetchall()
        return [row[0] for row in rows]

    def database_of(self, name: str) -> str:
        return name


def _let_in(name: str, login: SandboxLogin) -> sql.Composed:
    """Copy `name`'s own login, and no other, may enter it (CREATE: schemas of its own,
    as a superuser could)."""
    return sql.SQL("GRANT CONNECT, TEMPORARY, CREATE ON DATABASE {} TO {}").format(
        sql.Identifier(name), sql.Identifier(login.name)
    )


_SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, as
    psql's \\password computes it): CREATE ROLE is sent this, never the password, so a
    server logging DDL (log_statement) does not log the role's password. `password` is
    ASCII (generated by apps.sandboxes.roles), which SASLprep leaves as it is."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(value: bytes) -> str:
        return base64.b64encode(value).decode()

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
