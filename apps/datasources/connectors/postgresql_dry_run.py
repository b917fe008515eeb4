"""Before a PostgreSQL dry-run: prove, from the catalog, that a rollback undoes all of it.

Tables are transactional in PostgreSQL; what a rollback does not undo is reached
through them: sequences (nextval in column defaults, identity columns), triggers and
rules that run further code, foreign tables (the remote server decides), functions
whose body we cannot see. So every table the statements name is resolved in the
catalog (an unresolvable name refuses the dry-run: what cannot be found cannot be
checked), and so is every table reached from it (trigger bodies, view definitions,
inheritance children), until nothing new is found.

Serial and identity columns: an INSERT that takes a number from a sequence advances the
sequence for good, rollback or not. That is a change left behind (visible as a gap, and
wrong for anyone relying on dense numbers), so such dry-runs are refused rather than run
and reported; writes of that kind are what sandboxes are for. Statements that cannot
evaluate a column default (UPDATE and DELETE without the DEFAULT keyword) are not
refused for it.
"""

import psycopg

from apps.sqlcore.classification import side_effect_calls
from apps.sqlcore.sqltext import WORD, statements_of
from apps.sqlcore.tables import called_functions, referenced_tables

DIALECT = "postgresql"
MAX_RELATIONS = 200
# Words by which a text may evaluate a column default.
_INSERTING_WORDS = frozenset({"INSERT", "MERGE", "DEFAULT", "UPSERT", "COPY"})
_SAFE_TRIGGER_LANGUAGES = frozenset({"plpgsql", "sql"})

_RESOLVE_SQL = """
SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE lower(c.relname) = %(name)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND (lower(n.nspname) = %(schema)s OR (%(schema)s::text IS NULL AND pg_table_is_visible(c.oid)))
"""
_RELATION_SQL = "SELECT c.relkind, c.oid::regclass::text FROM pg_class c WHERE c.oid = %s"
_RULES_SQL = "SELECT rulename FROM pg_rewrite WHERE ev_class = %s AND rulename <> '_RETURN'"
_TRIGGERS_SQL = """
SELECT t.tgname, p.prosrc, l.lanname, pn.nspname
FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE t.tgrelid = %s AND NOT t.tgisinternal AND t.tgenabled <> 'D'
"""
_DEFAULTS_SQL = """
SELECT a.attname, a.attidentity <> '', pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped AND (a.attidentity <> '' OR d.adbin IS NOT NULL)
"""
_CHILDREN_SQL = "SELECT inhrelid FROM pg_inherits WHERE inhparent = %s"
_USER_FUNCTIONS_SQL = """
SELECT DISTINCT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE lower(p.proname) = ANY(%s) AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def unsafe_dry_run_reasons(connection: psycopg.Connection, sql: str) -> list[str]:
    """Why a rollback would not undo everything `sql` does (empty: the dry-run may run)."""
    inspection = _Inspection(connection)
    inspection.read_text(sql, "the statements")
    return list(dict.fromkeys(inspection.reasons))


class _Inspection:
    def __init__(self, connection: psycopg.Connection):
        self.connection = connection
        self.reasons: list[str] = []
        self.visited: dict[int, bool] = {}  # oid -> visited as a possible INSERT target

    def _rows(self, query: str, params) -> list[tuple]:
        return self.connection.execute(query, params).fetchall()

    def read_text(self, text: str, origin: str) -> None:
        """Side effects, user functions and tables of one piece of SQL (a statement, a
        trigger body, a view or a default), then each table it names."""
        inserting = _may_insert(text)
        self.reasons.extend(f"{origin}: {reason}" for reason in side_effect_calls(text, DIALECT))
        self._refuse_user_functions(text, origin)
        for table in referenced_tables(text, DIALECT):
            oids = [row[0] for row in self._rows(_RESOLVE_SQL, {"name": table.name, "schema": table.schema})]
            if not oids:
                self.reasons.append(f"{origin}: cannot find table {table}, so cannot check it")
            for oid in oids:
                self._visit(oid, inserting)

    def _refuse_user_functions(self, text: str, origin: str) -> None:
        names = sorted({function.name for function in called_functions(text, DIALECT)})
        if not names:
            return
        for (qualified,) in self._rows(_USER_FUNCTIONS_SQL, [names]):
            self.reasons.append(f"{origin}: calls {qualified}(), whose body QueryBase does not check")

    def _visit(self, oid: int, inserting: bool) -> None:
        if oid in self.visited and (self.visited[oid] or not inserting):
            return
        self.visited[oid] = inserting or self.visited.get(oid, False)
        if len(self.visited) > MAX_RELATIONS:
            self.reasons.append(f"reaches more than {MAX_RELATIONS} tables; too many to check")
            return
        kind, name = self._rows(_RELATION_SQL, [oid])[0]
        if kind == "f":
            self.reasons.append(f"{name} is a foreign table: its server decides what a rollback undoes")
        for (rule,) in self._rows(_RULES_SQL, [oid]):
            self.reasons.append(f"rule {rule} on {name} rewrites statements on it")
        if kind == "v":
            view_sql = self._rows("SELECT pg_get_viewdef(%s::oid)", [oid])[0][0] or ""
            self.read_text(view_sql, f"view {name}")
        self._read_triggers(oid, name)
        if inserting:
            self._refuse_sequences(oid, name)
        for (child,) in self._rows(_CHILDREN_SQL, [oid]):
            self._visit(child, inserting)

    def _read_triggers(self, oid: int, name: str) -> None:
        for trigger, body, language, schema in self._rows(_TRIGGERS_SQL, [oid]):
            origin = f"trigger {trigger} on {name}"
            if schema == "pg_catalog":
                continue  # built-in trigger functions (tsvector_update_trigger, …) change only the row
            if language not in _SAFE_TRIGGER_LANGUAGES:
                self.reasons.append(f"{origin} runs {language} code, which QueryBase cannot check")
                continue
            if _has_word(body, "EXECUTE"):
                self.reasons.append(f"{origin} runs SQL built at run time (EXECUTE)")
            self.read_text(body, origin)

    def _refuse_sequences(self, oid: int, name: str) -> None:
        for column, identity, default in self._rows(_DEFAULTS_SQL, [oid]):
            if identity:
                self.reasons.append(f"{name}.{column} is an identity column: a rollback does not give its numbers back")
                continue
            for reason in side_effect_calls(default, DIALECT):
                self.reasons.append(f"default of {name}.{column} {reason}: a rollback does not undo it")
            self._refuse_user_functions(default, f"default of {name}.{column}")


def _may_insert(text: str) -> bool:
    return bool(_words(text) & _INSERTING_WORDS)


def _has_word(text: str, word: str) -> bool:
    return word in _words(text)


def _words(text: str) -> set[str]:
    return {
        token.value for statement in statements_of(text, DIALECT) for token in statement.tokens if token.kind == WORD
    }
