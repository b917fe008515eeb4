"""The search store on the embedded default: SQLite with FTS5, in a file of its own under
QUERYBASE_DATA_DIR (never the metadata database's file)."""

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apps.audit_search.search_store.base import AuditDocument, AuditPage, AuditQuery, words_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_documents (
    event_id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    object_type TEXT NOT NULL DEFAULT '',
    object_id TEXT NOT NULL DEFAULT '',
    object_repr TEXT NOT NULL DEFAULT '',
    datasource_id INTEGER,
    ip_address TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    sql TEXT NOT NULL DEFAULT '',
    tables TEXT NOT NULL DEFAULT '[]',
    keys TEXT NOT NULL DEFAULT '[]',
    body TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_documents_time ON audit_documents (created_at, event_id);
CREATE INDEX IF NOT EXISTS audit_documents_actor ON audit_documents (actor, created_at);
CREATE INDEX IF NOT EXISTS audit_documents_source ON audit_documents (datasource_id, created_at);
CREATE INDEX IF NOT EXISTS audit_documents_object ON audit_documents (object_type, object_id);
CREATE TABLE IF NOT EXISTS audit_document_terms (
    kind TEXT NOT NULL,  -- 'table' or 'key'
    term TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (kind, term, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS audit_document_terms_event ON audit_document_terms (event_id);
CREATE VIRTUAL TABLE IF NOT EXISTS audit_documents_fts USING fts5(words);
CREATE TABLE IF NOT EXISTS audit_object_outcomes (
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    event_id INTEGER NOT NULL,
    PRIMARY KEY (object_type, object_id)
);
"""

_COLUMNS = """d.event_id, d.created_at, d.actor, d.action, d.object_type, d.object_id, d.object_repr,
    d.datasource_id, d.ip_address, d.request_id, d.sql, d.tables, d.keys, d.body, d.detail,
    CASE WHEN d.outcome <> '' THEN d.outcome ELSE coalesce(o.outcome, '') END AS outcome,
    CASE WHEN d.outcome <> '' THEN d.error ELSE coalesce(o.error, '') END AS error"""


class SqliteSearchStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()

    @property
    def connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA journal_mode=WAL")
            self._local.connection = connection
        return connection

    def ensure_schema(self) -> None:
        self.connection.executescript(SCHEMA)

    def upsert(self, documents: list[AuditDocument]) -> None:
        if not documents:
            return
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            for document in documents:
                self._write(connection, document)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _write(self, connection: sqlite3.Connection, document: AuditDocument) -> None:
        event_id = document.event_id
        connection.execute(
            "INSERT OR REPLACE INTO audit_documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                _timestamp(document.created_at),
                document.actor,
                document.action,
                document.object_type,
                document.object_id,
                document.object_repr,
                document.datasource_id,
                document.ip_address,
                document.request_id,
                document.outcome,
                document.error,
                document.sql,
                json.dumps(list(document.tables)),
                json.dumps(list(document.keys)),
                document.text,
                json.dumps(document.detail, default=str),
            ),
        )
        connection.execute("DELETE FROM audit_document_terms WHERE event_id = ?", (event_id,))
        connection.executemany(
            "INSERT INTO audit_document_terms VALUES (?, ?, ?)",
            [("table", name, event_id) for name in document.tables] + [("key", key, event_id) for key in document.keys],
        )
        connection.execute("DELETE FROM audit_documents_fts WHERE rowid = ?", (event_id,))
        connection.execute(
            "INSERT INTO audit_documents_fts (rowid, words) VALUES (?, ?)", (event_id, document.search_words())
        )
        if document.outcome and document.object_id:
            connection.execute(
                "INSERT INTO audit_object_outcomes VALUES (?, ?, ?, ?, ?) ON CONFLICT (object_type, object_id) "
                "DO UPDATE SET outcome = excluded.outcome, error = excluded.error, event_id = excluded.event_id "
                "WHERE audit_object_outcomes.event_id < excluded.event_id",
                (document.object_type, document.object_id, document.outcome, document.error, event_id),
            )

    def search(self, query: AuditQuery, *, offset: int, limit: int) -> AuditPage:
        where, params = _conditions(query)
        order = "ASC" if query.oldest_first else "DESC"
        statement = (
            f"SELECT {_COLUMNS} FROM audit_documents d "
            "LEFT JOIN audit_object_outcomes o ON o.object_type = d.object_type AND o.object_id = d.object_id "
            f"AND d.object_id <> '' WHERE {where} ORDER BY d.created_at {order}, d.event_id {order} LIMIT ? OFFSET ?"
        )
        rows = self.connection.execute(statement, [*params, limit + 1, offset]).fetchall()
        return AuditPage(documents=[_document(row) for row in rows[:limit]], has_more=len(rows) > limit)

    def count(self) -> int:
        return int(self.connection.execute("SELECT count(*) FROM audit_documents").fetchone()[0])

    def event_ids(self) -> list[int]:
        return [row[0] for row in self.connection.execute("SELECT event_id FROM audit_documents ORDER BY event_id")]

    def clear(self) -> None:
        self.connection.executescript(
            "DELETE FROM audit_documents; DELETE FROM audit_document_terms; DELETE FROM audit_documents_fts; "
            "DELETE FROM audit_object_outcomes;"
        )

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _timestamp(moment: datetime) -> str:
    """UTC, fixed width: text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _conditions(query: AuditQuery) -> tuple[str, list[Any]]:
    parts = ["1"]
    params: list[Any] = []
    if query.actor is not None:
        parts.append("d.actor = ?")
        params.append(query.actor)
    if query.after is not None:
        parts.append("d.created_at >= ?")
        params.append(_timestamp(query.after))
    if query.before is not None:
        parts.append("d.created_at < ?")
        params.append(_timestamp(query.before))
    if query.datasource_id is not None:
        parts.append("d.datasource_id = ?")
        params.append(query.datasource_id)
    if query.action is not None:
        parts.append("d.action = ?")
        params.append(query.action)
    for kind, value in (("table", query.table and query.table.lower()), ("key", query.key)):
        if value is not None:
            parts.append("d.event_id IN (SELECT event_id FROM audit_document_terms WHERE kind = ? AND term = ?)")
            params.extend([kind, value])
    if query.text is not None:
        # Every word must appear; each is quoted, so FTS5's query syntax never applies.
        words = words_of(query.text).split()
        parts.append("d.event_id IN (SELECT rowid FROM audit_documents_fts WHERE audit_documents_fts MATCH ?)")
        params.append(" ".join(f'"{word}"' for word in words) or '""')
    return " AND ".join(parts), params


def _document(row: sqlite3.Row) -> AuditDocument:
    return AuditDocument(
        event_id=row["event_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        action=row["action"],
        actor=row["actor"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        object_repr=row["object_repr"],
        datasource_id=row["datasource_id"],
        ip_address=row["ip_address"],
        request_id=row["request_id"],
        outcome=row["outcome"],
        error=row["error"],
        sql=row["sql"],
        tables=tuple(json.loads(row["tables"])),
        keys=tuple(json.loads(row["keys"])),
        text=row["body"],
        detail=json.loads(row["detail"]),
    )
