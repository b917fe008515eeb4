"""Audit events as search documents: what the audit search indexes about each event.

An event carries who, what, when, from where and its detail. Runs and requests add what
their SQL touches: every event about a run or a request (its review, its execution, how
it ended) is found by the tables its SQL names and the key values it names, so a record's
lifetime shows all of them. The SQL is read once per batch from the objects themselves.
"""

from dataclasses import dataclass
from typing import Any

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from apps.audit.services import redact_sql
from apps.audit_search.search_store import AuditDocument
from apps.audit_search.search_store.base import table_forms, username_form
from apps.queries.models import QueryRun
from apps.sqlcore.sqltext import NUMBER, PUNCT, STRING, scan
from apps.sqlcore.tables import referenced_tables

RUN = "queries.queryrun"
REQUEST = "approvals.approvalrequest"

# Events that say how their object ended, and in which words.
_ENDINGS = {
    "approval.succeeded": "succeeded",
    "approval.failed": "failed",
    "approval.rejected": "rejected",
    "approval.expired": "expired",
    "approval.cancel": "cancelled",
    "auth.login_failed": "failed",
}
# Detail entries that are searchable prose.
_PROSE = ("reason", "comment", "name")
_MAX_KEYS = 200
_MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class _Statement:
    """The SQL behind a run or request, what it touches and the key values it names."""

    sql: str
    tables: tuple[str, ...]
    keys: tuple[str, ...]


def documents_for(events: list[AuditEvent]) -> list[AuditDocument]:
    statements = _statements_of(events)
    return [_document(event, statements.get((event.object_type, event.object_id))) for event in events]


def _document(event: AuditEvent, statement: _Statement | None) -> AuditDocument:
    detail = event.detail or {}
    outcome, error = _outcome(event.action, detail)
    sql = detail["sql"] if isinstance(detail.get("sql"), str) else ""
    datasource = detail.get("datasource")
    return AuditDocument(
        event_id=event.pk,
        created_at=event.created_at,
        action=event.action,
        actor=username_form(event.actor_username),
        object_type=event.object_type,
        object_id=event.object_id,
        object_repr=event.object_repr,
        datasource_id=datasource if isinstance(datasource, int) else None,
        ip_address=event.ip_address or "",
        request_id=event.request_id,
        outcome=outcome,
        error=error,
        sql=sql,
        tables=statement.tables if statement else (),
        keys=statement.keys if statement else (),
        text=" ".join(str(detail[name]) for name in _PROSE if detail.get(name)),
        detail={name: value for name, value in detail.items() if name != "sql"},
    )


def _outcome(action: str, detail: dict[str, Any]) -> tuple[str, str]:
    error = ": ".join(str(detail[name]) for name in ("error_code", "error_message") if detail.get(name))
    if action == "query.finished":
        return str(detail.get("status", "")), error
    if action == "query.run" and detail.get("from_cache"):
        return "succeeded", ""
    if action == "approval.dry_run" and "ok" in detail:
        return ("succeeded" if detail["ok"] else "failed"), error
    if action in _ENDINGS:
        return _ENDINGS[action], error
    return "", ""


def _statements_of(events: list[AuditEvent]) -> dict[tuple[str, str], _Statement]:
    """The SQL of every run and request the events are about, read in two queries."""
    wanted: dict[str, set[str]] = {RUN: set(), REQUEST: set()}
    for event in events:
        if event.object_type in wanted and event.object_id:
            wanted[event.object_type].add(event.object_id)
    found: dict[tuple[str, str], _Statement] = {}
    if wanted[RUN]:
        runs = QueryRun.objects.filter(pk__in=wanted[RUN]).values_list("pk", "sql", "params", "datasource__engine")
        for pk, sql, params, engine in runs:
            found[(RUN, str(pk))] = _statement(sql, params, engine)
    request_ids = [int(pk) for pk in wanted[REQUEST] if pk.isdigit()]
    if request_ids:
        requests = ApprovalRequest.objects.filter(pk__in=request_ids).values_list(
            "pk", "sql", "params", "datasource__engine"
        )
        for request_id, sql, params, engine in requests:
            found[(REQUEST, str(request_id))] = _statement(sql, params, engine)
    return found


def _statement(sql: str, params: Any, engine: str | None) -> _Statement:
    dialect = engine or "postgresql"
    try:
        tables = table_forms([str(name) for name in referenced_tables(sql, dialect)])
    except Exception:  # text the scanner cannot read still gets a document, without tables
        tables = ()
    safe_sql = redact_sql(sql)  # keys come from the redacted text: a password is no key
    return _Statement(sql=safe_sql, tables=tables, keys=_keys(safe_sql, params, dialect))


def _keys(sql: str, params: Any, dialect: str) -> tuple[str, ...]:
    """Values the SQL compares, sets or inserts, as they would identify a row: literals
    after `=`, in a list (`IN (…)`, `VALUES (…)`), and the bound parameters. An
    over-approximation (a value is not always a key): the table filter narrows it."""
    keys: list[str] = []
    try:
        tokens = scan(sql, dialect)
    except Exception:
        tokens = []
    previous = None
    for token in tokens:
        follows_list_or_equals = previous is not None and previous.kind == PUNCT and previous.value in ("=", ",", "(")
        if token.kind in (NUMBER, STRING) and follows_list_or_equals:
            keys.append(_literal(sql[token.start : token.end]))
        previous = token
    values = params.values() if isinstance(params, dict) else params if isinstance(params, list) else []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (str, int, float)) and not isinstance(item, bool):
                keys.append(str(item))
    unique = dict.fromkeys(key[:_MAX_KEY_LENGTH] for key in keys if key)
    return tuple(list(unique)[:_MAX_KEYS])


def _literal(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 3 and text[0] in "eEnN" and text[1] == text[-1] == "'":
        return text[2:-1].replace("''", "'")
    return text
