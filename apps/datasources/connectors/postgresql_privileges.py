"""The credential audit's queries for PostgreSQL: what the connected login can do.

Everything is asked of the server as the login itself (has_*_privilege, pg_has_role), so
grants through PUBLIC, through role membership and through ownership all count.
"""

import psycopg

from apps.datasources.connectors.base import the_row
from apps.datasources.connectors.privileges import PrivilegeFact, PrivilegeReport

# Predefined roles whose members can do more than read the data they were given.
WATCHED_ROLES = (
    "pg_signal_backend",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_monitor",
    "pg_read_all_stats",
    "pg_read_all_settings",
    "pg_checkpoint",
)
ROLE_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")

# Functions a read-only transaction does not stop: they read or write server files or
# open connections of their own (dblink* is matched by prefix). pg_read_file_old is left
# out: it checks for a superuser itself, whatever its EXECUTE grant says.
FILE_FUNCTIONS = (
    "lo_import",
    "lo_export",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_file_sync",
)
DIRECTORY_FUNCTIONS = (
    "pg_ls_dir",
    "pg_stat_file",
    "pg_logdir_ls",
    "pg_ls_logdir",
    "pg_ls_waldir",
    "pg_ls_tmpdir",
    "pg_ls_archive_statusdir",
    "pg_ls_logicalsnapdir",
    "pg_ls_logicalmapdir",
    "pg_ls_replslotdir",
)
WRITE_PRIVILEGES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER")

_IDENTITY_SQL = f"""
SELECT current_user, current_database(), {", ".join(ROLE_ATTRIBUTES)}
FROM pg_roles WHERE rolname = current_user
"""

# Every role the login belongs to, directly or through other roles, with the role
# granted to the login itself that leads there (`via`).
_MEMBERSHIPS_SQL = f"""
WITH RECURSIVE granted(roleid, via) AS (
    SELECT m.roleid, m.roleid FROM pg_auth_members m
    WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  UNION
    SELECT m.roleid, g.via FROM pg_auth_members m JOIN granted g ON m.member = g.roleid
)
SELECT r.rolname, quote_ident(r.rolname), quote_ident(v.rolname), {", ".join("r." + name for name in ROLE_ATTRIBUTES)}
FROM granted g JOIN pg_roles r ON r.oid = g.roleid JOIN pg_roles v ON v.oid = g.via
ORDER BY r.rolname, v.rolname
"""

_WATCHED_ROLES_SQL = """
SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND pg_has_role(current_user, oid, 'MEMBER')
"""


def _grantees_sql(acl: str, default_kind: str, owner: str, privileges: str) -> str:
    """Who holds the privilege for the login: PUBLIC, the login or one of its roles."""
    return f"""ARRAY(
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(g.rolname) END
        FROM aclexplode(COALESCE({acl}, acldefault('{default_kind}', {owner}))) a
        LEFT JOIN pg_roles g ON g.oid = a.grantee
        WHERE a.privilege_type IN ({privileges})
          AND (a.grantee = 0 OR pg_has_role(current_user, a.grantee, 'MEMBER'))
        ORDER BY 1)"""


_FUNCTIONS_SQL = f"""
SELECT p.oid::regprocedure::text, p.proname, {_grantees_sql("p.proacl", "f", "p.proowner", "'EXECUTE'")}
FROM pg_proc p
WHERE (p.proname LIKE 'dblink%%' OR p.proname = ANY(%s)) AND has_function_privilege(p.oid, 'EXECUTE')
ORDER BY 1
"""

# Used in queries without parameters: a literal % stays single.
_USER_SCHEMAS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"""

_WRITE_LIST = ", ".join(f"'{name}'" for name in WRITE_PRIVILEGES)

# INSERT/UPDATE may be granted on single columns: has_any_column_privilege sees those.
_TABLES_SQL = f"""
SELECT format('%I.%I', n.nspname, c.relname), n.nspname,
       pg_has_role(current_user, c.relowner, 'MEMBER'),
       ARRAY(SELECT p FROM unnest(ARRAY[{_WRITE_LIST}]) p
             WHERE CASE WHEN p IN ('INSERT', 'UPDATE') THEN has_any_column_privilege(c.oid, p)
                        ELSE has_table_privilege(c.oid, p) END),
       {_grantees_sql("c.relacl", "r", "c.relowner", _WRITE_LIST)}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'f') AND {_USER_SCHEMAS}
ORDER BY 1
"""

_SCHEMAS_SQL = f"""
SELECT quote_ident(n.nspname), {_grantees_sql("n.nspacl", "n", "n.nspowner", "'CREATE'")}
FROM pg_namespace n
WHERE {_USER_SCHEMAS} AND has_schema_privilege(n.oid, 'CREATE')
ORDER BY 1
"""

_DATABASE_SQL = f"""
SELECT quote_ident(d.datname),
       has_database_privilege(d.oid, 'CREATE'), {_grantees_sql("d.datacl", "d", "d.datdba", "'CREATE'")},
       has_database_privilege(d.oid, 'TEMPORARY'), {_grantees_sql("d.datacl", "d", "d.datdba", "'TEMPORARY'")}
FROM pg_database d WHERE d.datname = current_database()
"""


def audit_privileges(connection: psycopg.Connection) -> PrivilegeReport:
    """What the login of `connection` can do in its database and on its server."""
    login, database, *attributes = the_row(connection.execute(_IDENTITY_SQL).fetchone())
    report = PrivilegeReport(login=login, grantee_sql=_quote(connection, login), database=database)
    if attributes[0]:
        # A superuser bypasses every check below: one finding says it all.
        report.facts.append(PrivilegeFact("pg_attribute", subject="rolsuper"))
        return report
    report.facts.extend(
        PrivilegeFact("pg_attribute", subject=name) for name, on in zip(ROLE_ATTRIBUTES, attributes, strict=True) if on
    )
    report.facts.extend(_membership_facts(connection))
    report.facts.extend(_function_facts(connection))
    report.facts.extend(_table_facts(connection, report.grantee_sql))
    report.facts.extend(_schema_and_database_facts(connection))
    return report


def _membership_facts(connection: psycopg.Connection) -> list[PrivilegeFact]:
    facts: list[PrivilegeFact] = []
    vias: dict[str, list[str]] = {}
    for role, quoted_role, via, *attributes in connection.execute(_MEMBERSHIPS_SQL).fetchall():
        vias.setdefault(role, []).append("" if via == quoted_role else via)
        # A member may SET ROLE to it, and then holds its attributes too.
        facts.extend(
            PrivilegeFact("pg_attribute", subject=name, objects=(quoted_role,), via=via)
            for name, on in zip(ROLE_ATTRIBUTES, attributes, strict=True)
            if on
        )
    members_of = [row[0] for row in connection.execute(_WATCHED_ROLES_SQL, [list(WATCHED_ROLES)]).fetchall()]
    for role in sorted(members_of):
        via = min(vias.get(role, [""]))  # "" (direct) sorts first
        facts.append(PrivilegeFact("pg_role_member", subject=role, via=via))
    return facts


def _function_facts(connection: psycopg.Connection) -> list[PrivilegeFact]:
    rows = connection.execute(_FUNCTIONS_SQL, [list(FILE_FUNCTIONS + DIRECTORY_FUNCTIONS)]).fetchall()
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for signature, name, grantees in rows:
        kind = "pg_dblink" if name.startswith("dblink") else "pg_file_function"
        if name in DIRECTORY_FUNCTIONS:
            kind = "pg_directory_function"
        groups.setdefault((kind, tuple(grantees)), []).append(signature)
    return [
        PrivilegeFact(kind, subject="EXECUTE", objects=tuple(signatures), grantees=grantees)
        for (kind, grantees), signatures in groups.items()
    ]


def _table_facts(connection: psycopg.Connection, login_sql: str) -> list[PrivilegeFact]:
    facts = []
    writable: dict[str, tuple[set[str], set[str], list[str]]] = {}
    owned = []
    for table, schema, is_owner, privileges, grantees in connection.execute(_TABLES_SQL).fetchall():
        if is_owner:
            owned.append(table)
        if not privileges:
            continue
        schema_privileges, schema_grantees, tables = writable.setdefault(schema, (set(), set(), []))
        schema_privileges.update(privileges)
        # No table-level grantee: a column grant to the login itself, or pg_write_all_data.
        schema_grantees.update(grantees or [login_sql])
        tables.append(table)
    if owned:
        facts.append(PrivilegeFact("pg_table_owner", subject="OWNER", objects=tuple(owned)))
    for schema, (privileges, grantees, tables) in sorted(writable.items()):
        ordered = tuple(name for name in WRITE_PRIVILEGES if name in privileges)
        facts.append(
            PrivilegeFact(
                "pg_table_write",
                subject=", ".join(ordered),
                objects=tuple(tables),
                level=schema,
                grantees=tuple(sorted(grantees)),
            )
        )
    return facts


def _schema_and_database_facts(connection: psycopg.Connection) -> list[PrivilegeFact]:
    facts = [
        PrivilegeFact("pg_schema_create", subject="CREATE", objects=(schema,), grantees=tuple(grantees))
        for schema, grantees in connection.execute(_SCHEMAS_SQL).fetchall()
    ]
    database, create, create_grantees, temp, temp_grantees = the_row(connection.execute(_DATABASE_SQL).fetchone())
    if create:
        facts.append(
            PrivilegeFact("pg_database_create", subject="CREATE", objects=(database,), grantees=tuple(create_grantees))
        )
    if temp:
        facts.append(
            PrivilegeFact("pg_database_temp", subject="TEMPORARY", objects=(database,), grantees=tuple(temp_grantees))
        )
    return facts


def _quote(connection: psycopg.Connection, name: str) -> str:
    return the_row(connection.execute("SELECT quote_ident(%s)", [name]).fetchone())[0]
