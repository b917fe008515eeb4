"""Fail-closed read/write classification of SQL (docs/architecture.md §2.1).

A request is a read only if every statement in it is a known read form: SELECT without
INTO or a locking clause, WITH whose every part reads, SHOW, DESCRIBE, EXPLAIN without
ANALYZE (of a read), VALUES, TABLE — and calls none of the functions known to change
state or reach outside the database. Everything else, including anything we cannot scan,
is a write that needs an approval.

The read-only transaction the connectors open is the second wall; this one must cover its
holes (`INTO OUTFILE`, `pg_read_file`, `lo_export`, `dblink`, `COPY … PROGRAM`, MySQL DDL's
implicit commit), so those are named here explicitly.

Strings are scanned as the server reads them through our connectors, which pin the modes
that change quoting (PostgreSQL standard_conforming_strings=on; MySQL without
NO_BACKSLASH_ESCAPES and ANSI_QUOTES). What no setting pins is whether a MySQL server runs
a versioned `/*!50700 … */` comment or skips it: both readings are classified, and the
text is a read only if both read.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from apps.sqlcore import invisible, rules, sqltext
from apps.sqlcore.dialect import Dialect
from apps.sqlcore.function_effects import effect_of
from apps.sqlcore.risk import Risk, highest_risk
from apps.sqlcore.rules import StatementKind
from apps.sqlcore.sqltext import ERROR, OP, PUNCT, QIDENT, WORD, Statement, Token
from apps.sqlcore.tables import FunctionCall, attribute_names, function_calls, tables_read
from apps.sqlcore.text_cache import kept_for_short_texts


class Verdict(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class StatementClassification:
    text: str
    kind: StatementKind
    verdict: Verdict
    risk: Risk
    reasons: tuple[str, ...]

    @property
    def write_kind(self) -> str | None:
        """The data source setting (`allowed_write_kinds`) this statement falls under."""
        if self.verdict is Verdict.READ:
            return None
        if self.kind in (StatementKind.DML, StatementKind.DDL, StatementKind.DCL):
            return self.kind.value
        return "other"

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            # The same text with a visible marker for each hidden character: what to show.
            "visible_text": invisible.reveal(self.text),
            "kind": self.kind.value,
            "verdict": self.verdict.value,
            "risk": self.risk.value,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Classification:
    dialect: Dialect
    verdict: Verdict
    risk: Risk
    statements: tuple[StatementClassification, ...] = field(default=())
    #: Lower-case names of every function the read statements may call (any reading).
    called_functions: frozenset[str] = field(default=frozenset(), compare=False)
    #: Names the read statements write as attributes (`x.name`): on PostgreSQL a call of
    #: name(x) when x has no such column (`tables.attribute_names`).
    attribute_names: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.statements

    @property
    def is_read(self) -> bool:
        return self.verdict is Verdict.READ

    @property
    def write_kinds(self) -> frozenset[str]:
        return frozenset(kind for statement in self.statements if (kind := statement.write_kind))

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "risk": self.risk.value,
            "statements": [statement.as_dict() for statement in self.statements],
        }


def classify_sql(
    sql: str,
    dialect: str,
    *,
    unsafe_functions: frozenset[str] = frozenset(),
    hidden_calls: Mapping[str, str] | None = None,
) -> Classification:
    """Classify `sql` for `dialect`; never raises (what cannot be read is a write).

    `unsafe_functions`: lower-case names that the source's own catalog says may change
    state (see apps/queries/function_catalog.py); a statement calling one is a write too.
    `hidden_calls`: what a statement may name without naming the function it calls, each
    with why (apps/queries/function_catalog.py): `view:NAME` (a relation whose read is
    not a read: a view's definition, a foreign or remote table),
    `type:NAME` (a domain, cast or type input that calls such a function),
    `operator:SYMBOL`, and `cast:implicit` (such a cast, which any statement may use);
    a statement using one is a write too.
    """
    dialect = Dialect(dialect)
    if not isinstance(sql, str):
        sql = ""
    hidden = frozenset((hidden_calls or {}).items())
    return _classify_cached(sql, dialect, frozenset(unsafe_functions), hidden)


@kept_for_short_texts
def _classify_cached(
    sql: str, dialect: Dialect, unsafe_functions: frozenset[str], hidden_calls: frozenset[tuple[str, str]]
) -> Classification:
    functions: set[str] = set()
    attributes: set[str] = set()
    try:
        statements = _classify_reading(sql, dialect, functions, attributes)
        for reading in _other_readings(sql, dialect):
            other = _classify_reading(sql, dialect, functions, attributes, **reading)
            if all(s.verdict is Verdict.READ for s in statements) and any(s.verdict is Verdict.WRITE for s in other):
                statements = [_ambiguous(statement, other) for statement in statements]
        if unsafe_functions:
            statements = _with_unsafe_functions(sql, dialect, statements, unsafe_functions)
        if hidden_calls:
            statements = _with_hidden_calls(sql, dialect, statements, dict(hidden_calls))
        statements = [_with_invisible_characters(statement) for statement in statements]
    except Exception as error:  # fail closed on our own bugs too
        text = sql.strip()
        statements = [_write(text, StatementKind.OTHER, Risk.HIGH, f"the classifier could not read this: {error}")]
    if not statements:
        return Classification(dialect, Verdict.WRITE, Risk.NONE, ())
    verdict = Verdict.READ if all(s.verdict is Verdict.READ for s in statements) else Verdict.WRITE
    risk = highest_risk(s.risk for s in statements)
    return Classification(dialect, verdict, risk, tuple(statements), frozenset(functions), frozenset(attributes))


def side_effect_calls(sql: str, dialect: str) -> list[str]:
    """One reason per call, anywhere in `sql` (every statement, every MySQL reading), of a
    function whose effect a rollback does not undo or that runs SQL given as text: what a
    dry-run on the real source must refuse. Unscannable text is one reason too."""
    dialect = Dialect(dialect)
    reasons: list[str] = []
    for reading in sqltext.readings(sql, dialect.value):
        for statement in sqltext.statements_of(sql, dialect.value, **reading):
            reasons.extend(f"cannot be parsed: {t.value}" for t in statement.tokens if t.kind == ERROR)
            for call in function_calls(statement.tokens, dialect.value):
                finding = _function_feature(call)
                if finding is not None:
                    reasons.extend(finding.reasons)
    return list(dict.fromkeys(reasons))


# What the source's catalog said of a function that makes a read a write
# (apps/queries/function_catalog.py); SQLite has no such catalog.
_CATALOG_SAYS = {
    Dialect.POSTGRESQL: "the source's catalog marks VOLATILE or SECURITY DEFINER",
    Dialect.MYSQL: "the source's catalog does not declare DETERMINISTIC, SQL SECURITY INVOKER and free of data "
    "changes, or whose body the source's read login may not see",
}


def _with_unsafe_functions(
    sql: str, dialect: Dialect, statements: list[StatementClassification], unsafe: frozenset[str]
) -> list[StatementClassification]:
    """Reads that call a function the source's catalog marks as possibly changing state
    become writes; the statements line up with the classifier's own split."""

    def called(tokens: tuple[Token, ...]) -> set[str]:
        return {call.name for call in function_calls(tokens, dialect.value)} | _attribute_names(tokens, dialect)

    return _marked(sql, dialect, statements, lambda tokens: sorted(called(tokens) & unsafe), _calls_unsafe)


def _calls_unsafe(dialect: Dialect, name: str) -> str:
    return f"calls {name}(), which {_CATALOG_SAYS[dialect]}: it may change state"


def _marked(
    sql: str,
    dialect: Dialect,
    statements: list[StatementClassification],
    found_in: Callable[[tuple[Token, ...]], list[str]],
    reason: Callable[[Dialect, str], str],
) -> list[StatementClassification]:
    """`statements` with each read in which `found_in` finds something made a write, one
    `reason` per thing found. What another MySQL reading finds (a call a server skipping
    a versioned comment runs) makes every read of the text a write: its statements need
    not line up with the first reading's."""
    parsed = sqltext.statements_of(sql, dialect.value)
    if len(parsed) != len(statements):
        return statements  # an ambiguous MySQL reading: already a write
    elsewhere: list[str] = []
    for reading in _other_readings(sql, dialect):
        for other in sqltext.statements_of(sql, dialect.value, **reading):
            elsewhere.extend(found_in(other.tokens))
    marked = []
    for statement, tokens in zip(statements, (p.tokens for p in parsed), strict=True):
        names = sorted({*found_in(tokens), *elsewhere})
        if statement.verdict is Verdict.READ and names:
            statement = _write(
                statement.text, StatementKind.OTHER, Risk.MEDIUM, *(reason(dialect, name) for name in names)
            )
        marked.append(statement)
    return marked


def _with_hidden_calls(
    sql: str, dialect: Dialect, statements: list[StatementClassification], hidden: dict[str, str]
) -> list[StatementClassification]:
    """Reads that use a view, type or operator whose use calls a function that may change
    state become writes: the text does not name that function, the server calls it."""
    operators = [key for key in hidden if key.startswith("operator:")]
    return _marked(
        sql,
        dialect,
        statements,
        lambda tokens: sorted(_uses(tokens, operators) & hidden.keys()),
        lambda _, key: _hidden_use(key, hidden[key]),
    )


def _hidden_use(key: str, why: str) -> str:
    """The reason a hidden call gives: `why` says what the relation is (a view, a foreign
    table), so a relation is named by itself."""
    kind, name = key.split(":", 1)
    return f"reads {name}, which {why}" if kind == "view" else f"uses {kind} {name}, which {why}"


def hidden_calls_used(sql: str, dialect: str, hidden: Mapping[str, str]) -> list[str]:
    """The `hidden_calls` keys (see `classify_sql`) that `sql` may use in any statement,
    read or not: what a function's body (PL/pgSQL's `BEGIN RETURN 1 === 2; END`) uses."""
    operators = [key for key in hidden if key.startswith("operator:")]
    used: set[str] = set()
    for statement in sqltext.statements_of(sql, Dialect(dialect).value):
        used |= _uses(statement.tokens, operators) & hidden.keys()
    return sorted(used)


# Comparisons that IN, CASE … WHEN, NULLIF, BETWEEN, IS DISTINCT FROM and JOIN … USING
# make without their symbol being written: where one of these words is, a source's own
# comparison operator may run.
_IMPLICIT_COMPARISONS = frozenset(
    {"operator:=", "operator:<>", "operator:!=", "operator:<", "operator:>", "operator:<=", "operator:>="}
)
_COMPARING_WORDS = frozenset({"IN", "CASE", "NULLIF", "BETWEEN", "DISTINCT", "USING", "NATURAL"})


def _uses(tokens: tuple[Token, ...], operators: list[str]) -> set[str]:
    """The `hidden_calls` keys `tokens` may use: every relation as a view, every name as a
    type, each operator whose symbol is within an operator written, any comparison
    operator where a word compares without one, and any implicit cast."""
    used = {"cast:implicit", *(f"view:{table.name}" for table in tables_read(tokens))}
    used.update(f"type:{token.value.lower()}" for token in tokens if token.kind in (WORD, QIDENT))
    if any(token.kind == WORD and token.value in _COMPARING_WORDS for token in tokens):
        used.update(_IMPLICIT_COMPARISONS)
    if operators:
        runs = sqltext.operator_runs(tokens)
        used.update(key for key in operators if any(key[len("operator:") :] in run for run in runs))
    return used


def _attribute_names(tokens: tuple[Token, ...], dialect: Dialect) -> set[str]:
    return set(attribute_names(tokens)) if dialect is Dialect.POSTGRESQL else set()


def _with_invisible_characters(statement: StatementClassification) -> StatementClassification:
    """What the approver sees must be what runs: hidden characters make a write high risk."""
    if statement.verdict is Verdict.READ:
        return statement
    hidden = invisible.characters_in(statement.text)
    if not hidden:
        return statement
    names = ", ".join(invisible.describe(character) for character in hidden[:5])
    reason = f"contains invisible or direction-changing characters that hide what the text does: {names}"
    return replace(statement, risk=Risk.HIGH, reasons=(*statement.reasons, reason))


def _other_readings(sql: str, dialect: Dialect) -> list[dict[str, Any]]:
    return sqltext.readings(sql, dialect.value)[1:]


def _ambiguous(statement: StatementClassification, other: list[StatementClassification]) -> StatementClassification:
    reasons = next(s.reasons for s in other if s.verdict is Verdict.WRITE)
    return _write(
        statement.text,
        StatementKind.OTHER,
        highest_risk([Risk.MEDIUM, *(s.risk for s in other)]),
        "a server version that skips /*!…*/ comments would read it differently: " + "; ".join(reasons),
    )


def _classify_reading(
    sql: str, dialect: Dialect, functions: set[str], attributes: set[str], **reading: Any
) -> list[StatementClassification]:
    """Classify each statement of one reading, collecting into `functions` the names of
    the functions each read calls, and into `attributes` the names it writes as
    attributes (for the per-source catalog check, which only reads need), without a
    second scan."""
    classified = []
    for statement in sqltext.statements_of(sql, dialect.value, **reading):
        calls = function_calls(statement.tokens, dialect.value)
        result = _classify_statement(statement, dialect, calls)
        if result.verdict is Verdict.READ:
            functions.update(call.name for call in calls)
            attributes.update(_attribute_names(statement.tokens, dialect))
        classified.append(result)
    return classified


# --- one statement -------------------------------------------------------------------------------


def _write(text: str, kind: StatementKind, risk: Risk, *reasons: str) -> StatementClassification:
    return StatementClassification(text, kind, Verdict.WRITE, risk, tuple(reasons))


def _classify_statement(statement: Statement, dialect: Dialect, calls: list[FunctionCall]) -> StatementClassification:
    tokens = statement.tokens
    errors = [token.value for token in tokens if token.kind == ERROR]
    if errors:
        return _write(statement.text, StatementKind.OTHER, Risk.MEDIUM, f"cannot be parsed: {errors[0]}")
    finding = _classify_tokens(tokens, dialect, calls)
    if finding.kind is StatementKind.READ:
        return StatementClassification(statement.text, StatementKind.READ, Verdict.READ, Risk.NONE, finding.reasons)
    return _write(statement.text, finding.kind, finding.risk, *finding.reasons)


@dataclass(frozen=True)
class _Finding:
    kind: StatementKind
    risk: Risk
    reasons: tuple[str, ...]


def _read(reason: str) -> _Finding:
    return _Finding(StatementKind.READ, Risk.NONE, (reason,))


def _classify_tokens(tokens: tuple[Token, ...], dialect: Dialect, calls: list[FunctionCall] | None = None) -> _Finding:
    """`calls`: the function calls among `tokens` when already known (else found here)."""
    start = 0
    while start < len(tokens) and tokens[start].kind == PUNCT and tokens[start].value == "(":
        start += 1  # (SELECT …) UNION (SELECT …)
    if start == len(tokens) or tokens[start].kind != WORD:
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("does not start with a known statement",))
    head = tokens[start].value
    if head in rules.READ_HEADS:
        return _classify_query(tokens, dialect, head, calls)
    if head in rules.EXPLAIN_HEADS[dialect]:
        return _classify_explain(tokens, start + 1, dialect)
    if head == "SHOW" and dialect in rules.SHOW_DIALECTS:
        return _read("SHOW")
    return _classify_write_head(tokens, start, dialect, calls)


def _classify_query(
    tokens: tuple[Token, ...], dialect: Dialect, head: str, calls: list[FunctionCall] | None
) -> _Finding:
    """SELECT / WITH / VALUES / TABLE: a read unless something in it writes."""
    depths = _depths(tokens)
    if depths is None:
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("unbalanced parentheses",))
    if head == "WITH":
        main = _main_statement_of_with(tokens, depths)
        if main is not None and tokens[main].value in rules.DML_WORDS:
            return _dml(tokens, depths, main, "WITH … " + tokens[main].value)
    findings = _write_features(tokens, depths, dialect, calls)
    if not findings:
        return _read(head)
    kinds = {finding.kind for finding in findings}
    kind = next(kind for kind in rules.KIND_PRIORITY if kind in kinds)
    reasons = tuple(reason for finding in findings for reason in finding.reasons)
    return _Finding(kind, highest_risk(finding.risk for finding in findings), reasons)


def _depths(tokens: tuple[Token, ...]) -> list[int] | None:
    """Parenthesis depth before each token; None when the parentheses do not balance."""
    depths = []
    depth = 0
    for token in tokens:
        if token.kind == PUNCT:
            if token.value == ")":
                depth -= 1
                if depth < 0:
                    return None
            depths.append(depth)
            if token.value == "(":
                depth += 1
        else:
            depths.append(depth)
    return depths if depth == 0 else None


def _main_statement_of_with(tokens: tuple[Token, ...], depths: list[int]) -> int | None:
    for index, token in enumerate(tokens):
        if index and depths[index] == 0 and token.kind == WORD and token.value in rules.WITH_MAIN_WORDS:
            return index
    return None


def _write_features(
    tokens: tuple[Token, ...], depths: list[int], dialect: Dialect, calls: list[FunctionCall] | None = None
) -> list[_Finding]:
    """Everything inside a query that makes it a write."""
    findings = []
    for index, token in enumerate(tokens):
        if token.kind == WORD:
            findings.append(_word_feature(tokens, depths, index, dialect))
        if token.kind == OP and token.value == ":=" and dialect is Dialect.MYSQL:
            findings.append(_Finding(StatementKind.SESSION, Risk.LOW, ("assigns a user variable (:=)",)))
    if calls is None:
        calls = function_calls(tokens, dialect.value)
    findings.extend(_function_feature(call) for call in calls)
    return [finding for finding in findings if finding is not None]


def _is_call(tokens: tuple[Token, ...], index: int) -> bool:
    following = index + 1
    return following < len(tokens) and tokens[following].kind == PUNCT and tokens[following].value == "("


def _word_feature(tokens: tuple[Token, ...], depths: list[int], index: int, dialect: Dialect) -> _Finding | None:
    word = tokens[index].value
    following = tokens[index + 1].value if index + 1 < len(tokens) else ""
    calls = _is_call(tokens, index)
    if word in rules.DML_WORDS:
        if _starts_a_statement(tokens, index) and not (word in ("INSERT", "REPLACE") and calls):
            return _dml(tokens, depths, index, f"{word} inside a query")  # (not the string functions)
        return None  # a column named like a keyword: PostgreSQL allows `SELECT update FROM t`
    if word in rules.SCHEMA_WORDS and not (word == "TRUNCATE" and calls):  # MySQL's TRUNCATE(x, d)
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, (f"{word} inside a query",))
    if word == "INTO" and not _follows_dml(tokens, index):
        return _into(dialect)
    if word == "FOR" and following in rules.LOCK_WORDS and not _in_function_arguments(tokens, depths, index):
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("locking clause FOR UPDATE/SHARE",))
    if word == "LOCK":
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("locking clause LOCK IN SHARE MODE",))
    if word == "PROCEDURE":
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("SELECT … PROCEDURE runs a procedure",))
    if word == "NEXT" and following == "VALUE":
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("NEXT VALUE FOR advances a sequence",))
    return None


def _function_feature(call: FunctionCall) -> _Finding | None:
    # In the attribute notation only exact names count: `t.lo_limit` is far more often a
    # column than a call of a function of the lo_ family.
    effect = effect_of(call.name, exact=True) if call.attribute else effect_of(call.name, call.qualifier)
    if effect is None:
        return None
    return _Finding(StatementKind.OTHER, effect.risk, (f"calls {call.name}(), which {effect.reason}",))


def _starts_a_statement(tokens: tuple[Token, ...], index: int) -> bool:
    """DML inside a query can only open a WITH part: `name AS (DELETE …)`.

    Anything else is a column that happens to be called `update` (or a syntax error the
    server will refuse); INSERT INTO / MERGE INTO count wherever they stand.
    """
    previous = tokens[index - 1] if index else None
    if previous is not None and previous.kind == PUNCT and previous.value == "(":
        return True
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    return following is not None and following.kind == WORD and following.value == "INTO"


def _in_function_arguments(tokens: tuple[Token, ...], depths: list[int], index: int) -> bool:
    """`substring(name FOR update)`: FOR inside parentheses that do not open a subquery."""
    enclosing = depths[index] - 1
    if enclosing < 0:
        return False
    for position in range(index - 1, -1, -1):
        if depths[position] == enclosing and tokens[position].value == "(":
            return tokens[position + 1].value not in rules.SUBQUERY_STARTS
    return False


def _follows_dml(tokens: tuple[Token, ...], index: int) -> bool:
    """INSERT INTO, MERGE INTO, INSERT IGNORE INTO…: part of the DML already found."""
    position = index - 1
    while position >= 0 and tokens[position].kind == WORD and tokens[position].value in rules.DML_MODIFIERS:
        position -= 1
    return position >= 0 and tokens[position].kind == WORD and tokens[position].value in rules.DML_WORDS


def _into(dialect: Dialect) -> _Finding:
    if dialect is Dialect.POSTGRESQL:
        return _Finding(StatementKind.DDL, Risk.MEDIUM, ("SELECT … INTO creates a table",))
    return _Finding(StatementKind.OTHER, Risk.HIGH, ("SELECT … INTO writes a file or variables",))


def _dml(tokens: tuple[Token, ...], depths: list[int], index: int, label: str) -> _Finding:
    word = tokens[index].value
    if word in ("UPDATE", "DELETE"):
        where = _where_after(tokens, depths, index)
        if where is None:
            return _Finding(StatementKind.DML, Risk.HIGH, (f"{label} without WHERE changes every row",))
        if _always_true(tokens, depths, where):
            return _Finding(StatementKind.DML, Risk.HIGH, (f"{label} with a WHERE that is always true",))
        return _Finding(StatementKind.DML, Risk.LOW, (f"{label} … WHERE",))
    risk = Risk.MEDIUM if word in ("MERGE", "REPLACE") else Risk.LOW
    return _Finding(StatementKind.DML, risk, (label,))


def _where_after(tokens: tuple[Token, ...], depths: list[int], index: int) -> int | None:
    depth = depths[index]
    for position in range(index + 1, len(tokens)):
        if depths[position] < depth:
            return None
        token = tokens[position]
        if depths[position] == depth and token.kind == WORD and token.value == "WHERE":
            return position
    return None


def _always_true(tokens: tuple[Token, ...], depths: list[int], where: int) -> bool:
    """WHERE TRUE, WHERE 1, WHERE 1 = 1, WHERE 'a' = 'a'."""
    condition = []
    for position in range(where + 1, len(tokens)):
        token = tokens[position]
        if depths[position] < depths[where] or (token.kind == WORD and token.value in rules.CONDITION_ENDS):
            break
        condition.append(token)
    texts = [token.value if token.kind != sqltext.STRING else f"s{token.end - token.start}" for token in condition]
    if texts in (["TRUE"], ["1"]):
        return True
    if len(texts) != 3 or texts[1] != "=" or texts[0] != texts[2]:
        return False
    first = condition[0]
    return first.kind in (sqltext.NUMBER, sqltext.STRING) or (first.kind == WORD and first.value.isdigit())


def _classify_explain(tokens: tuple[Token, ...], index: int, dialect: Dialect) -> _Finding:
    """EXPLAIN runs nothing, unless ANALYZE; what it explains must itself be a read."""
    executes = _Finding(StatementKind.OTHER, Risk.MEDIUM, ("EXPLAIN ANALYZE executes the statement",))
    if index < len(tokens) and tokens[index].kind == PUNCT and tokens[index].value == "(":
        closing = _matching_paren(tokens, index)
        if closing is None:
            return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("unbalanced parentheses",))
        if any(t.kind == WORD and t.value in rules.ANALYZE for t in tokens[index:closing]):
            return executes
        index = closing + 1
    while index < len(tokens) and tokens[index].kind == WORD and tokens[index].value in rules.EXPLAIN_OPTIONS:
        if tokens[index].value in rules.ANALYZE:
            return executes
        index += 1
        if index < len(tokens) and tokens[index].value == "=":  # FORMAT = JSON
            index += 2
    rest = tokens[index:]
    if not rest:
        return _Finding(StatementKind.OTHER, Risk.MEDIUM, ("EXPLAIN of nothing",))
    if dialect is Dialect.MYSQL and _names_a_table(rest):
        return _read("DESCRIBE a table")
    inner = _classify_tokens(rest, dialect)
    if inner.kind is StatementKind.READ:
        return _read("EXPLAIN of a read")
    return _Finding(inner.kind, inner.risk, ("EXPLAIN of a write", *inner.reasons))


def _names_a_table(tokens: tuple[Token, ...]) -> bool:
    """MySQL's `DESCRIBE tbl [column | 'wild%']`, `EXPLAIN db.tbl`."""
    if tokens[0].kind == WORD and tokens[0].value in rules.READ_HEADS | rules.DML_WORDS | rules.WRITE_HEADS.keys():
        return False
    return len(tokens) <= 5 and all(t.kind in (WORD, QIDENT, sqltext.STRING) or t.value == "." for t in tokens)


def _matching_paren(tokens: tuple[Token, ...], index: int) -> int | None:
    depth = 0
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.kind == PUNCT and token.value == "(":
            depth += 1
        elif token.kind == PUNCT and token.value == ")":
            depth -= 1
            if depth == 0:
                return position
    return None


def _classify_write_head(
    tokens: tuple[Token, ...], start: int, dialect: Dialect, calls: list[FunctionCall] | None = None
) -> _Finding:
    head = tokens[start].value
    kind, risk = rules.WRITE_HEADS.get(head, (StatementKind.OTHER, Risk.MEDIUM))
    words = {token.value for token in tokens if token.kind == WORD}
    reasons = [f"{head} statement" if head in rules.WRITE_HEADS else f"{head} is not a known read form"]
    depths = _depths(tokens)
    if kind is StatementKind.DML and depths is not None:
        return _with_function_risks(_dml(tokens, depths, start, head), tokens, depths, dialect, calls)
    if kind is StatementKind.DDL and (_object_type(tokens, start) in rules.ACCESS_OBJECTS or "PRIVILEGES" in words):
        kind, risk = StatementKind.DCL, Risk.HIGH
        reasons.append("manages users or roles")
    if head == "ALTER" and "DROP" in words:
        risk = Risk.HIGH
        reasons.append("ALTER … DROP removes schema objects or data")
    if head == "CREATE" and "REPLACE" in words:
        risk = highest_risk([risk, Risk.MEDIUM])
        reasons.append("OR REPLACE overwrites an existing object")
    if head == "SET" and words & rules.RISKY_SET_WORDS:
        risk = Risk.HIGH
        reasons.append("changes identity, passwords or server-wide settings")
    if depths is None:
        risk = highest_risk([risk, Risk.MEDIUM])
        reasons.append("unbalanced parentheses")
    inner_risk = _inner_statements_risk(tokens, dialect)
    if inner_risk is not None:
        risk = highest_risk([risk, inner_risk])
        reasons.append("holds several statements in its body")
    return _Finding(kind, risk, tuple(reasons))


def _with_function_risks(
    finding: _Finding, tokens, depths: list[int], dialect: Dialect, calls: list[FunctionCall] | None
) -> _Finding:
    """A DML statement that also calls pg_read_file() & co is as risky as that call."""
    extra = [f for f in _write_features(tokens, depths, dialect, calls) if f.kind is StatementKind.OTHER]
    if not extra:
        return finding
    risk = highest_risk([finding.risk, *(f.risk for f in extra)])
    return _Finding(finding.kind, risk, finding.reasons + tuple(r for f in extra for r in f.reasons))


def _object_type(tokens: tuple[Token, ...], start: int) -> str | None:
    for token in tokens[start + 1 : start + 4]:
        if token.kind == WORD and token.value not in ("OR", "REPLACE", "IF", "NOT", "EXISTS"):
            return token.value
    return None


def _inner_statements_risk(tokens: tuple[Token, ...], dialect: Dialect) -> Risk | None:
    """A CREATE PROCEDURE/TRIGGER body holds `;`: its risk is at least that of its parts."""
    cuts = [index for index, token in enumerate(tokens) if token.kind == PUNCT and token.value == ";"]
    if not cuts:
        return None
    risks = [Risk.MEDIUM]
    for begin, end in zip([-1, *cuts], [*cuts, len(tokens)], strict=True):
        part = tokens[begin + 1 : end]
        for offset, token in enumerate(part):
            if offset and token.kind == WORD and token.value in rules.RISKY_BODY_WORDS:
                risks.append(_classify_tokens(part[offset:], dialect).risk)
    return highest_risk(risks)
