"""How bad each fact of a credential audit is, and the statement that fixes it.

The connectors state facts (apps.datasources.connectors.privileges); the rules here turn
them into findings, one per kind of problem. Severities:

- high: the login can write, reach outside the database (files, programs, other
  connections), act on other sessions, or change who may do what. A source with
  `require_least_privilege` refuses reads while one stands.
- medium: the login can see more than the data it was given (other sessions' SQL, every
  table whatever its grants) or strain the server; reads stay allowed, the audit says so.
- low: worth knowing, harmless through QueryBase (e.g. PostgreSQL's default TEMPORARY).
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

from apps.datasources.connectors.privileges import PrivilegeFact, PrivilegeReport

EXAMPLES_SHOWN = 5


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


_RANK = {Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    title: str
    description: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": str(self.severity)}


def highest_severity(severities: list[Severity]) -> Severity | None:
    return max(severities, key=_RANK.__getitem__, default=None)


# Judging the facts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    severity: Severity
    title: str
    # What the login can do, completing "<login> ..."; and the statements that fix it.
    describe: Callable[[list[PrivilegeFact], PrivilegeReport], str]
    fix: Callable[[list[PrivilegeFact], PrivilegeReport], str]


def judge(report: PrivilegeReport) -> list[Finding]:
    """One finding per kind of problem, the worst first."""
    by_code: dict[str, list[PrivilegeFact]] = {}
    for fact in report.facts:
        code = finding_code(fact)
        if code:
            by_code.setdefault(code, []).append(fact)
    findings = []
    for code, facts in by_code.items():
        rule = RULES[code]
        findings.append(
            Finding(
                code=code,
                severity=rule.severity,
                title=rule.title,
                description=f"{_login(report)} {rule.describe(facts, report)}",
                fix=rule.fix(facts, report),
            )
        )
    return sorted(findings, key=lambda finding: (-_RANK[finding.severity], finding.code))


def _login(report: PrivilegeReport) -> str:
    return f"The login {report.login}"


# PostgreSQL

_PG_ATTRIBUTE_CODES = {
    "rolsuper": "pg_superuser",
    "rolcreaterole": "pg_createrole",
    "rolcreatedb": "pg_createdb",
    "rolreplication": "pg_replication",
    "rolbypassrls": "pg_bypassrls",
}
_PG_ATTRIBUTE_KEYWORDS = {
    "rolsuper": "SUPERUSER",
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolreplication": "REPLICATION",
    "rolbypassrls": "BYPASSRLS",
}

# MySQL / MariaDB privileges by the finding they make. Global privileges not listed
# anywhere here are unknown administrative ones: high (fail closed).
MYSQL_WRITE_PRIVILEGES = {
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "ALTER",
    "INDEX",
    "CREATE VIEW",
    "CREATE ROUTINE",
    "ALTER ROUTINE",
    "EXECUTE",
    "TRIGGER",
    "EVENT",
    "LOCK TABLES",
    "REFERENCES",
    "DELETE HISTORY",
    "CREATE TABLESPACE",
}
_MYSQL_CODES = {
    "ALL PRIVILEGES": "mysql_all_privileges",
    "SUPER": "mysql_super",
    "FILE": "mysql_file",
    "PROCESS": "mysql_process",
    "SHUTDOWN": "mysql_shutdown",
    "RELOAD": "mysql_reload",
    "CREATE USER": "mysql_create_user",
    "GRANT OPTION": "mysql_grant_option",
    "PROXY": "mysql_proxy",
    "CREATE TEMPORARY TABLES": "mysql_temporary_tables",
    "SHOW DATABASES": "mysql_show_databases",
    "REPLICATION SLAVE": "mysql_replication",
    "REPLICATION REPLICA": "mysql_replication",
    "REPLICATION CLIENT": "mysql_monitoring",
    "BINLOG MONITOR": "mysql_monitoring",
    "SLAVE MONITOR": "mysql_monitoring",
    "REPLICA MONITOR": "mysql_monitoring",
    **{name: "mysql_write_privileges" for name in MYSQL_WRITE_PRIVILEGES},
}
_MYSQL_READ_PRIVILEGES = {"SELECT", "SHOW VIEW", "SHOW CREATE ROUTINE"}
_MYSQL_SYSTEM_SCHEMAS = ("`mysql`",)


def finding_code(fact: PrivilegeFact) -> str:
    """The finding a fact belongs to ("" for a fact that is fine)."""
    if fact.code == "pg_attribute":
        return _PG_ATTRIBUTE_CODES[fact.subject]
    if fact.code == "pg_role_member":
        return f"pg_{fact.subject.removeprefix('pg_')}_member"
    if fact.code == "mysql_privilege":
        return _mysql_code(fact)
    return _FACT_CODES[fact.code]


_FACT_CODES = {
    "pg_dblink": "pg_dblink_execute",
    "pg_file_function": "pg_file_functions",
    "pg_directory_function": "pg_directory_functions",
    "pg_table_write": "pg_table_write",
    "pg_table_owner": "pg_table_owner",
    "pg_schema_create": "pg_schema_create",
    "pg_database_create": "pg_database_create",
    "pg_database_temp": "pg_database_temp",
    "mysql_role_unreadable": "mysql_role_unreadable",
    "mysql_unparsed_grant": "mysql_unparsed_grant",
}


def _mysql_code(fact: PrivilegeFact) -> str:
    if fact.subject in _MYSQL_CODES:
        return _MYSQL_CODES[fact.subject]
    if fact.subject == "SELECT" and fact.level == "global":
        return "mysql_global_select"
    if fact.subject == "SELECT" and fact.objects[0].startswith(_MYSQL_SYSTEM_SCHEMAS):
        return "mysql_system_schema_select"
    if fact.subject in _MYSQL_READ_PRIVILEGES:
        return ""
    return "mysql_admin_privileges"


def _examples(names: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(names[:EXAMPLES_SHOWN])
    more = len(names) - EXAMPLES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _via(fact: PrivilegeFact) -> str:
    return f" through its membership in {fact.via}" if fact.via else ""


def _pg_attribute_text(what: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    """`what` completes "… which lets it …"; the attribute is held directly or through roles."""

    def describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
        keyword = _PG_ATTRIBUTE_KEYWORDS[facts[0].subject]
        holders = []
        for fact in facts:
            if not fact.objects:
                holders.append(f"has {keyword}")
                continue
            through = f" (granted through {fact.via})" if fact.via != fact.objects[0] else ""
            holders.append(f"may SET ROLE {fact.objects[0]}{through}, a role with {keyword}")
        return f"{'; it '.join(holders)}, which lets it {what}"

    return describe


def _pg_attribute_fix(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    statements = []
    for fact in facts:
        if fact.via:
            statements.append(f"REVOKE {fact.via} FROM {report.grantee_sql};")
        else:
            statements.append(f"ALTER ROLE {report.grantee_sql} NO{_PG_ATTRIBUTE_KEYWORDS[fact.subject]};")
    return " ".join(dict.fromkeys(statements))


def _pg_member_describe(what: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    def describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
        fact = facts[0]
        how = f"through {fact.via}" if fact.via else "directly"
        return f"is a member of {fact.subject} ({how}): it {what}"

    return describe


def _pg_member_fix(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    fact = facts[0]
    if fact.via:
        return f"REVOKE {fact.via} FROM {report.grantee_sql}; (or REVOKE {fact.subject} FROM {fact.via};)"
    return f"REVOKE {fact.subject} FROM {report.grantee_sql};"


def _pg_function_describe(what: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    def describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
        functions = [name for fact in facts for name in fact.objects]
        return f"may EXECUTE {len(functions)} function(s) that {what}: {_examples(functions)}."

    return describe


def _pg_revoke_execute(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    statements = [
        f"REVOKE EXECUTE ON FUNCTION {', '.join(fact.objects)} FROM {_grantees(fact, report)};" for fact in facts
    ]
    return " ".join(statements)


def _pg_table_write_describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    tables = [name for fact in facts for name in fact.objects]
    privileges = sorted({name.strip() for fact in facts for name in fact.subject.split(",")})
    return (
        f"may {', '.join(privileges)} on {len(tables)} table(s): {_examples(tables)}. Only the read-only "
        "transaction stands between such a login and a changed row."
    )


def _pg_table_write_fix(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    return " ".join(
        f"REVOKE {fact.subject} ON ALL TABLES IN SCHEMA {fact.level} FROM {', '.join(fact.grantees)};" for fact in facts
    )


def _pg_revoke_on(kind: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    def fix(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
        return " ".join(
            f"REVOKE {fact.subject} ON {kind} {fact.objects[0]} FROM {_grantees(fact, report)};" for fact in facts
        )

    return fix


def _grantees(fact: PrivilegeFact, report: PrivilegeReport) -> str:
    return ", ".join(fact.grantees or [report.grantee_sql])


def _objects(facts: list[PrivilegeFact]) -> str:
    return _examples([name for fact in facts for name in fact.objects])


# MySQL / MariaDB


def _mysql_grants(facts: list[PrivilegeFact]) -> str:
    parts = []
    for fact in facts:
        via = f" (through role {fact.via})" if fact.via else ""
        parts.append(f"{fact.subject}{fact.columns and ' ' + fact.columns} on {fact.objects[0]}{via}")
    return _examples(list(dict.fromkeys(parts)))


def _mysql_describe(what: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    def describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
        return f"holds {_mysql_grants(facts)}: it {what}"

    return describe


def _mysql_revoke(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    """REVOKE per (object, grantee), privileges together; column grants keep their columns."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for fact in facts:
        grantee = fact.grantees[0] if fact.grantees else report.grantee_sql
        privilege = f"{fact.subject} {fact.columns}" if fact.columns else fact.subject
        grouped.setdefault((fact.objects[0], grantee), []).append(privilege)
    statements = [
        f"REVOKE {', '.join(dict.fromkeys(privileges))} ON {on} FROM {grantee};"
        for (on, grantee), privileges in grouped.items()
    ]
    return " ".join(statements)


def _mysql_role_describe(facts: list[PrivilegeFact], report: PrivilegeReport) -> str:
    roles = ", ".join(fact.subject for fact in facts)
    return (
        f"has the role(s) {roles}, whose grants could not be read. What it can do through them is "
        "unknown, so the audit cannot call it least-privilege."
    )


def _fixed(text: str) -> Callable[[list[PrivilegeFact], PrivilegeReport], str]:
    return lambda facts, report: text


RULES: dict[str, Rule] = {
    # PostgreSQL role attributes
    "pg_superuser": Rule(
        Severity.HIGH,
        "Superuser",
        _pg_attribute_text(
            "read and write server files, run programs, terminate sessions and turn a read-only "
            "transaction back into a writing one: no database check binds a superuser."
        ),
        _pg_attribute_fix,
    ),
    "pg_createrole": Rule(
        Severity.HIGH,
        "May create roles",
        _pg_attribute_text(
            "create roles and grant membership in others (such as pg_execute_server_program), "
            "which is close to being a superuser."
        ),
        _pg_attribute_fix,
    ),
    "pg_replication": Rule(
        Severity.HIGH,
        "May replicate",
        _pg_attribute_text(
            "stream every change of every database, whatever the table grants, and create "
            "replication slots that keep WAL until the disk fills."
        ),
        _pg_attribute_fix,
    ),
    "pg_createdb": Rule(
        Severity.MEDIUM,
        "May create databases",
        _pg_attribute_text("create databases on the server (disk and connections)."),
        _pg_attribute_fix,
    ),
    "pg_bypassrls": Rule(
        Severity.MEDIUM,
        "Bypasses row-level security",
        _pg_attribute_text("read rows that row-level security policies would hide."),
        _pg_attribute_fix,
    ),
    # PostgreSQL predefined roles
    "pg_signal_backend_member": Rule(
        Severity.HIGH,
        "May cancel and terminate other sessions",
        _pg_member_describe(
            "can cancel or terminate other sessions (pg_cancel_backend, pg_terminate_backend), the "
            "applications' included. A read-only transaction does not stop that."
        ),
        _pg_member_fix,
    ),
    "pg_read_server_files_member": Rule(
        Severity.HIGH,
        "May read server files",
        _pg_member_describe(
            "can read any file the database server's operating-system user can read (COPY … FROM a file, pg_read_file)."
        ),
        _pg_member_fix,
    ),
    "pg_write_server_files_member": Rule(
        Severity.HIGH,
        "May write server files",
        _pg_member_describe("can write files on the database server (COPY … TO a file)."),
        _pg_member_fix,
    ),
    "pg_execute_server_program_member": Rule(
        Severity.HIGH,
        "May run programs on the server",
        _pg_member_describe(
            "can run any program on the database server as its operating-system user (COPY … TO/FROM PROGRAM)."
        ),
        _pg_member_fix,
    ),
    "pg_write_all_data_member": Rule(
        Severity.HIGH,
        "May write every table",
        _pg_member_describe("has INSERT, UPDATE and DELETE on every table, whatever the table grants say."),
        _pg_member_fix,
    ),
    "pg_read_all_data_member": Rule(
        Severity.MEDIUM,
        "May read every table",
        _pg_member_describe(
            "can read every table, view and sequence whatever their grants say, so reads are not limited "
            "to what this source was meant to expose."
        ),
        _pg_member_fix,
    ),
    "pg_monitor_member": Rule(
        Severity.MEDIUM,
        "Sees every session's SQL",
        _pg_member_describe(
            "sees the SQL text of every session (which may contain secrets), all settings, and can list "
            "the server's log and WAL directories."
        ),
        _pg_member_fix,
    ),
    "pg_read_all_stats_member": Rule(
        Severity.MEDIUM,
        "Sees every session's SQL",
        _pg_member_describe("sees the SQL text of every session, which may contain secrets."),
        _pg_member_fix,
    ),
    "pg_read_all_settings_member": Rule(
        Severity.LOW,
        "Reads every setting",
        _pg_member_describe("can read every configuration setting, file paths included."),
        _pg_member_fix,
    ),
    "pg_checkpoint_member": Rule(
        Severity.LOW,
        "May force checkpoints",
        _pg_member_describe("can force a CHECKPOINT, a burst of disk writes."),
        _pg_member_fix,
    ),
    # PostgreSQL functions, tables, schemas, database
    "pg_dblink_execute": Rule(
        Severity.HIGH,
        "May use dblink",
        _pg_function_describe(
            "open a separate connection (dblink): a statement sent there runs outside the read-only "
            "transaction and can write"
        ),
        lambda facts, report: _pg_revoke_execute(facts, report) + " (Or DROP EXTENSION dblink; if nothing uses it.)",
    ),
    "pg_file_functions": Rule(
        Severity.HIGH,
        "May read or write server files",
        _pg_function_describe(
            "read or write files on the database server, which a read-only transaction does not stop"
        ),
        _pg_revoke_execute,
    ),
    "pg_directory_functions": Rule(
        Severity.MEDIUM,
        "May list server directories",
        _pg_function_describe("list directories or inspect files on the database server"),
        _pg_revoke_execute,
    ),
    "pg_table_write": Rule(Severity.HIGH, "May change table data", _pg_table_write_describe, _pg_table_write_fix),
    "pg_table_owner": Rule(
        Severity.HIGH,
        "Owns tables",
        lambda facts, report: (
            f"owns {len(facts[0].objects)} table(s): {_objects(facts)}. An owner can grant itself any privilege "
            "on them, alter and drop them."
        ),
        lambda facts, report: f"REASSIGN OWNED BY {report.grantee_sql} TO <the owning role>;",
    ),
    "pg_schema_create": Rule(
        Severity.HIGH,
        "May create objects in a schema",
        lambda facts, report: (
            f"may CREATE in schema(s) {_objects(facts)}: new tables, and functions or operators that "
            "shadow others' in the search_path."
        ),
        _pg_revoke_on("SCHEMA"),
    ),
    "pg_database_create": Rule(
        Severity.HIGH,
        "May create schemas in the database",
        lambda facts, report: f"may CREATE schemas in database {_objects(facts)}.",
        _pg_revoke_on("DATABASE"),
    ),
    "pg_database_temp": Rule(
        Severity.LOW,
        "May create temporary tables",
        lambda facts, report: (
            f"may create temporary tables in database {_objects(facts)} (PostgreSQL grants TEMPORARY to "
            "PUBLIC by default). They vanish with the session, and the read-only transaction refuses "
            "CREATE TEMP TABLE, so reads through QueryBase cannot use it; revoke it to make it a choice."
        ),
        _pg_revoke_on("DATABASE"),
    ),
    # MySQL / MariaDB
    "mysql_all_privileges": Rule(
        Severity.HIGH,
        "Holds ALL PRIVILEGES",
        _mysql_describe("can read, change and drop everything there, and more."),
        _mysql_revoke,
    ),
    "mysql_super": Rule(
        Severity.HIGH,
        "SUPER",
        _mysql_describe(
            "can change global settings (read_only included), kill any session and write while the server is read-only."
        ),
        _mysql_revoke,
    ),
    "mysql_file": Rule(
        Severity.HIGH,
        "May read and write server files",
        _mysql_describe(
            "can read server files with LOAD_FILE() and write them with SELECT … INTO OUTFILE/DUMPFILE, "
            "which a read-only transaction does not stop."
        ),
        _mysql_revoke,
    ),
    "mysql_shutdown": Rule(
        Severity.HIGH, "May shut the server down", _mysql_describe("can stop the server."), _mysql_revoke
    ),
    "mysql_create_user": Rule(
        Severity.HIGH,
        "May manage users",
        _mysql_describe("can create, rename and drop accounts."),
        _mysql_revoke,
    ),
    "mysql_grant_option": Rule(
        Severity.HIGH,
        "May grant privileges",
        _mysql_describe("can pass its privileges on to other accounts."),
        _mysql_revoke,
    ),
    "mysql_proxy": Rule(
        Severity.HIGH, "May act as another account", _mysql_describe("can proxy as other accounts."), _mysql_revoke
    ),
    "mysql_replication": Rule(
        Severity.HIGH,
        "May read the binary log",
        _mysql_describe("can stream the binary log: every change to every database, whatever the grants."),
        _mysql_revoke,
    ),
    "mysql_write_privileges": Rule(
        Severity.HIGH,
        "May change data or schema",
        _mysql_describe(
            "can change rows, tables or routines. Only the read-only session stands between such a login "
            "and a change, and MySQL DDL commits implicitly."
        ),
        _mysql_revoke,
    ),
    "mysql_admin_privileges": Rule(
        Severity.HIGH,
        "Holds administrative privileges",
        _mysql_describe("can administer the server beyond reading data."),
        _mysql_revoke,
    ),
    "mysql_role_unreadable": Rule(
        Severity.HIGH,
        "Role grants unknown",
        _mysql_role_describe,
        lambda facts, report: " ".join(f"REVOKE {fact.subject} FROM {report.grantee_sql};" for fact in facts),
    ),
    "mysql_unparsed_grant": Rule(
        Severity.HIGH,
        "Grant not understood",
        lambda facts, report: (
            f"holds {len(facts)} grant(s) in a form the audit does not understand, so it cannot call the "
            "login least-privilege."
        ),
        _fixed(
            "Run SHOW GRANTS for this account, revoke everything beyond SELECT on the source database, "
            "and run the audit again."
        ),
    ),
    "mysql_process": Rule(
        Severity.MEDIUM,
        "Sees every session's SQL",
        _mysql_describe("sees the SQL text of every session (SHOW PROCESSLIST), which may contain secrets."),
        _mysql_revoke,
    ),
    "mysql_reload": Rule(
        Severity.MEDIUM,
        "May flush",
        _mysql_describe("can FLUSH logs, privileges and tables (FLUSH TABLES WITH READ LOCK stalls every writer)."),
        _mysql_revoke,
    ),
    "mysql_global_select": Rule(
        Severity.MEDIUM,
        "Reads every database",
        _mysql_describe("can read every database on the server, the password hashes in mysql.user included."),
        _mysql_revoke,
    ),
    "mysql_system_schema_select": Rule(
        Severity.MEDIUM,
        "Reads the system schema",
        _mysql_describe("can read the mysql system schema (accounts and their password hashes, among others)."),
        _mysql_revoke,
    ),
    "mysql_monitoring": Rule(
        Severity.MEDIUM,
        "Sees replication and server status",
        _mysql_describe("can read replication and binary log status."),
        _mysql_revoke,
    ),
    "mysql_temporary_tables": Rule(
        Severity.LOW,
        "May create temporary tables",
        _mysql_describe(
            "can create temporary tables; they vanish with the session and cannot change the source's data."
        ),
        _mysql_revoke,
    ),
    "mysql_show_databases": Rule(
        Severity.LOW,
        "Lists every database",
        _mysql_describe("can list the names of every database on the server."),
        _mysql_revoke,
    ),
}
