"""Before a MySQL/MariaDB dry-run: prove, from the catalog, that a rollback undoes all of it.

Only InnoDB undoes changes on rollback; MyISAM, Aria, MEMORY, CSV, sequences and the like
keep them. So every table the statements name, in whichever schema, must be InnoDB, and
so must every table reached from it: through its triggers (whose bodies are read the
same way) and through the definitions of views. A name that cannot be found refuses the
dry-run (what cannot be found cannot be checked), and so does a call of a stored function
or procedure, whose body may touch anything.

AUTO_INCREMENT: an INSERT takes numbers from the table's counter, and a rollback does
not give them back (the counter stays advanced: a visible gap). That is a change left
behind, so a statement that may insert into such a table is refused, not run and
reported; such writes are what sandboxes are for.

Limitation, by MySQL's design: information_schema shows a table's triggers only to a
user with the TRIGGER privilege on it; the owner credentials of a source should have it.
"""

from apps.sqlcore.classification import side_effect_calls
from apps.sqlcore.sqltext import WORD, statements_of
from apps.sqlcore.tables import called_functions, referenced_tables

DIALECT = "mysql"
MAX_TABLES = 200
_INSERTING_WORDS = frozenset({"INSERT", "REPLACE", "LOAD", "DEFAULT", "MERGE"})

_RESOLVE_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, AUTO_INCREMENT FROM information_schema.TABLES
WHERE LOWER(TABLE_SCHEMA) = LOWER(COALESCE(%s, DATABASE())) AND LOWER(TABLE_NAME) = %s
"""
_VIEW_SQL = "SELECT VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
_TRIGGERS_SQL = """
SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS
WHERE EVENT_OBJECT_SCHEMA = %s AND EVENT_OBJECT_TABLE = %s
"""
_ROUTINES_SQL = (
    "SELECT ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'FUNCTION' "
    "AND LOWER(ROUTINE_NAME) IN ({})"
)


def unsafe_dry_run_reasons(cursor, sql: str) -> list[str]:
    """Why a rollback would not undo everything `sql` does (empty: the dry-run may run)."""
    inspection = _Inspection(cursor)
    inspection.read_text(sql, "the statements", schema=None)
    return list(dict.fromkeys(inspection.reasons))


class _Inspection:
    def __init__(self, cursor):
        self.cursor = cursor
        self.reasons: list[str] = []
        self.visited: dict[tuple[str, str], bool] = {}  # (schema, table) -> visited as an INSERT target

    def _rows(self, query: str, params) -> list[tuple]:
        self.cursor.execute(query, params)
        return list(self.cursor.fetchall())

    def read_text(self, text: str, origin: str, *, schema: str | None) -> None:
        """Side effects, stored functions and tables of one piece of SQL; `schema` is the
        one unqualified names belong to (None: the connection's database)."""
        inserting = _may_insert(text)
        self.reasons.extend(f"{origin}: {reason}" for reason in side_effect_calls(text, DIALECT))
        if "CALL" in _words(text):
            self.reasons.append(f"{origin}: calls a stored procedure, whose body QueryBase does not check")
        self._refuse_stored_functions(text, origin)
        for table in referenced_tables(text, DIALECT):
            rows = self._rows(_RESOLVE_SQL, [table.schema or schema, table.name])
            if not rows:
                self.reasons.append(f"{origin}: cannot find table {table}, so cannot check it")
            for row in rows:
                self._visit(*row, inserting=inserting, origin=origin)

    def _refuse_stored_functions(self, text: str, origin: str) -> None:
        names = sorted({function.name for function in called_functions(text, DIALECT)})
        if not names:
            return
        query = _ROUTINES_SQL.format(", ".join(["%s"] * len(names)))
        for schema, name in self._rows(query, names):
            self.reasons.append(
                f"{origin}: calls stored function {schema}.{name}(), whose body QueryBase does not check"
            )

    def _visit(
        self, schema: str, name: str, kind: str, engine: str | None, auto_increment, *, inserting: bool, origin: str
    ) -> None:
        key = (schema, name)
        if key in self.visited and (self.visited[key] or not inserting):
            return
        self.visited[key] = inserting or self.visited.get(key, False)
        if len(self.visited) > MAX_TABLES:
            self.reasons.append(f"reaches more than {MAX_TABLES} tables; too many to check")
            return
        label = f"{schema}.{name}"
        via = "" if origin == "the statements" else f" (reached through {origin})"
        if kind == "VIEW":
            rows = self._rows(_VIEW_SQL, [schema, name])
            if not rows or not rows[0][0]:
                self.reasons.append(f"cannot read the definition of view {label}{via}, so cannot check it")
            else:
                self.read_text(rows[0][0], f"view {label}", schema=schema)
        elif kind == "SYSTEM VIEW":
            return  # information_schema and the like: cannot be written
        elif kind != "BASE TABLE" or (engine or "").lower() != "innodb":
            self.reasons.append(
                f"{label} ({engine or kind}){via} is not InnoDB: a rollback does not undo changes to it"
            )
        if inserting and auto_increment is not None:
            self.reasons.append(
                f"{label}{via} has an AUTO_INCREMENT counter: a rollback does not give its numbers back"
            )
        for trigger, body in self._rows(_TRIGGERS_SQL, [schema, name]):
            self.read_text(body, f"trigger {schema}.{trigger} on {label}", schema=schema)


def _may_insert(text: str) -> bool:
    return bool(_words(text) & _INSERTING_WORDS)


def _words(text: str) -> set[str]:
    return {
        token.value for statement in statements_of(text, DIALECT) for token in statement.tokens if token.kind == WORD
    }
