"""Reads that would hand out credential material: refused, whatever the user's rights.

A read-only login can often see its own secrets: MariaDB's SHOW GRANTS prints the
account's password hash, a superuser login reads pg_authid, and user mappings and
subscriptions hold connection passwords for other servers. QueryBase keeps credentials
on the server (they are encrypted at rest and never shown), so it refuses reads of the
catalogs and statements that carry them rather than trying to redact every format a
hash can take. The rule looks at names in code only (not in strings or comments).
"""

from apps.sqlcore import sqltext
from apps.sqlcore.sqltext import PUNCT, QIDENT, WORD, Token
from apps.sqlcore.text_cache import kept_for_short_texts

# Catalogs whose rows carry password hashes or connection strings with passwords.
_POSTGRESQL_RELATIONS = frozenset(
    {"pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "user_mapping_options", "pg_subscription"}
)
# Tables of MySQL's `mysql` schema with password hashes or other servers' passwords.
_MYSQL_SCHEMA_TABLES = frozenset({"user", "global_priv", "servers", "slave_master_info", "authentication_policy"})


@kept_for_short_texts
def credential_material_read(sql: str, dialect: str) -> str | None:
    """Why `sql` would read credential material, or None."""
    for statement in sqltext.statements_of(sql, dialect):
        reason = _statement_reason(statement.tokens, dialect)
        if reason is not None:
            return reason
    return None


def _statement_reason(tokens: tuple[Token, ...], dialect: str) -> str | None:
    for index, token in enumerate(tokens):
        if token.kind not in (WORD, QIDENT):
            continue
        name = token.value.lower()
        if dialect == "postgresql" and name in _POSTGRESQL_RELATIONS:
            return f"{name} holds password hashes or connection passwords"
        if dialect == "mysql" and name in _MYSQL_SCHEMA_TABLES and _qualified_by(tokens, index, "mysql"):
            return f"mysql.{name} holds password hashes or other servers' passwords"
        if dialect == "mysql" and token.kind == WORD and token.value == "SHOW":
            following = _word(tokens, index + 1)
            if following == "GRANTS" or (following == "CREATE" and _word(tokens, index + 2) == "USER"):
                return f"SHOW {following} … prints the account's password hash"
    return None


def _word(tokens: tuple[Token, ...], index: int) -> str:
    return tokens[index].value if index < len(tokens) and tokens[index].kind == WORD else ""


def _qualified_by(tokens: tuple[Token, ...], index: int, schema: str) -> bool:
    return (
        index >= 2
        and tokens[index - 1].kind == PUNCT
        and tokens[index - 1].value == "."
        and tokens[index - 2].value.lower() == schema
    )
