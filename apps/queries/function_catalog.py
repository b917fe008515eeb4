"""The per-source half of the function rule: what the source's own catalog says.

The classifier knows the functions of PostgreSQL, its contrib extensions and MySQL that
change state (apps/sqlcore/function_effects.py). A source may have more: every function a
user creates is VOLATILE unless declared otherwise, and an extension we never heard of
may add a dblink of its own. So on PostgreSQL a read may call only functions that the
source's pg_proc marks IMMUTABLE or STABLE (and not SECURITY DEFINER: a STABLE function
may still call volatile ones, and with its owner's rights), or that are on the reviewed
list of harmless VOLATILE ones; any other call makes it a write that needs an approval.
MySQL and MariaDB have no volatility, and a stored function runs with its definer's
rights by default, so there a read may call a stored function only if it was declared
DETERMINISTIC, not MODIFIES SQL DATA, and SQL SECURITY INVOKER (the reader's own rights,
inside the read-only transaction); a definer's function can take user locks or SET
GLOBAL from inside one. Loadable functions (UDFs) are not in that catalog: the fixed
lists know the published ones.

Why this is a rule on top of the fixed lists and not instead of them: volatility is a
promise the function's author makes, not something PostgreSQL enforces. A C function may
be declared STABLE and still write a file; a STABLE PL/pgSQL function may call dblink;
operators, casts, views and column defaults call functions that never appear in the
text, and the attribute notation `(value).my_function` is only recognised for functions
the fixed lists know (any other `t.name` is far more likely a column). The fixed lists
catch the known ones whatever they are declared as, this rule catches the unknown ones
that are honest, and least-privilege read credentials (the credential audit checks
them) must cover the rest.

Views are the one place where this rule can be taken further than the text: a plain
`SELECT * FROM v` runs whatever v's definition calls (a view over `pg_try_advisory_lock`
left the lock held on the pooled connection; a MariaDB view over a definer's function set
a GLOBAL from inside the read-only transaction). So the views a read names are looked up,
and their definitions, and those of the views they read in turn, must pass the same
rules as the read itself (`unsafe_views`).

Declarations are also checked against the bodies where the source shows them: a STABLE
PL/pgSQL function that PERFORMs pg_advisory_lock is a promise broken in plain sight
(`_unsafe_bodies`), and so is one that reads a view over such a call or a foreign table.
SQL a body builds while it runs (PL/pgSQL's EXECUTE) cannot be read beforehand, so such
a body is not vouched for either; nor, on PostgreSQL, is a user's function in a
procedural language whose body is not read at all (PL/Perl, PL/Python…).

Answers are cached in this process for a minute per source, so a read pays for the
catalog lookup once per new function or relation name, not on every run.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, TypeVar

from apps.datasources.connectors import CredentialRole, connector_class, connector_for
from apps.datasources.connectors.base import HiddenCallers, RelationDefinitions, RemoteTable
from apps.datasources.models import DataSource
from apps.sqlcore.classification import classify_sql, hidden_calls_used, side_effect_calls
from apps.sqlcore.function_effects import HARMLESS_VOLATILE_FUNCTIONS, effect_of
from apps.sqlcore.rules import RISKY_SET_WORDS
from apps.sqlcore.sqltext import OP, QIDENT, STRING, WORD, fold_name, operator_runs, statements_of
from apps.sqlcore.tables import called_functions, function_calls, referenced_tables, tables_read
from apps.sqlcore.text_cache import kept_for_short_texts

T = TypeVar("T")

CACHE_SECONDS = 60.0
CACHE_MAX_ENTRIES = 20_000  # names come from user SQL: bound what they can make us keep
# Views looked at for one read, nested ones included; a read reaching more is not vouched for.
MAX_VIEWS_PER_READ = 200
# How many function bodies deep a call is followed (f calls g calls h …).
MAX_BODY_DEPTH = 4

_cache: dict[tuple, tuple[float, bool]] = {}  # (source identity, name) -> (expires, volatile)
_view_cache: dict[tuple, tuple[float, "_View"]] = {}  # (source identity, name) -> (expires, view)
_hidden_cache: dict[tuple, tuple[float, Any]] = {}  # (source identity, what) -> (expires, answer)
_cache_lock = threading.Lock()


def _source_identity(datasource: DataSource) -> tuple:
    return (datasource.pk, datasource.engine, datasource.host, datasource.port, datasource.database)


def unsafe_functions(
    datasource: DataSource, names: frozenset[str], attributes: frozenset[str] = frozenset(), *, depth: int = 0
) -> frozenset[str]:
    """The names among `names` (and `attributes`, names written `x.name`, which only a
    one-argument function can answer) that the source's catalog marks VOLATILE (or the
    like) and that are not reviewed as harmless, or whose body (the source's own SQL or
    PL/pgSQL functions, where the login may read it) calls such a function: `depth` is
    how many bodies deep this is asked. Raises ConnectorError when the source cannot be
    asked."""
    # Reviewed names are asked too: the review covers the system's (or an extension's)
    # function of that name, not one a user made with the same name (`public.random()`).
    calls = [("call", name) for name in sorted(names) if not effect_of(name)]
    attributes_only = [("attribute", name) for name in sorted(attributes - names) if not effect_of(name, exact=True)]
    candidates = calls + attributes_only
    if not candidates or not connector_class(datasource.engine).has_volatility_catalog:
        return frozenset()
    source = _source_identity(datasource)
    now = time.monotonic()
    with _cache_lock:
        known = {key: entry[1] for key in candidates if (entry := _cache.get((source, *key))) and entry[0] > now}
    missing = [key for key in candidates if key not in known]
    if missing:
        missing_calls = [name for kind, name in missing if kind == "call"]
        volatile = connector_for(datasource, CredentialRole.READ).volatile_functions(
            missing_calls,
            reviewed=[name for name in missing_calls if name in HARMLESS_VOLATILE_FUNCTIONS],
            attributes=[name for kind, name in missing if kind == "attribute"],
        )
        volatile |= _unsafe_bodies(datasource, sorted({name for _, name in missing} - volatile), depth)
        expires = time.monotonic() + CACHE_SECONDS
        with _cache_lock:
            if len(_cache) > CACHE_MAX_ENTRIES:
                _cache.clear()
            for key in missing:
                known[key] = key[1] in volatile
                _cache[(source, *key)] = (expires, key[1] in volatile)
    return frozenset(name for (_, name), volatile in known.items() if volatile)


def _unsafe_bodies(datasource: DataSource, names: list[str], depth: int) -> set[str]:
    """Those of `names` (declared safe) whose body calls what a read may not: a STABLE
    PL/pgSQL function may still PERFORM pg_advisory_lock, an INVOKER MariaDB function
    call a definer's that sets a GLOBAL. Nested calls are followed MAX_BODY_DEPTH deep;
    deeper is not vouched for. On PostgreSQL every SQL and PL/pgSQL body is readable; on
    MySQL a function whose body the login may not read is refused before this
    (`volatile_functions`)."""
    if not names:
        return set()
    if depth >= MAX_BODY_DEPTH:
        return set(names)
    bodies = connector_for(datasource, CredentialRole.READ).function_bodies(names)
    unsafe = set()
    for name, texts in bodies.items():
        for text in texts:
            called = (
                frozenset(function.name for function in called_functions(text, datasource.engine))
                | _procedures_called(text, datasource.engine)
            ) - {name}
            if (
                _runs_sql_made_at_run_time(text, datasource.engine)
                or _acts_on_the_server(text, datasource.engine)
                or side_effect_calls(text, datasource.engine)
                or unsafe_functions(datasource, called, depth=depth + 1)
                or _reads_unsafe_relations(datasource, text, depth + 1)
                or _uses_hidden_callers(datasource, text)
            ):
                unsafe.add(name)
                break
    return unsafe


# Words that start what a read-only transaction does not stop, whoever runs it.
_SERVER_STATEMENTS = frozenset({"KILL", "SHUTDOWN", "INSTALL", "UNINSTALL", "PURGE", "FLUSH", "BINLOG"})


def _acts_on_the_server(body: str, dialect: str) -> bool:
    """Whether a body (MySQL's and MariaDB's: a PostgreSQL function declared safe runs its
    SQL read-only, which refuses anything but queries) holds what acts beyond the read-only
    transaction with the reader's own rights: `SET GLOBAL` (or ROLE, PASSWORD…), `INTO
    OUTFILE`/`DUMPFILE`, KILL, SHUTDOWN. An INVOKER function declared NO SQL did both of
    the first two for a read login allowed to; least privilege is the second wall, this
    the first. Words are looked for anywhere in a statement (after IF … THEN too): a column
    of such a name makes a false alarm, never a miss."""
    if dialect != "mysql":
        return False
    for statement in statements_of(body, dialect):
        words = [token.value for token in statement.tokens if token.kind == WORD]
        if "SET" in words and RISKY_SET_WORDS.intersection(words):
            return True
        if any(word == "INTO" and following in ("OUTFILE", "DUMPFILE") for word, following in pairwise(words)):
            return True
        if _SERVER_STATEMENTS.intersection(words):
            return True
    return False


def _procedures_called(body: str, dialect: str) -> frozenset[str]:
    """The procedures a body CALLs: MariaDB takes `CALL name` without parentheses, which
    no function call looks like, and a definer's procedure called so from an INVOKER
    function set a GLOBAL. They are asked about as functions are (`volatile_functions`)."""
    names = set()
    for statement in statements_of(body, dialect):
        tokens = statement.tokens
        for index, token in enumerate(tokens[:-1]):
            if token.kind != WORD or token.value != "CALL":
                continue
            name = index + 1
            while name + 2 < len(tokens) and tokens[name + 1].value == "." and tokens[name + 2].kind in (WORD, QIDENT):
                name += 2  # schema.name: the name
            if tokens[name].kind in (WORD, QIDENT):
                names.add(fold_name(tokens[name].value))
    return frozenset(names)


def _reads_unsafe_relations(datasource: DataSource, body: str, depth: int) -> bool:
    """Whether a body reads a relation a read may not: a STABLE function's `SELECT count(*)
    FROM v` ran v's pg_try_advisory_lock, and one over a foreign table the far side's SQL.
    `depth` bodies deep, the functions those views call are followed no deeper than the
    body's own (a view over a function whose body reads the view ends there, refused)."""
    roots = list(_relations_read(body, datasource.engine))
    if not roots:
        return False
    views = _views_under(datasource, roots, depth)
    return any(_reason_under(root, views) is not None for root in roots)


def _runs_sql_made_at_run_time(body: str, dialect: str) -> bool:
    """A body with EXECUTE (PL/pgSQL's `EXECUTE text`, `FOR … IN EXECUTE`, `RETURN QUERY
    EXECUTE`) runs SQL that only exists once the function runs: `EXECUTE 'SELECT
    pg_try_advisory_lock(' || n || ')'` took the lock from a function declared STABLE. A
    column named execute is refused too: that is rare, and this rule must fail closed."""
    return any(
        token.kind == WORD and token.value == "EXECUTE"
        for statement in statements_of(body, dialect)
        for token in statement.tokens
    )


def hidden_callers(datasource: DataSource, sql: str) -> dict[str, str]:
    """The source's operators, domains and casts whose use calls a function that may
    change state (`Connector.hidden_callers`): one the catalog says may, or one declared
    safe whose body says otherwise. Cached like the functions; none asked for a text that
    cannot use one (`SELECT 1` still reads when the source is down, and then the worker
    retries it)."""
    if not connector_class(datasource.engine).has_volatility_catalog or not _may_use_hidden_callers(
        sql, datasource.engine
    ):
        return {}
    return _kept_for_a_while(datasource, "hidden callers", lambda: _callers_by_bodies(datasource))


def _callers_by_bodies(datasource: DataSource) -> dict[str, str]:
    callers = _catalog_callers(datasource)
    found = dict(callers.unsafe)
    declared_safe = sorted(set().union(*callers.declared_safe.values()))
    broken = _unsafe_bodies(datasource, declared_safe, depth=1)
    for caller, functions in callers.declared_safe.items():
        for function in sorted(functions & broken):
            found.setdefault(caller, f"calls {function}(), whose body calls what a read may not")
    _add_containers(found, callers.parts)
    return found


def _add_containers(found: dict[str, str], parts: dict[str, frozenset[str]]) -> None:
    """Types whose values hold a value of a type in `found` (at any depth: a composite of a
    composite of a domain) are added to it: reading their literals runs the parts' input."""
    changed = True
    while changed:
        changed = False
        for container, held in sorted(parts.items()):
            part = next((part for part in sorted(held) if part in found), None)
            if container not in found and part is not None:
                found[container] = f"holds values of {part.replace(':', ' ', 1)}, which {found[part]}"
                changed = True


def _uses_hidden_callers(datasource: DataSource, body: str) -> bool:
    """Whether a body uses an operator, a domain or a cast of the source's own that calls
    a function the catalog says may change state, or one of the source's own functions
    (whose body is not followed from here: the answer for these is being made from bodies
    like this one). A STABLE SQL function of `SELECT 1 === 2` took the lock its
    operator's function takes."""
    if not connector_class(datasource.engine).has_volatility_catalog or not _may_use_hidden_callers(
        body, datasource.engine
    ):
        return False
    callers = _callers_by_catalog(datasource)
    return bool(callers) and bool(hidden_calls_used(body, datasource.engine, callers))


def _callers_by_catalog(datasource: DataSource) -> dict[str, str]:
    """The source's operators, domains and casts that call a function the catalog says may
    change state, or any function of the source's own, without reading bodies (cached)."""

    def found_by_catalog() -> dict[str, str]:
        callers = _catalog_callers(datasource)
        found = dict(callers.unsafe)
        for caller, functions in callers.declared_safe.items():
            found.setdefault(
                caller, f"calls {', '.join(sorted(functions))}(), of the source's own, not followed this deep"
            )
        _add_containers(found, callers.parts)
        return found

    return _kept_for_a_while(datasource, "callers by catalog", found_by_catalog)


def _catalog_callers(datasource: DataSource) -> HiddenCallers:
    """The connector's `hidden_callers` answer, asked once a minute for both views of it above."""
    return _kept_for_a_while(
        datasource, "catalog callers", lambda: connector_for(datasource, CredentialRole.READ).hidden_callers()
    )


def _kept_for_a_while(datasource: DataSource, what: str, compute: Callable[[], T]) -> T:
    """`compute()`, remembered for CACHE_SECONDS per source under `what`."""
    key = (_source_identity(datasource), what)
    now = time.monotonic()
    with _cache_lock:
        entry = _hidden_cache.get(key)
    if entry is not None and entry[0] > now:
        return entry[1]
    value = compute()
    with _cache_lock:
        _hidden_cache[key] = (time.monotonic() + CACHE_SECONDS, value)
    return value


def forget_cached_functions() -> None:
    """Drop every cached answer (tests, and after an admin changes a source)."""
    with _cache_lock:
        _cache.clear()
        _view_cache.clear()
        _hidden_cache.clear()


# Operators of the system's that a user's cannot displace for the plain values a text
# without names holds (the system's come first in the search path).
_PLAIN_OPERATORS = frozenset({"+", "-", "*", "/", "%", "^", "=", "<", ">", "<=", ">=", "<>", "!=", "||"})


@kept_for_short_texts
def _relations_read(sql: str, dialect: str) -> tuple[str, ...]:
    """The relation names `sql` reads, sorted (remembered: asked on every read)."""
    return tuple(sorted({table.name for table in referenced_tables(sql, dialect)}))


@kept_for_short_texts
def _may_use_hidden_callers(sql: str, dialect: str) -> bool:
    """Whether `sql` may use an operator, a domain or a cast of the source's own: it reads
    a relation (whose columns' types may be cast implicitly), calls a function, casts,
    writes a typed literal (`locked_int '1'`) or an operator that is not a plain one."""
    for statement in statements_of(sql, dialect):
        tokens = statement.tokens
        if tables_read(tokens) or function_calls(tokens, dialect):
            return True
        if any(run not in _PLAIN_OPERATORS for run in operator_runs(tokens)):
            return True
        if any(token.kind in (WORD, QIDENT) and following.kind == STRING for token, following in pairwise(tokens)):
            return True
        if any(
            token.kind == OP or (token.kind == WORD and token.value in ("CAST", "OPERATOR", "TREAT"))
            for token in tokens
        ):
            return True
    return False


@dataclass(frozen=True)
class _View:
    """What the catalog says of a name a read reads: not a view (`reason` None, `reads`
    empty), or a view whose definition is not a read (`reason`) or reads `reads`."""

    reason: str | None = None
    reads: tuple[str, ...] = ()
    is_view: bool = True  # False: a table whose read itself runs something (a program, a remote read)


_NOT_A_VIEW = _View()


def unsafe_views(datasource: DataSource, sql: str) -> dict[str, str]:
    """The relations `sql` reads that are views whose definition (or that of a view they
    read, at any depth) is not a read by the classifier's rules and this source's
    catalog, each with why. Raises ConnectorError when the source cannot be asked."""
    if not connector_class(datasource.engine).has_volatility_catalog:
        return {}
    roots = _relations_read(sql, datasource.engine)
    if not roots:
        return {}
    views = _views_under(datasource, list(roots), 0)
    found = {}
    for root in roots:
        reason = _reason_under(root, views)
        if reason is not None:
            found[root] = reason
    return found


def _views_under(datasource: DataSource, roots: list[str], depth: int) -> dict[str, _View]:
    """Every name reachable from `roots` through view definitions, breadth first; `depth`:
    how many function bodies deep the views are read (their calls are followed from there)."""
    views: dict[str, _View] = {}
    pending = list(roots)
    while pending:
        if len(views) + len(pending) > MAX_VIEWS_PER_READ:
            too_many = _View(f"reads more than {MAX_VIEWS_PER_READ} views, more than QueryBase checks for a read")
            views.update(dict.fromkeys(pending, too_many))
            break
        views.update(_views_named(datasource, pending, depth))
        reached = {name for name in pending for name in views[name].reads}
        pending = sorted(reached - views.keys())
    return views


def _views_named(datasource: DataSource, names: list[str], depth: int) -> dict[str, _View]:
    source = _source_identity(datasource)
    now = time.monotonic()
    with _cache_lock:
        known = {name: entry[1] for name in names if (entry := _view_cache.get((source, name))) and entry[0] > now}
    missing = [name for name in names if name not in known]
    if missing:
        found = connector_for(datasource, CredentialRole.READ).view_definitions(missing)
        fresh = {name: _relation_of(datasource, name, found, depth) for name in missing}
        expires = time.monotonic() + CACHE_SECONDS
        with _cache_lock:
            if len(_view_cache) > CACHE_MAX_ENTRIES:
                _view_cache.clear()
            _view_cache.update({(source, name): (expires, view) for name, view in fresh.items()})
        known.update(fresh)
    return known


def _relation_of(datasource: DataSource, name: str, found: RelationDefinitions, depth: int) -> _View:
    """What reading `name` runs: a program, another server's or engine's read, or a view's
    (and row security policies') queries, in that order of gravity."""
    if name in found.programs:
        return _program_run(found.programs[name])
    if name in found.remote:
        return _remote_read(name, found.remote[name])
    calls = found.operator_class_calls.get(name, [])
    functions = frozenset(function for function, _ in calls)
    # No text names these calls, so one the fixed lists know is unsafe here by itself.
    unsafe = unsafe_functions(datasource, functions, depth=depth) | {f for f in functions if effect_of(f)}
    for function, used_by in calls:
        if function in unsafe:
            return _View(
                f"has {used_by} calling {function}(), which the source's catalog says may change state, "
                "and which a read of it may use",
                is_view=False,
            )
    return _view_of(datasource, found.queries.get(name, []), depth)


def _program_run(programs: list[str]) -> _View:
    """A foreign table that runs a command in the database server's shell on every read
    (file_fdw's `program`): whatever that command does, it is not a read."""
    return _View(
        f"is a foreign table that runs the program {programs[0]!r} on the database server when read", is_view=False
    )


def _remote_read(name: str, tables: list[RemoteTable]) -> _View:
    """A table whose rows another server or engine produces (a postgres_fdw foreign table,
    a FEDERATED table): that side runs SQL of its own, its views and functions included,
    with its own login and outside the read-only transaction, and may keep a session open
    on the pooled connection. Nothing in this source's catalog says what it does there,
    so reading it is not vouched for as a read."""
    remote = tables[0]
    where = "is" if remote.table == name else f"reads {remote.table}, which is"
    return _View(
        f"{where} {remote.what}, whose rows are read elsewhere: that side runs its own SQL outside this "
        "read-only transaction, so nothing vouches that it only reads",
        is_view=False,
    )


def _view_of(datasource: DataSource, definitions: list[str], depth: int) -> _View:
    """One name's views (one per schema that has it): the first reason found, or all they read."""
    if not definitions:
        return _NOT_A_VIEW
    reads: set[str] = set()
    for definition in definitions:
        if not definition.strip():
            return _View("cannot be seen by the read login, so nothing vouches that it only reads")
        classification = classify_sql(definition, datasource.engine)
        if not classification.is_read:
            reasons = (reason for statement in classification.statements for reason in statement.reasons)
            return _View("; ".join(dict.fromkeys(reasons)) or "is not a read")
        unsafe = unsafe_functions(
            datasource, classification.called_functions, classification.attribute_names, depth=depth
        )
        if unsafe:
            return _View(f"calls {', '.join(sorted(unsafe))}, which the source's catalog says may change state")
        hidden = _hidden_uses(datasource, definition, depth)
        if hidden:
            return _View("; ".join(hidden))
        reads.update(table.name for table in referenced_tables(definition, datasource.engine))
    return _View(None, tuple(sorted(reads)))


def _hidden_uses(datasource: DataSource, definition: str, depth: int) -> list[str]:
    """Why a view's definition uses an operator, a domain or a cast of the source's own
    whose function may change state (a view of `1 === 2` took the lock its operator's
    function takes). Asked for the views a read names and those they read, not for views
    read from inside a function's body: the answer for the operators is being made then
    (their functions' bodies are what is read), and asking it again would not end."""
    if depth > 0:
        return []
    callers = hidden_callers(datasource, definition)
    if not callers:
        return []
    classification = classify_sql(definition, datasource.engine, hidden_calls=callers)
    if classification.is_read:
        return []
    return list(dict.fromkeys(reason for statement in classification.statements for reason in statement.reasons))


def _reason_under(root: str, views: dict[str, _View]) -> str | None:
    """Why reading `root` is not a read: its own definition's reason, or a view's under it."""
    seen = {root}
    stack = [(root, root)]
    while stack:
        name, path = stack.pop()
        view = views.get(name, _NOT_A_VIEW)
        if view.reason is not None:
            if name == root:
                return f"is a view whose definition is not a read: {view.reason}" if view.is_view else view.reason
            where = f"reads {path[len(root) + len(' reads ') :]}"
            if view.is_view:
                return f"{where}, a view whose definition is not a read: {view.reason}"
            return f"{where}, which {view.reason}"
        for child in view.reads:
            if child not in seen:
                seen.add(child)
                stack.append((child, f"{path} reads {child}"))
    return None
