"""The search store on PostgreSQL: full-text search in a database of its own
(AUDIT_SEARCH_URL), never the metadata database."""

import contextlib
import json
from typing import Any

import psycopg
from psycopg import sql as psql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from apps.audit_search.search_store.base import AuditDocument, AuditPage, AuditQuery, words_of

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_documents (
    event_id bigint PRIMARY KEY,
    created_at timestamptz NOT NULL,
    actor text NOT NULL DEFAULT '',
    action text NOT NULL,
    object_type text NOT NULL DEFAULT '',
    object_id text NOT NULL DEFAULT '',
    object_repr text NOT NULL DEFAULT '',
    datasource_id bigint,
    ip_address text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    outcome text NOT NULL DEFAULT '',
    error text NOT NULL DEFAULT '',
    sql text NOT NULL DEFAULT '',
    tables text[] NOT NULL DEFAULT '{}',
    keys text[] NOT NULL DEFAULT '{}',
    body text NOT NULL DEFAULT '',
    detail jsonb NOT NULL DEFAULT '{}',
    search tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_documents_time ON audit_documents (created_at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_documents_actor ON audit_documents (actor, created_at DESC);
CREATE INDEX IF NOT EXISTS audit_documents_source ON audit_documents (datasource_id, created_at DESC);
CREATE INDEX IF NOT EXISTS audit_documents_action ON audit_documents (action, created_at DESC);
CREATE INDEX IF NOT EXISTS audit_documents_object ON audit_documents (object_type, object_id);
CREATE INDEX IF NOT EXISTS audit_documents_tables ON audit_documents USING gin (tables);
CREATE INDEX IF NOT EXISTS audit_documents_keys ON audit_documents USING gin (keys);
CREATE INDEX IF NOT EXISTS audit_documents_search ON audit_documents USING gin (search);
-- How each object (a run, a request) ended, from its latest event that says so.
CREATE TABLE IF NOT EXISTS audit_object_outcomes (
    object_type text NOT NULL,
    object_id text NOT NULL,
    outcome text NOT NULL,
    error text NOT NULL DEFAULT '',
    event_id bigint NOT NULL,
    PRIMARY KEY (object_type, object_id)
);
"""

_UPSERT = """
INSERT INTO audit_documents (event_id, created_at, actor, action, object_type, object_id, object_repr,
    datasource_id, ip_address, request_id, outcome, error, sql, tables, keys, body, detail, search)
VALUES (%(event_id)s, %(created_at)s, %(actor)s, %(action)s, %(object_type)s, %(object_id)s, %(object_repr)s,
    %(datasource_id)s, %(ip_address)s, %(request_id)s, %(outcome)s, %(error)s, %(sql)s, %(tables)s, %(keys)s,
    %(text)s, %(detail)s, to_tsvector('simple', %(words)s))
ON CONFLICT (event_id) DO UPDATE SET
    created_at = EXCLUDED.created_at, actor = EXCLUDED.actor, action = EXCLUDED.action,
    object_type = EXCLUDED.object_type, object_id = EXCLUDED.object_id, object_repr = EXCLUDED.object_repr,
    datasource_id = EXCLUDED.datasource_id, ip_address = EXCLUDED.ip_address, request_id = EXCLUDED.request_id,
    outcome = EXCLUDED.outcome, error = EXCLUDED.error, sql = EXCLUDED.sql, tables = EXCLUDED.tables,
    keys = EXCLUDED.keys, body = EXCLUDED.body, detail = EXCLUDED.detail, search = EXCLUDED.search
"""

_UPSERT_OUTCOME = """
INSERT INTO audit_object_outcomes (object_type, object_id, outcome, error, event_id)
VALUES (%(object_type)s, %(object_id)s, %(outcome)s, %(error)s, %(event_id)s)
ON CONFLICT (object_type, object_id) DO UPDATE
    SET outcome = EXCLUDED.outcome, error = EXCLUDED.error, event_id = EXCLUDED.event_id
    WHERE audit_object_outcomes.event_id < EXCLUDED.event_id
"""

_COLUMNS = """d.event_id, d.created_at, d.actor, d.action, d.object_type, d.object_id, d.object_repr,
    d.datasource_id, d.ip_address, d.request_id, d.sql, d.tables, d.keys, d.body, d.detail,
    CASE WHEN d.outcome <> '' THEN d.outcome ELSE coalesce(o.outcome, '') END AS outcome,
    CASE WHEN d.outcome <> '' THEN d.error ELSE coalesce(o.error, '') END AS error"""


class PostgresSearchStore:
    def __init__(self, url: str, *, max_connections: int = 4):
        self.url = url
        self._pool: ConnectionPool | None = None
        self._max_connections = max_connections

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            # Opened on first use, so a process that forks (Celery's prefork pool) never
            # shares the parent's sockets. A connection the server hung up (a restart) is
            # dropped when taken, not handed out to fail.
            self._pool = ConnectionPool(
                self.url,
                min_size=0,
                max_size=self._max_connections,
                open=True,
                kwargs={"autocommit": False},
                check=ConnectionPool.check_connection,
            )
        return self._pool

    def ensure_schema(self) -> None:
        self._create_database_if_missing()
        with self.pool.connection() as connection:
            connection.execute(SCHEMA)

    def _create_database_if_missing(self) -> None:
        try:
            psycopg.connect(self.url, connect_timeout=5).close()
            return
        except psycopg.OperationalError as error:
            if "does not exist" not in str(error):
                raise
        name = conninfo_to_dict(self.url).get("dbname")
        maintenance = make_conninfo(self.url, dbname="postgres")
        # Another process may have made it meanwhile.
        with (
            psycopg.connect(maintenance, autocommit=True) as connection,
            contextlib.suppress(psycopg.errors.DuplicateDatabase),
        ):
            connection.execute(psql.SQL("CREATE DATABASE {}").format(psql.Identifier(str(name))))

    def upsert(self, documents: list[AuditDocument]) -> None:
        if not documents:
            return
        rows = [_row(document) for document in sorted(documents, key=lambda document: document.event_id)]
        outcomes = [row for row in rows if row["outcome"] and row["object_id"]]
        with self.pool.connection() as connection, connection.cursor() as cursor:
            cursor.executemany(_UPSERT, rows)
            if outcomes:
                # One order for every writer: two batches never wait on each other in a cycle.
                outcomes.sort(key=lambda row: (row["object_type"], row["object_id"], row["event_id"]))
                cursor.executemany(_UPSERT_OUTCOME, outcomes)

    def search(self, query: AuditQuery, *, offset: int, limit: int) -> AuditPage:
        where, params = _conditions(query)
        order = "ASC" if query.oldest_first else "DESC"
        statement = (
            f"SELECT {_COLUMNS} FROM audit_documents d "
            "LEFT JOIN audit_object_outcomes o ON o.object_type = d.object_type AND o.object_id = d.object_id "
            f"AND d.object_id <> '' WHERE {where} ORDER BY d.created_at {order}, d.event_id {order} "
            "LIMIT %(limit)s OFFSET %(offset)s"
        )
        params.update(limit=limit + 1, offset=offset)
        with self.pool.connection() as connection, connection.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(statement, params).fetchall()
        documents = [_document(row) for row in rows[:limit]]
        return AuditPage(documents=documents, has_more=len(rows) > limit)

    def count(self) -> int:
        with self.pool.connection() as connection:
            row = connection.execute("SELECT count(*) FROM audit_documents").fetchone()
        return int(row[0]) if row else 0

    def event_ids(self) -> list[int]:
        with self.pool.connection() as connection:
            return [row[0] for row in connection.execute("SELECT event_id FROM audit_documents ORDER BY event_id")]

    def clear(self) -> None:
        with self.pool.connection() as connection:
            connection.execute("TRUNCATE audit_documents, audit_object_outcomes")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _conditions(query: AuditQuery) -> tuple[str, dict[str, Any]]:
    parts = ["TRUE"]
    params: dict[str, Any] = {}
    if query.actor is not None:
        parts.append("d.actor = %(actor)s")
        params["actor"] = query.actor
    if query.after is not None:
        parts.append("d.created_at >= %(after)s")
        params["after"] = query.after
    if query.before is not None:
        parts.append("d.created_at < %(before)s")
        params["before"] = query.before
    if query.datasource_id is not None:
        parts.append("d.datasource_id = %(datasource_id)s")
        params["datasource_id"] = query.datasource_id
    if query.action is not None:
        parts.append("d.action = %(action)s")
        params["action"] = query.action
    if query.table is not None:
        parts.append("d.tables @> ARRAY[%(table)s]::text[]")
        params["table"] = query.table.lower()
    if query.key is not None:
        parts.append("d.keys @> ARRAY[%(key)s]::text[]")
        params["key"] = query.key
    if query.text is not None:
        parts.append("d.search @@ plainto_tsquery('simple', %(text)s)")
        params["text"] = words_of(query.text)
    return " AND ".join(parts), params


def _row(document: AuditDocument) -> dict[str, Any]:
    row = document.as_dict()
    row.update(
        created_at=document.created_at,
        tables=list(document.tables),
        keys=list(document.keys),
        detail=json.dumps(document.detail, default=str),
        words=document.search_words(),
    )
    return row


def _document(row: dict[str, Any]) -> AuditDocument:
    return AuditDocument(
        event_id=row["event_id"],
        created_at=row["created_at"],
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
        tables=tuple(row["tables"]),
        keys=tuple(row["keys"]),
        text=row["body"],
        detail=row["detail"],
    )
