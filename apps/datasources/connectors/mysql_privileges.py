"""The credential audit's queries for MySQL/MariaDB: parse SHOW GRANTS of the login and
of the roles granted to it.

MariaDB's SHOW GRANTS lines carry the password hash (`IDENTIFIED BY PASSWORD '*…'`).
Every quoted string is blanked out before a line is looked at, and only the parsed
privileges leave this module: a hash can never reach a finding, a log or a response.
"""

import re
from dataclasses import dataclass

import MySQLdb

from apps.datasources.connectors.privileges import PrivilegeFact, PrivilegeReport

_ROLE_GRANT = re.compile(r"^GRANT\s+(?P<roles>`[^`]*`(?:@`[^`]*`)?(?:\s*,\s*`[^`]*`(?:@`[^`]*`)?)*)\s+TO\s+(?P<to>.+)$")
_PRIVILEGE_GRANT = re.compile(
    r"^GRANT\s+(?P<privileges>.+?)\s+ON\s+(?:(?P<kind>PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE)\s+)?"
    r"(?P<on>\S+)\s+TO\s+(?P<to>.+)$",
    re.IGNORECASE,
)
_GRANTEE = re.compile(r"^(`[^`]*`(?:@`[^`]*`)?)")
_GRANT_OPTION = re.compile(r"\bWITH\b.*\bGRANT\s+OPTION\b", re.IGNORECASE)


@dataclass(frozen=True)
class Grant:
    """One privilege at one level, as a GRANT line gives it."""

    privilege: str  # upper case, column list dropped: "INSERT", "ALL PRIVILEGES", "GRANT OPTION"
    on: str  # "*.*", "`db`.*", "`db`.`table`", "PROCEDURE `db`.`p`"
    level: str  # global, database, table, routine, proxy
    columns: str = ""  # "(`a`, `b`)" for a column-level grant


def audit_privileges(connection: MySQLdb.Connection) -> PrivilegeReport:
    """What the login of `connection` can do, through its own grants and its roles'."""
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT CURRENT_USER(), DATABASE()")
        login, database = cursor.fetchone()
        report = PrivilegeReport(login=login, grantee_sql=_account_sql(login), database=database or "")
        user_lines = _show_grants(cursor, "CURRENT_USER()")
    finally:
        cursor.close()
    roles: list[str] = []
    for line in user_lines:
        report.facts.extend(_facts_of_line(line, via="", roles=roles))
    # MariaDB shows a role's grants (with the roles under it) only while it is the current
    # role; the login may take any role granted to it, so each one counts.
    for role in roles:
        cursor = connection.cursor()
        try:
            cursor.execute(f"SET ROLE {role}")
            lines = _show_grants(cursor, role)
        except MySQLdb.Error:
            report.facts.append(PrivilegeFact("mysql_role_unreadable", subject=role))
            continue
        finally:
            cursor.close()
        for line in lines:
            report.facts.extend(_facts_of_line(line, via=role, roles=[]))
    return report


def _show_grants(cursor, account_sql: str) -> list[str]:
    cursor.execute(f"SHOW GRANTS FOR {account_sql}")
    return [blank_strings(row[0]) for row in cursor.fetchall()]


def _facts_of_line(line: str, *, via: str, roles: list[str]) -> list[PrivilegeFact]:
    """Facts of one GRANT line (strings already blanked); role grants to the login go to `roles`."""
    if not line.upper().startswith("GRANT "):
        return []  # SET DEFAULT ROLE and the like grant nothing
    role_grant = _ROLE_GRANT.match(line)
    if role_grant:
        if not via:
            roles.extend(name.strip() for name in role_grant["roles"].split(","))
        return []
    match = _PRIVILEGE_GRANT.match(line)
    if match is None:
        # A form we do not know: fail closed, say so without the line (it may carry secrets).
        return [PrivilegeFact("mysql_unparsed_grant", via=via)]
    grantee = _grantee(match["to"])
    facts = [
        PrivilegeFact(
            "mysql_privilege",
            subject=grant.privilege,
            objects=(grant.on,),
            level=grant.level,
            via=via,
            grantees=(grantee,),
            columns=grant.columns,
        )
        for grant in parse_privileges(match["privileges"], match["on"], match["kind"])
    ]
    if _GRANT_OPTION.search(match["to"]):
        facts.append(
            PrivilegeFact(
                "mysql_privilege",
                subject="GRANT OPTION",
                objects=(_on(match["on"], match["kind"]),),
                level=_level(match["on"], match["kind"]),
                via=via,
                grantees=(grantee,),
            )
        )
    return facts


def parse_privileges(privileges: str, on: str, kind: str | None = None) -> list[Grant]:
    """`SELECT, INSERT (`a`, `b`)` on `db`.* → one Grant per privilege."""
    grants = []
    for part in _split_top_level(privileges):
        name, _, columns = part.partition("(")
        name = " ".join(name.split()).upper()
        columns = f"({columns.strip()}" if columns else ""
        if name == "USAGE":
            continue  # "no privileges"
        if name == "ALL":
            name = "ALL PRIVILEGES"
        grants.append(Grant(privilege=name, on=_on(on, kind), level=_level(on, kind), columns=columns))
    return grants


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _on(on: str, kind: str | None) -> str:
    return f"{kind.upper()} {on}" if kind else on


def _level(on: str, kind: str | None) -> str:
    if kind:
        return "routine"
    if "@" in on:
        return "proxy"
    if on == "*.*":
        return "global"
    if on.endswith(".*") or on == "*":
        return "database"
    return "table"


def _grantee(to: str) -> str:
    match = _GRANTEE.match(to.strip())
    return match.group(1) if match else ""


def blank_strings(line: str) -> str:
    """`line` with the contents of every '…' string removed (backquoted names kept)."""
    out, index, quote = [], 0, ""
    while index < len(line):
        char = line[index]
        if quote == "`":
            out.append(char)
            if char == "`":
                quote = ""
        elif quote == "'":
            if char == "\\":
                index += 1  # skip the escaped character
            elif char == "'" and line[index + 1 : index + 2] == "'":
                index += 1
            elif char == "'":
                quote = ""
                out.append("'")
        else:
            out.append(char)
            if char in "`'":
                quote = char
        index += 1
    return "".join(out)


def _account_sql(account: str) -> str:
    """`user@host` (from CURRENT_USER()) as `user`@`host`."""
    user, _, host = account.rpartition("@")
    if not user:
        return f"`{account.replace('`', '``')}`"
    return f"`{user.replace('`', '``')}`@`{host.replace('`', '``')}`"
