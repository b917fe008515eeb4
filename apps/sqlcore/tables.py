"""Which tables (and functions) a piece of SQL names: a lexical over-approximation.

Used where QueryBase must know what a statement touches before it runs it (a dry-run
refuses tables whose changes a rollback cannot undo) and where the audit log is
searched by table. It reads the tokens of `apps.sqlcore.sqltext` (so comments, strings,
quoting and MySQL's executable comments are read the way the server reads them) and
takes every name that follows FROM, JOIN, UPDATE, INTO, USING, TABLE, DELETE, INSERT,
REPLACE or MERGE, qualified (`schema.table`, `db.schema.table`) or not, quoted or not,
including comma lists (`FROM a, b`, MySQL's `UPDATE a, b SET`).

It errs on the side of naming too much: a word it cannot tell from a table name is
reported as a table. Callers that resolve names against a catalog must therefore treat
"no such table" as a reason to refuse, never as a reason to ignore. The exceptions,
where reporting the word would only produce noise, are narrow and explained below.

No Django here: the module is plain Python so any component can use it.
"""

from dataclasses import dataclass
from typing import NamedTuple

from apps.sqlcore.function_effects import effect_of
from apps.sqlcore.sqltext import PUNCT, QIDENT, WORD, Token, readings, statements_of


@dataclass(frozen=True, order=True)
class TableName:
    """A name as written: `schema` is None when unqualified. Both are lower-cased (the
    scanner folds case; catalogs must be searched case-insensitively)."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


# Words after which a table name (or a comma list of them) follows.
_TABLE_LEADERS = frozenset(
    {"FROM", "JOIN", "UPDATE", "INTO", "USING", "TABLE", "TABLES", "DELETE", "INSERT", "REPLACE", "MERGE"}
)
# Words that may sit between a leader and the name without being a name.
_SKIPPED = frozenset(
    {
        "ONLY",
        "LATERAL",
        "IF",
        "NOT",
        "EXISTS",
        "LOW_PRIORITY",
        "DELAYED",
        "HIGH_PRIORITY",
        "QUICK",
        "IGNORE",
        "INTO",
        "FROM",
        "STRICT",
    }
)
# Words that end a leader's list: a clause keyword, never a table.
_NOT_A_NAME = frozenset(
    {
        "SET",
        "SELECT",
        "VALUES",
        "VALUE",
        "DEFAULT",
        "WHERE",
        "ON",
        "AS",
        "WITH",
        "OUTFILE",
        "DUMPFILE",
        "TABLE",
        "DUAL",
        "LOCAL",
        "SKIP",
        "NOWAIT",
        "OF",
        "CASCADE",
        "RESTRICT",
        "NO",
        "ACTION",
    }
)
# UPDATE after these words is not a statement head: FOR UPDATE, FOR NO KEY UPDATE, ON
# DUPLICATE KEY UPDATE, ON CONFLICT … DO UPDATE, MERGE's THEN UPDATE, ON UPDATE CASCADE.
_UPDATE_IS_A_CLAUSE_AFTER = frozenset({"FOR", "KEY", "DO", "THEN", "ON"})
# Functions whose arguments use FROM between two expressions: EXTRACT(YEAR FROM d).
_FROM_IN_ARGUMENTS = frozenset({"EXTRACT", "SUBSTRING", "SUBSTR", "TRIM", "OVERLAY", "POSITION", "NORMALIZE"})
_MAX_NAME_PARTS = 3
# Words whose name list goes on after a comma.
_LIST_LEADERS = frozenset({"FROM", "USING", "UPDATE", "DELETE", "TABLE", "TABLES"})
# Words that end such a list.
_LIST_ENDERS = frozenset(
    {
        "WHERE",
        "SET",
        "GROUP",
        "ORDER",
        "HAVING",
        "LIMIT",
        "OFFSET",
        "FETCH",
        "WINDOW",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "MINUS",
        "RETURNING",
        "VALUES",
        "SELECT",
        "FOR",
        "LOCK",
        "INTO",
        "PROCEDURE",
        "FROM",
        "USING",
    }
)
# Words that may follow a table without being its alias.
_NOT_AN_ALIAS = (
    _LIST_ENDERS
    | _TABLE_LEADERS
    | frozenset(
        {"ON", "INNER", "LEFT", "RIGHT", "FULL", "CROSS", "NATURAL", "OUTER", "STRAIGHT_JOIN", "PARTITION", "USE"}
        | {"FORCE", "IGNORE", "TABLESAMPLE", "WHEN", "DEFAULT", "OVERRIDING", "READ", "WRITE", "AS", "WITH"}
    )
)
# After these words (or a comma in their list) a name followed by `(` is a function.
_FUNCTION_POSITIONS = frozenset({"FROM", "JOIN", "LATERAL", None})


def referenced_tables(sql: str, dialect: str) -> list[TableName]:
    """Every table (or view) `sql` names, in order of first mention, without duplicates.

    Common table expressions (`WITH x AS (…)`) are left out where they shadow a name, and
    so are the aliases a MySQL multi-table DELETE lists as its targets (`DELETE a FROM t a`).
    """
    found: list[TableName] = []
    for statement in _readings(sql, dialect):
        found.extend(_tables_of(statement.tokens))
    return list(dict.fromkeys(found))


def tables_read(tokens: tuple[Token, ...]) -> list[TableName]:
    """The tables (or views) one statement's tokens name (see `referenced_tables`)."""
    return _tables_of(tokens)


def attribute_names(tokens: tuple[Token, ...]) -> list[str]:
    """Every name written after a dot and not called (`o.id`, `(row).name`): mostly columns
    and tables, but in PostgreSQL `x.name` calls name(x) when x has no such column, so a
    catalog asks about one-argument functions of these names."""
    names = []
    for index in range(len(tokens) - 1):
        token = tokens[index]
        if token.kind != PUNCT or token.value != "." or tokens[index + 1].kind not in _NAME_KINDS:
            continue
        following = tokens[index + 2] if index + 2 < len(tokens) else None
        if following is None or following.kind != PUNCT or following.value != "(":
            names.append(tokens[index + 1].value.lower())
    return names


def called_functions(sql: str, dialect: str) -> list[TableName]:
    """Every function `sql` may call, qualified or not (see `function_calls`; some words
    only look like calls, such as `IN (`, which a catalog lookup will not find)."""
    found: list[TableName] = []
    for statement in _readings(sql, dialect):
        for call in function_calls(statement.tokens, dialect):
            found.append(TableName(call.qualifier, call.name))
    return list(dict.fromkeys(found))


class FunctionCall(NamedTuple):  # a tuple: made for every call of every read
    """One place where a statement may call a function: `name(`, `schema.name(`, or, on
    PostgreSQL, the attribute notation `(value).name`, which calls name(value) when no
    column of that name exists (`('/etc/passwd'::text).pg_read_file` reads the file)."""

    name: str  # lower case
    qualifier: str | None  # the schema before the dot, lower case, for `schema.name(`
    attribute: bool = False  # the attribute notation: only exact function names count


_CALL_MARKS = frozenset({"(", "."})
# A table and its column list, not a call: `INSERT INTO t(a, b)`, `REFERENCES t(id)`.
_RELATION_LEADS = frozenset({"INTO", "REFERENCES", "TABLE"})


def function_calls(tokens: tuple[Token, ...], dialect: str) -> list[FunctionCall]:
    """The function calls among `tokens`, found from the `(` and `.` tokens (far fewer
    than the words). This runs on every statement of every read, hence the plain loops."""
    calls = []
    attribute_notation = dialect == "postgresql"
    count = len(tokens)
    for index in [i for i, token in enumerate(tokens) if token.kind == PUNCT and token.value in _CALL_MARKS]:
        if tokens[index].value == "(":
            if index == 0 or tokens[index - 1].kind not in _NAME_KINDS:
                continue
            name_index = index - 1
            qualified = name_index > 1 and tokens[name_index - 1].value == "." and tokens[name_index - 1].kind == PUNCT
            lead = (
                tokens[name_index - 3 if qualified else name_index - 1]
                if name_index > (2 if qualified else 0)
                else None
            )
            if lead is not None and lead.kind == WORD and lead.value in _RELATION_LEADS:
                continue
            qualifier = tokens[name_index - 2].value.lower() if qualified else None
            calls.append(FunctionCall(tokens[name_index].value.lower(), qualifier))
        elif index + 1 < count and tokens[index + 1].kind in _NAME_KINDS:
            following = tokens[index + 2] if index + 2 < count else None
            if following is not None and following.kind == PUNCT and following.value == "(":
                continue  # `schema.name(`: found at its parenthesis
            name = tokens[index + 1].value.lower()
            # Almost always a column (`o.id`): only names with a known effect count, so
            # `('DELETE …').dblink_exec` is caught without every column becoming a call.
            # MariaDB in Oracle mode reads `seq.nextval` as NEXTVAL(seq).
            if (attribute_notation or name == "nextval") and effect_of(name, exact=True) is not None:
                calls.append(FunctionCall(name, None, True))
    return calls


_NAME_KINDS = (WORD, QIDENT)


def _readings(sql: str, dialect: str):
    """The statements of every reading the server may make (see `sqltext.readings`)."""
    for reading in readings(sql, dialect):
        yield from statements_of(sql, dialect, **reading)


def _tables_of(tokens: tuple[Token, ...]) -> list[TableName]:
    names: list[TableName] = []
    delete_targets: list[TableName] = []
    aliases: set[str] = set()
    enclosing = _enclosing_calls(tokens)
    # Per parenthesis depth: are we in a list of tables ("tables"), in the targets of a
    # DELETE ("targets", which may be aliases), or elsewhere (None)? A comma in a list
    # introduces one more name: `FROM a, b JOIN c ON … , d`, `UPDATE a, b SET`.
    lists: list[str | None] = [None]

    def take(index: int, into: str) -> None:
        name, alias = _table_at(tokens, index)
        if alias is not None:
            aliases.add(alias)
        if name is not None:
            (delete_targets if into == "targets" else names).append(name)

    for index, token in enumerate(tokens):
        if token.kind == PUNCT:
            if token.value == "(":
                lists.append(None)
            elif token.value == ")" and len(lists) > 1:
                lists.pop()
            elif token.value == "," and lists[-1] is not None:
                take(index + 1, lists[-1])
            continue
        if token.kind != WORD:
            continue
        if token.value in _LIST_ENDERS:
            lists[-1] = None
        if token.value not in _TABLE_LEADERS or _leader_is_not_a_table_clause(tokens, index, enclosing):
            continue
        into = "targets" if token.value == "DELETE" or _follows(tokens, index, "DELETE") else "tables"
        take(index + 1, into)
        if token.value in _LIST_LEADERS:
            lists[-1] = into
    ctes = _cte_names(tokens)
    # MySQL's DELETE targets name an alias or a table of the FROM/USING list.
    known = aliases | {name.name for name in names}
    names.extend(name for name in delete_targets if name.schema is not None or name.name not in known)
    return [name for name in names if name.schema is not None or name.name not in ctes]


def _leader_is_not_a_table_clause(tokens: tuple[Token, ...], index: int, enclosing: list[str | None]) -> bool:
    word = tokens[index].value
    previous = tokens[index - 1].value if index > 0 and tokens[index - 1].kind == WORD else None
    if word == "UPDATE" and previous in _UPDATE_IS_A_CLAUSE_AFTER:
        return True
    if word == "FROM":
        if previous == "DISTINCT":  # IS [NOT] DISTINCT FROM
            return True
        if enclosing[index] in _FROM_IN_ARGUMENTS:
            return True
    return False


def _enclosing_calls(tokens: tuple[Token, ...]) -> list[str | None]:
    """For each token, the word before its innermost enclosing `(` (None at top level or
    when the parenthesis follows no word)."""
    stack: list[str | None] = []
    result: list[str | None] = []
    for index, token in enumerate(tokens):
        if token.kind == PUNCT and token.value == ")" and stack:
            stack.pop()
        result.append(stack[-1] if stack else None)
        if token.kind == PUNCT and token.value == "(":
            before = tokens[index - 1] if index > 0 else None
            stack.append(before.value if before is not None and before.kind == WORD else None)
    return result


def _table_at(tokens: tuple[Token, ...], index: int) -> tuple[TableName | None, str | None]:
    """The table named at `index` (after skippable words) and its alias, if any."""
    while index < len(tokens) and tokens[index].kind == WORD and tokens[index].value in _SKIPPED:
        index += 1
    name, index = _qualified_name(tokens, index)
    if name is None:
        return None, None
    alias, _ = _alias(tokens, index)
    return name, alias


def _qualified_name(tokens: tuple[Token, ...], index: int) -> tuple[TableName | None, int]:
    parts: list[str] = []
    while index < len(tokens) and _is_name(tokens[index]) and len(parts) < _MAX_NAME_PARTS:
        if tokens[index].kind == WORD and tokens[index].value in _NOT_A_NAME and not parts:
            return None, index
        parts.append(_text(tokens[index]))
        index += 1
        if not _next_is(tokens, index, "."):
            break
        index += 1
    if not parts:
        return None, index
    # A name followed by `(` right after FROM/JOIN is a table function, not a table; after
    # INTO it is a table with its column list, which `called_functions` does not see.
    if _next_is(tokens, index, "(") and _previous_word(tokens, index - 1) in _FUNCTION_POSITIONS:
        return None, index
    return TableName(parts[-2] if len(parts) > 1 else None, parts[-1]), index


def _alias(tokens: tuple[Token, ...], index: int) -> tuple[str | None, int]:
    if index < len(tokens) and tokens[index].kind == WORD and tokens[index].value == "AS":
        index += 1
        if index < len(tokens) and _is_name(tokens[index]):
            return _text(tokens[index]), index + 1
        return None, index
    if index < len(tokens) and tokens[index].kind == QIDENT:
        return _text(tokens[index]), index + 1
    if index < len(tokens) and tokens[index].kind == WORD and tokens[index].value not in _NOT_AN_ALIAS:
        return _text(tokens[index]), index + 1
    return None, index


def _cte_names(tokens: tuple[Token, ...]) -> set[str]:
    """Names defined by `WITH [RECURSIVE] name [(columns)] AS (` and `, name AS (`."""
    names: set[str] = set()
    for index, token in enumerate(tokens):
        if not (token.kind == WORD and token.value == "AS" and _next_is(tokens, index + 1, "(")):
            continue
        before = index - 1
        if before >= 0 and tokens[before].value == ")":  # a column list: find its "("
            depth = 0
            while before >= 0:
                depth += {")": 1, "(": -1}.get(tokens[before].value, 0) if tokens[before].kind == PUNCT else 0
                if depth == 0:
                    break
                before -= 1
            before -= 1
        if before >= 1 and _is_name(tokens[before]) and tokens[before - 1].value in {"WITH", "RECURSIVE", ","}:
            names.add(_text(tokens[before]))
    return names


def _previous_word(tokens: tuple[Token, ...], last: int) -> str | None:
    """The word before the (possibly qualified) name ending at `last`; None if not a word."""
    first = last
    while first >= 2 and tokens[first - 1].value == "." and _is_name(tokens[first - 2]):
        first -= 2
    before = tokens[first - 1] if first > 0 else None
    return before.value if before is not None and before.kind == WORD else None


def _follows(tokens: tuple[Token, ...], index: int, word: str) -> bool:
    return index > 0 and tokens[index - 1].kind == WORD and tokens[index - 1].value == word


def _is_name(token: Token) -> bool:
    return token.kind in (WORD, QIDENT)


def _text(token: Token) -> str:
    return token.value.lower()


def _next_is(tokens: tuple[Token, ...], index: int, punct: str) -> bool:
    return index < len(tokens) and tokens[index].kind == PUNCT and tokens[index].value == punct
