"""What a write did in a sandbox: the rows each statement affected, and a sample of the
rows it changed, before and after. Captured when the write runs, kept with the run
(`SandboxRunEffect`), and shown to the approver when the writes are promoted to an
approval request.

How. The tables the SQL names (`apps.sqlcore.tables`, an over-approximation) are looked
up in the copy's catalog and read whole before and after the write, then compared: by
primary key where the table has one (a key on both sides is an update, on one side an
insert or a delete), else as multisets of rows. Only copies are read this way: a sandbox
is a bounded sample, and a table above COMPARED_ROWS is reported as too large to compare
rather than read. The two reads are separate transactions from the write's; a sandbox has
one user, so nothing else changes it meanwhile.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from apps.datasources.connectors.base import Connector, ConnectorError, QueryLimits, Table
from apps.sandboxes.engines import CopyEngine, CopyFailed
from apps.sqlcore.statements import BoundStatement
from apps.sqlcore.tables import TableName, referenced_tables

# Rows shown per table (each an update's before and after, an insert's after or a delete's before).
SAMPLE_ROWS = 5
# A table with more rows than this is not compared.
COMPARED_ROWS = 20_000
# Tables compared per write: a statement naming more is summarised by its counts alone.
COMPARED_TABLES = 10
_READ_TIMEOUT_MS = 30_000


@dataclass
class _TableRows:
    label: str
    columns: list[str]
    key: list[str]
    rows: list[list[Any]] | None  # None: too large to compare


@dataclass
class ChangeWatch:
    """The tables a write names, read before it runs; `changes()` reads them again."""

    copies: CopyEngine
    connector: Connector
    copy_name: str
    names: list[TableName]
    before: dict[tuple[str, str], _TableRows] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def changes(self) -> dict[str, Any]:
        """The tables whose rows differ, with counts and a sample; and what was not compared."""
        after = self._read_all()
        tables = []
        for key in sorted(set(self.before) | set(after)):
            change = _compare(self.before.get(key), after.get(key))
            if change is not None:
                tables.append(change)
        return {"tables": tables, "notes": self.notes}

    def _read_all(self) -> dict[tuple[str, str], _TableRows]:
        try:
            catalog = self.connector.schema()
        except ConnectorError as error:
            self.notes.append(f"the copy's tables could not be listed: {error.message}")
            return {}
        found = _matching(catalog, self.names)
        if len(found) > COMPARED_TABLES:
            self.notes.append(f"only the first {COMPARED_TABLES} of {len(found)} tables named were compared")
            found = found[:COMPARED_TABLES]
        tables = {}
        for table in found:
            rows = self._read(table)
            if rows is not None:
                tables[(table.schema, table.name)] = rows
        return tables

    def _read(self, table: Table) -> _TableRows | None:
        label = table.name if table.schema in ("public", "main", self.copy_name) else f"{table.schema}.{table.name}"
        statement = BoundStatement(f"SELECT * FROM {self.copies.quote_table(table.schema, table.name)}")
        try:
            key = self.copies.key_columns(self.copy_name, table.schema, table.name)
            result = self.connector.run_read(
                [statement], QueryLimits(max_rows=COMPARED_ROWS, timeout_ms=_READ_TIMEOUT_MS)
            )
        except (ConnectorError, CopyFailed) as error:
            self.notes.append(f"{label} could not be read: {error.message}")
            return None
        columns = [column.name for column in result.columns]
        if result.truncated:
            return _TableRows(label, columns, key, None)
        return _TableRows(label, columns, key, result.rows)


def watch_changes(copies: CopyEngine, connector: Connector, copy_name: str, sql: str, engine: str) -> ChangeWatch:
    """Read the tables `sql` names in copy `copy_name`, before it runs there."""
    watch = ChangeWatch(copies, connector, copy_name, referenced_tables(sql, engine))
    watch.before = watch._read_all()
    return watch


def _matching(catalog: list[Table], names: list[TableName]) -> list[Table]:
    """The catalog's base tables that a name written in the SQL may mean (case-insensitively;
    an unqualified name may be in any schema the copy has)."""
    wanted = {(name.schema, name.name) for name in names}
    return [
        table
        for table in catalog
        if table.kind == "table"
        and ((table.schema.lower(), table.name.lower()) in wanted or (None, table.name.lower()) in wanted)
    ]


def _compare(before: _TableRows | None, after: _TableRows | None) -> dict[str, Any] | None:
    shown = after or before
    assert shown is not None
    change: dict[str, Any] = {"table": shown.label, "key": shown.key}
    if before is None or after is None:
        # Made or dropped by the write (or unreadable on one side: then a note says so).
        change["created" if before is None else "dropped"] = True
    if (before and before.rows is None) or (after and after.rows is None):
        change["note"] = f"more than {COMPARED_ROWS} rows: not compared"
        return change
    old_rows = before.rows if before and before.rows is not None else []
    new_rows = after.rows if after and after.rows is not None else []
    old_columns = before.columns if before else []
    new_columns = after.columns if after else []
    if _key_usable(before, after, shown.key):
        counts, samples = _by_key(old_columns, old_rows, new_columns, new_rows, shown.key)
    else:
        counts, samples = _as_multisets(old_rows, new_rows)
    if not any(counts.values()) and old_columns == new_columns and before is not None and after is not None:
        return None
    change.update(counts)
    change["columns_before"] = old_columns
    change["columns_after"] = new_columns
    change["sample"] = [_plain(sample) for sample in samples]
    return change


def _key_usable(before: _TableRows | None, after: _TableRows | None, key: list[str]) -> bool:
    """A primary key both sides have (the write may have changed it, or a column of it)."""
    if not key or (before and after and before.key != after.key):
        return False
    return all(side is None or set(key) <= set(side.columns) for side in (before, after))


def _by_key(
    old_columns: list[str], old_rows: list[list], new_columns: list[str], new_rows: list[list], key: list[str]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    def keyed(columns: list[str], rows: list[list]) -> dict[str, list]:
        if not rows:  # no rows on this side (the table was made or dropped by the write)
            return {}
        positions = [columns.index(column) for column in key]
        return {_text([row[position] for position in positions]): row for row in rows}

    old, new = keyed(old_columns, old_rows), keyed(new_columns, new_rows)
    same_shape = old_columns == new_columns
    updated = [k for k in old if k in new and (not same_shape or old[k] != new[k])]
    deleted = [k for k in old if k not in new]
    inserted = [k for k in new if k not in old]
    samples = (
        [{"change": "updated", "before": old[k], "after": new[k]} for k in updated[:SAMPLE_ROWS]]
        + [{"change": "inserted", "before": None, "after": new[k]} for k in inserted[:SAMPLE_ROWS]]
        + [{"change": "deleted", "before": old[k], "after": None} for k in deleted[:SAMPLE_ROWS]]
    )
    return {"updated": len(updated), "inserted": len(inserted), "deleted": len(deleted)}, samples[:SAMPLE_ROWS]


def _as_multisets(old_rows: list[list], new_rows: list[list]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Without a key an update is a row gone and a row come: counted and shown that way."""
    old, new = Counter(_text(row) for row in old_rows), Counter(_text(row) for row in new_rows)
    gone, came = old - new, new - old
    samples = [{"change": "removed", "before": json.loads(text), "after": None} for text in list(gone)[:SAMPLE_ROWS]]
    samples += [{"change": "added", "before": None, "after": json.loads(text)} for text in list(came)[:SAMPLE_ROWS]]
    return {"removed": sum(gone.values()), "added": sum(came.values())}, samples[:SAMPLE_ROWS]


def _plain(value: Any) -> Any:
    """JSON values only (engine-specific wrappers, e.g. JSON documents kept as text, become text)."""
    return json.loads(_text(value))


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
