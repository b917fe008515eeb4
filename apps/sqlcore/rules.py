"""The classifier's rule tables: which statement heads read, which write and how risky
each is, and the words that change what a statement does. Reviewers can read and argue
about these without the scanning code around them (apps/sqlcore/classification.py
applies them; function effects are in apps/sqlcore/function_effects.py).

Every table is fail-closed in the same direction: a head or form not listed as a read
is a write.
"""

from enum import StrEnum

from apps.sqlcore.dialect import Dialect
from apps.sqlcore.risk import Risk


class StatementKind(StrEnum):
    """What a statement is; a data source allows write kinds by these (DML, DDL, DCL, other)."""

    READ = "read"
    DML = "dml"
    DDL = "ddl"
    DCL = "dcl"
    TRANSACTION = "transaction"
    SESSION = "session"
    OTHER = "other"


# The first words of the only statements that can be reads (then checked clause by clause).
READ_HEADS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})

# EXPLAIN and its synonyms per dialect: a read only without ANALYZE, and only of a read.
EXPLAIN_HEADS = {
    Dialect.POSTGRESQL: frozenset({"EXPLAIN"}),
    Dialect.MYSQL: frozenset({"EXPLAIN", "DESCRIBE", "DESC"}),
    Dialect.SQLITE: frozenset({"EXPLAIN"}),
}

# Where SHOW is a read (SQLite has no SHOW).
SHOW_DIALECTS = frozenset({Dialect.POSTGRESQL, Dialect.MYSQL})

# First word → (kind, risk) for statements that are never reads.
WRITE_HEADS: dict[str, tuple[StatementKind, Risk]] = {
    **dict.fromkeys(["INSERT", "UPSERT"], (StatementKind.DML, Risk.LOW)),
    **dict.fromkeys(["UPDATE", "DELETE"], (StatementKind.DML, Risk.LOW)),  # HIGH without WHERE
    **dict.fromkeys(["MERGE", "REPLACE"], (StatementKind.DML, Risk.MEDIUM)),
    "CREATE": (StatementKind.DDL, Risk.LOW),
    "ALTER": (StatementKind.DDL, Risk.MEDIUM),
    "COMMENT": (StatementKind.DDL, Risk.LOW),
    "RENAME": (StatementKind.DDL, Risk.MEDIUM),
    **dict.fromkeys(["DROP", "TRUNCATE"], (StatementKind.DDL, Risk.HIGH)),
    **dict.fromkeys(["GRANT", "REVOKE"], (StatementKind.DCL, Risk.HIGH)),
    **dict.fromkeys(
        ["BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END", "ABORT", "XA"],
        (StatementKind.TRANSACTION, Risk.LOW),
    ),
    **dict.fromkeys(["SET", "RESET", "USE", "DISCARD"], (StatementKind.SESSION, Risk.LOW)),
    **dict.fromkeys(
        ["COPY", "LOAD", "KILL", "SHUTDOWN", "INSTALL", "UNINSTALL", "PURGE", "IMPORT", "ATTACH", "CLONE"],
        (StatementKind.OTHER, Risk.HIGH),
    ),
    **dict.fromkeys(["CHECKPOINT", "LISTEN", "UNLISTEN", "NOTIFY", "DETACH"], (StatementKind.OTHER, Risk.LOW)),
}

# Object types whose CREATE/ALTER/DROP/RENAME is access control rather than schema.
ACCESS_OBJECTS = frozenset({"USER", "ROLE", "GROUP"})

# SET forms that change who we are or switch safety features off.
RISKY_SET_WORDS = frozenset(
    {"ROLE", "AUTHORIZATION", "GLOBAL", "PERSIST", "PERSIST_ONLY", "PASSWORD", "SESSION_REPLICATION_ROLE"}
)

# Data-changing statement words, wherever they appear (a data-modifying WITH, a rule body).
DML_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT"})

# Reserved words of schema and access statements: never part of a plain query, so their
# presence means the text is not what it looks like (e.g. a statement after a comment
# that the server ends earlier than expected).
SCHEMA_WORDS = frozenset({"CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE", "RENAME"})

# When a statement shows several kinds, the one reported (the most powerful first).
KIND_PRIORITY = (
    StatementKind.DCL,
    StatementKind.DDL,
    StatementKind.OTHER,
    StatementKind.SESSION,
    StatementKind.TRANSACTION,
    StatementKind.DML,
)

# What may follow the common table expressions of a WITH.
WITH_MAIN_WORDS = READ_HEADS | DML_WORDS

# What starts a subquery inside parentheses.
SUBQUERY_STARTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "("})

# After FOR in a SELECT: a locking clause (FOR UPDATE / SHARE / NO KEY UPDATE / KEY SHARE),
# which takes row locks, so the statement is not a read.
LOCK_WORDS = frozenset({"UPDATE", "SHARE", "NO", "KEY"})

# MySQL modifiers between a DML word and its target (INSERT IGNORE, DELETE LOW_PRIORITY …).
DML_MODIFIERS = frozenset({"IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY"})

# Words that end a WHERE condition (for the "no WHERE / always true" risk rule).
CONDITION_ENDS = frozenset({"RETURNING", "ORDER", "LIMIT"})

# EXPLAIN options that run the statement.
ANALYZE = frozenset({"ANALYZE", "ANALYSE"})

# Every word that may stand between EXPLAIN and the statement it explains.
EXPLAIN_OPTIONS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE", "EXTENDED", "PARTITIONS", "FORMAT", "QUERY", "PLAN"})

# Words in the body of a routine or trigger that a DDL statement creates: the statement
# they start is classified, and its risk counts for the whole.
RISKY_BODY_WORDS = frozenset({"UPDATE", "DELETE", "DROP", "TRUNCATE", "GRANT", "REVOKE", "ALTER"})
