"""What a login can do on its server, as the connectors report it for the credential audit.

Connectors only state facts ("this login is a member of pg_signal_backend"); how bad a
fact is, and how to fix it, is decided in apps.datasources.credential_audit.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PrivilegeFact:
    """One thing the audited login can do beyond reading its data.

    `code` names the kind of fact (engine-specific, stable). `subject` is the privilege,
    role or attribute; `objects` what it applies to; `via` the role it is held through
    ("" when granted to the login itself); `grantees` who holds the grant, written as SQL,
    which is where a REVOKE has to go; `level` where it applies (global, database, schema…).
    """

    code: str
    subject: str = ""
    objects: tuple[str, ...] = ()
    via: str = ""
    grantees: tuple[str, ...] = ()
    level: str = ""
    columns: str = ""  # a column list the grant is limited to, as SQL: "(`a`, `b`)"


@dataclass(frozen=True)
class PrivilegeReport:
    """The audited login and every fact found about it. Never holds a password or hash."""

    login: str
    grantee_sql: str  # the login as written in GRANT/REVOKE on this engine
    database: str
    facts: list[PrivilegeFact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
