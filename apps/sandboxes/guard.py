"""The first wall around a sandbox: what its SQL may not do, whatever write kinds the
source allows.

A sandbox's SQL runs as the copy's own restricted login (apps/sandboxes/roles.py), which
the database lets reach the copy and nothing else: that is the wall that holds. This one
comes before it, so that what could reach beyond the copy is refused with a clear
reason before it runs, and so that the golden copies never bring such objects along.
Inside the copy anything allowed goes; refused here:

- server-wide objects: databases, schemas on MySQL (they are its databases), roles and
  users (a login's own password too: MySQL's SET PASSWORD), tablespaces, extensions,
  foreign servers and wrappers, subscriptions, publications, languages, event triggers,
  plugins, events, and server settings;
- functions that act outside the transaction or the database (other connections, files,
  programs, server state; apps/sqlcore/function_effects.py);
- statements that read or write files or run SQL given as text (COPY and DO on
  PostgreSQL; LOAD, INTO OUTFILE, PREPARE/EXECUTE and the DATA or INDEX DIRECTORY of a
  table on MySQL; ATTACH and VACUUM INTO on SQLite); a PostgreSQL function may only be
  written in SQL or PL/pgSQL without EXECUTE, and its body passes the same checks;
- on MySQL, any name qualified by another schema of the server (the source's included).

This reads the text lexically (apps/sqlcore), so it errs towards refusing, and a
spelling it misses is still refused by the database (tests/security/
test_sandboxes_never_touch_the_source.py runs with this check off to show it).
"""

from apps.sqlcore import function_effects
from apps.sqlcore.dialect import Dialect
from apps.sqlcore.sqltext import PUNCT, QIDENT, STRING, WORD, Token, statements_of
from apps.sqlcore.tables import called_functions

_OUTSIDE_EFFECTS = frozenset(
    {
        function_effects.SQL_TEXT,
        function_effects.OTHER_CONNECTION,
        function_effects.FILES,
        function_effects.PROCESSES,
        function_effects.SERVER_STATE,
        function_effects.SECRETS,
        function_effects.LARGE_OBJECT,
    }
)
_DEFINING_HEADS = frozenset({"CREATE", "ALTER", "DROP", "RENAME", "COMMENT", "IMPORT", "SECURITY"})
_SERVER_OBJECTS = {
    Dialect.POSTGRESQL: frozenset(
        {"DATABASE", "ROLE", "USER", "GROUP", "TABLESPACE", "EXTENSION", "SERVER", "SUBSCRIPTION", "PUBLICATION"}
        | {"LANGUAGE", "EVENT", "FOREIGN", "MAPPING", "SYSTEM", "CONVERSION", "CAST", "LABEL"}
    ),
    Dialect.MYSQL: frozenset(
        {"DATABASE", "SCHEMA", "USER", "ROLE", "TABLESPACE", "SERVER", "EVENT", "PLUGIN", "LOGFILE", "INSTANCE"}
    ),
    Dialect.SQLITE: frozenset(),
}
_REFUSED_HEADS = {
    Dialect.POSTGRESQL: frozenset({"COPY", "DO", "LOAD", "CHECKPOINT", "IMPORT"}),
    Dialect.MYSQL: frozenset(
        {"USE", "PREPARE", "EXECUTE", "LOAD", "INSTALL", "UNINSTALL", "FLUSH", "KILL", "SHUTDOWN", "RESET"}
        | {"PURGE", "CHANGE", "STOP", "BINLOG", "CACHE", "HANDLER", "CLONE", "RESTART"}
    ),
    Dialect.SQLITE: frozenset({"ATTACH", "DETACH", "VACUUM"}),
}
# Words refused anywhere in MySQL text: files and SQL given as text, in routine bodies too.
_MYSQL_REFUSED_WORDS = frozenset({"OUTFILE", "DUMPFILE", "INFILE", "PREPARE", "EXECUTE", "GLOBAL", "PERSIST"})
# Words between CREATE/ALTER/DROP/… and the kind of object.
_MODIFIERS = frozenset(
    {"OR", "REPLACE", "IF", "NOT", "EXISTS", "TEMPORARY", "TEMP", "UNIQUE", "TRUSTED", "PROCEDURAL", "DEFAULT"}
    | {"UNLOGGED", "LOCAL", "MATERIALIZED", "RECURSIVE", "ON", "CONSTRAINT", "ONLINE", "OFFLINE", "IGNORE"}
)
_POSTGRESQL_BODY_LANGUAGES = frozenset({"sql", "plpgsql"})


def outside_reach(sql: str, dialect: str, *, other_databases: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why `sql` could reach beyond the sandbox, or None. `other_databases`: names (lower
    case) a MySQL statement must not qualify a name with."""
    dialect = Dialect(dialect)
    for call in called_functions(sql, dialect):
        effect = function_effects.effect_of(call.name, call.schema)
        if effect in _OUTSIDE_EFFECTS:
            return f"{call} {effect.reason}"
    for statement in statements_of(sql, dialect):
        reason = _statement_reason(sql, list(statement.tokens), dialect, other_databases)
        if reason is not None:
            return reason
    return None


def _statement_reason(sql: str, tokens: list[Token], dialect: Dialect, other_databases) -> str | None:
    words = [token.value for token in tokens if token.kind == WORD]
    if not words:
        return None
    head = words[0]
    if head in _REFUSED_HEADS[dialect]:
        return f"{head} statements do not run in sandboxes"
    if head == "START" and words[1:2] != ["TRANSACTION"]:
        return "START statements other than START TRANSACTION do not run in sandboxes"
    if head in _DEFINING_HEADS:
        kind = _object_kind(words, dialect)
        if kind in _SERVER_OBJECTS[dialect]:
            return f"{head} {kind} acts on the whole server, beyond the sandbox"
    if dialect is Dialect.MYSQL:
        return _mysql_reason(tokens, words, other_databases)
    if dialect is Dialect.POSTGRESQL and head in ("CREATE", "ALTER") and {"FUNCTION", "PROCEDURE"} & set(words[:5]):
        return _postgresql_routine_reason(sql, tokens)
    return None


def _object_kind(words: list[str], dialect: Dialect) -> str | None:
    """What a CREATE/ALTER/DROP/… statement acts on: its first word past the modifiers."""
    for word in words[1:]:
        if word in _MODIFIERS:
            continue
        if dialect is Dialect.MYSQL and word in ("DEFINER", "ALGORITHM", "SQL"):
            # CREATE DEFINER = … EVENT: the object word comes after a clause of any length.
            return "EVENT" if "EVENT" in words[1:12] else None
        return word
    return None


def _mysql_reason(tokens: list[Token], words: list[str], other_databases) -> str | None:
    if words[:2] == ["SET", "PASSWORD"]:
        # A login's password is the server's, not the copy's (ALTER USER is refused above).
        return "SET PASSWORD acts on a login of the server, beyond the sandbox"
    refused = _MYSQL_REFUSED_WORDS.intersection(words)
    if refused:
        return f"{sorted(refused)[0]} does not run in sandboxes (files, server settings or SQL given as text)"
    for index, token in enumerate(tokens[:-1]):
        if token.kind not in (WORD, QIDENT):
            continue
        following = tokens[index + 1]
        if _is_file_directory_option(token, following):
            # A table option putting the table's files in a directory of the caller's choosing.
            return f"{token.value} DIRECTORY places files outside the sandbox"
        if following.kind == PUNCT and following.value == "." and _name(token) in other_databases:
            return f"names in schema {_name(token)} lie outside the sandbox"
    return None


def _is_file_directory_option(token: Token, following: Token) -> bool:
    """MySQL's DATA DIRECTORY or INDEX DIRECTORY table option."""
    return (
        token.kind == WORD
        and token.value in ("DATA", "INDEX")
        and following.kind == WORD
        and following.value == "DIRECTORY"
    )


def _postgresql_routine_reason(sql: str, tokens: list[Token]) -> str | None:
    language = None
    for index, token in enumerate(tokens[:-1]):
        if token.kind == WORD and token.value == "LANGUAGE":
            following = tokens[index + 1]
            language = (following.value or sql[following.start : following.end]).strip("'").lower()
    for token in tokens:
        if token.kind != STRING:
            continue
        reason = routine_reason(language or "sql", _string_body(sql[token.start : token.end]))
        if reason is not None:
            return reason
    if language is not None and language not in _POSTGRESQL_BODY_LANGUAGES:
        return routine_reason(language, "")
    return None


def routine_reason(language: str, body: str) -> str | None:
    """Why a PostgreSQL function in `language` with `body` could reach beyond the copy:
    a language other than SQL or PL/pgSQL, SQL given as text (EXECUTE), or what
    `outside_reach` refuses in its body. Used for functions written in a sandbox and
    for those a golden copy brings from the source."""
    if language.lower() not in _POSTGRESQL_BODY_LANGUAGES:
        return f"functions in language {language} do not run in sandboxes (only SQL and PL/pgSQL)"
    if "EXECUTE" in {word.value for word in _words(body) if word.kind == WORD}:
        return "a function body running SQL given as text (EXECUTE) does not run in sandboxes"
    reason = outside_reach(body, Dialect.POSTGRESQL)
    return f"the function body: {reason}" if reason is not None else None


def reaches_outside(effect_names: list[str]) -> bool:
    """Whether calling any of these functions acts outside the database (by name)."""
    return any(function_effects.effect_of(name) in _OUTSIDE_EFFECTS for name in effect_names)


def _words(sql: str) -> list[Token]:
    return [token for statement in statements_of(sql, Dialect.POSTGRESQL) for token in statement.tokens]


def _string_body(literal: str) -> str:
    """The text inside a string constant: 'a''b', E'…', $tag$…$tag$."""
    if literal.startswith("$"):
        tag_end = literal.index("$", 1) + 1
        return literal[tag_end:-tag_end]
    start = literal.index("'")
    return literal[start + 1 : -1].replace("''", "'")


def _name(token: Token) -> str:
    return token.value.lower()
