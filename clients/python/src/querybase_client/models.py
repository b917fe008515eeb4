"""Typed value objects for what the API returns.

Each keeps the API's field names and has `from_api` to build it from a response body,
ignoring fields it does not know: a newer server must not break an older client. `raw`
keeps the whole body for what the dataclass does not model (and for `--json` output).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    @classmethod
    def from_api(cls, body: JSON) -> Column:
        return cls(name=body["name"], type=body.get("type", ""))


@dataclass(frozen=True)
class StatementResult:
    """One statement's result, of SQL with several. An earlier statement brings its first
    rows (at most one page: `row_count` says how many it had; export it with `statement`
    for every row); the last one's rows are the whole result's."""

    statement: int
    sql: str
    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @classmethod
    def from_api(cls, body: JSON, result_rows: list[list[Any]]) -> StatementResult:
        return cls(
            statement=body["statement"],
            sql=body.get("sql", ""),
            columns=[Column.from_api(column) for column in body.get("columns", [])],
            rows=result_rows if body.get("rows_in_result") else body.get("rows", []),
            row_count=body.get("row_count", 0),
            truncated=bool(body.get("truncated", False)),
        )


@dataclass(frozen=True)
class Profile:
    """The signed-in user (`GET /auth/me`) and their rights per source."""

    id: int
    username: str
    is_admin: bool
    groups: list[str]
    datasources: list[JSON]
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, body: JSON) -> Profile:
        return cls(
            id=body["id"],
            username=body["username"],
            is_admin=bool(body.get("is_admin")),
            groups=list(body.get("groups", [])),
            datasources=list(body.get("datasources", [])),
            raw=body,
        )


@dataclass(frozen=True)
class DataSource:
    id: int
    name: str
    engine: str
    description: str
    max_rows: int | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, body: JSON) -> DataSource:
        return cls(
            id=body["id"],
            name=body["name"],
            engine=body.get("engine", ""),
            description=body.get("description", ""),
            max_rows=body.get("max_rows"),
            raw=body,
        )


@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str
    columns: list[TableColumn]

    @classmethod
    def from_api(cls, body: JSON) -> Table:
        columns = [
            TableColumn(name=column["name"], type=column.get("type", ""), nullable=bool(column.get("nullable")))
            for column in body.get("columns", [])
        ]
        return cls(schema=body.get("schema", ""), name=body["name"], kind=body.get("kind", ""), columns=columns)


@dataclass(frozen=True)
class QueryResult:
    """The rows of a finished read, with what the run says about them."""

    run_id: str
    datasource: int
    sql: str
    columns: list[Column]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    took_ms: float | None
    cached: bool
    computed_at: str | None
    raw: JSON = field(repr=False, compare=False)
    # SQL of several statements: each one's result, in order (the last is this result);
    # empty for one statement.
    statements: list[StatementResult] = field(default_factory=list)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows as {column: value} (a later column of the same name wins)."""
        names = self.column_names
        return [dict(zip(names, row, strict=False)) for row in self.rows]

    @classmethod
    def from_api(cls, body: JSON) -> QueryResult:
        result = body.get("result") or {}
        return cls(
            run_id=str(body.get("id", "")),
            datasource=body.get("datasource", 0),
            sql=body.get("sql", ""),
            columns=[Column.from_api(column) for column in result.get("columns", [])],
            rows=result.get("rows", []),
            row_count=result.get("row_count", len(result.get("rows", []))),
            truncated=bool(result.get("truncated", body.get("truncated", False))),
            took_ms=result.get("took_ms"),
            cached=bool(body.get("cached")),
            computed_at=body.get("computed_at"),
            raw=body,
            statements=[
                StatementResult.from_api(entry, result.get("rows", [])) for entry in result.get("statements", [])
            ],
        )


@dataclass(frozen=True)
class QueryRun:
    """One run as history and job polling show it, without its rows."""

    id: str
    status: str
    datasource: int
    datasource_name: str
    sql: str
    params: Any
    verdict: str
    cached: bool
    created_at: str
    duration_ms: float | None
    row_count: int | None
    error: JSON | None
    approval: int | None
    raw: JSON = field(repr=False, compare=False)

    FINISHED = frozenset({"succeeded", "failed", "cancelled"})

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @classmethod
    def from_api(cls, body: JSON) -> QueryRun:
        return cls(
            id=str(body["id"]),
            status=body.get("status", ""),
            datasource=body.get("datasource", 0),
            datasource_name=body.get("datasource_name", ""),
            sql=body.get("sql", ""),
            params=body.get("params"),
            verdict=body.get("verdict", ""),
            cached=bool(body.get("cached")),
            created_at=body.get("created_at", ""),
            duration_ms=body.get("duration_ms"),
            row_count=body.get("row_count"),
            error=body.get("error"),
            approval=body.get("approval"),
            raw=body,
        )


@dataclass(frozen=True)
class StatementVerdict:
    """One statement of a classified text: what it is and why."""

    text: str
    visible_text: str
    kind: str
    verdict: str
    risk: str
    reasons: list[str]

    @classmethod
    def from_api(cls, body: JSON) -> StatementVerdict:
        return cls(
            text=body.get("text", ""),
            visible_text=body.get("visible_text", body.get("text", "")),
            kind=body.get("kind", ""),
            verdict=body.get("verdict", ""),
            risk=body.get("risk", ""),
            reasons=list(body.get("reasons", [])),
        )


@dataclass(frozen=True)
class Classification:
    verdict: str
    risk: str
    statements: list[StatementVerdict]

    @classmethod
    def from_api(cls, body: JSON | None) -> Classification:
        body = body or {}
        statements = [StatementVerdict.from_api(statement) for statement in body.get("statements", [])]
        return cls(verdict=body.get("verdict", ""), risk=body.get("risk", ""), statements=statements)


@dataclass(frozen=True)
class Analysis:
    """What `POST /queries/analyze` says of SQL on a source; nothing is run."""

    dialect: str
    placeholders: list[JSON]
    classification: Classification

    @classmethod
    def from_api(cls, body: JSON) -> Analysis:
        return cls(
            dialect=body.get("dialect", ""),
            placeholders=list(body.get("placeholders", [])),
            classification=Classification.from_api(body.get("classification")),
        )


@dataclass(frozen=True)
class Review:
    reviewer: str
    decision: str
    comment: str
    created_at: str


@dataclass(frozen=True)
class ApprovalRequest:
    """A write waiting for, or past, its decisions. The list endpoint leaves out
    `classification`, `reviews`, `execution` and the dry-run; `show` has them."""

    id: int
    status: str
    datasource: int
    datasource_name: str
    requester: str
    sql: str
    sql_visible: str
    hidden_characters: list[str]
    params: Any
    reason: str
    risk: str
    write_kinds: list[str]
    required_approvals: int
    approvals: int
    created_at: str
    expires_at: str | None
    decided_at: str | None
    classification: Classification | None
    reviews: list[Review]
    execution: JSON | None
    dry_run_result: Any
    raw: JSON = field(repr=False, compare=False)

    @property
    def is_high_risk(self) -> bool:
        return self.risk == "high"

    @classmethod
    def from_api(cls, body: JSON) -> ApprovalRequest:
        reviews = [
            Review(
                reviewer=review.get("reviewer", ""),
                decision=review.get("decision", ""),
                comment=review.get("comment", ""),
                created_at=review.get("created_at", ""),
            )
            for review in body.get("reviews", [])
        ]
        classification = body.get("classification")
        return cls(
            id=body["id"],
            status=body.get("status", ""),
            datasource=body.get("datasource", 0),
            datasource_name=body.get("datasource_name", ""),
            requester=body.get("requester", ""),
            sql=body.get("sql", ""),
            sql_visible=body.get("sql_visible", body.get("sql", "")),
            hidden_characters=list(body.get("hidden_characters", [])),
            params=body.get("params"),
            reason=body.get("reason", ""),
            risk=body.get("risk", ""),
            write_kinds=list(body.get("write_kinds") or []),
            required_approvals=body.get("required_approvals", 1),
            approvals=body.get("approvals", 0),
            created_at=body.get("created_at", ""),
            expires_at=body.get("expires_at"),
            decided_at=body.get("decided_at"),
            classification=Classification.from_api(classification) if classification is not None else None,
            reviews=reviews,
            execution=body.get("execution"),
            dry_run_result=body.get("dry_run_result"),
            raw=body,
        )


@dataclass(frozen=True)
class SavedQuery:
    id: int
    name: str
    description: str
    datasource: int
    sql: str
    default_params: Any
    owner: str
    share_url: str | None
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, body: JSON) -> SavedQuery:
        return cls(
            id=body["id"],
            name=body.get("name", ""),
            description=body.get("description", ""),
            datasource=body.get("datasource", 0),
            sql=body.get("sql", ""),
            default_params=body.get("default_params"),
            owner=body.get("owner", ""),
            share_url=body.get("share_url"),
            raw=body,
        )


@dataclass(frozen=True)
class Sandbox:
    """A private writable copy of a source (`creating`, `active`, `idle`, `failed`, …).
    `progress` says what is being done while `creating`; `error_message` why a copy failed."""

    id: int
    datasource: int
    datasource_name: str
    owner: str | None
    state: str
    sampled_tables: list[str]
    size_bytes: int | None
    last_used_at: str | None
    expires_at: str | None
    progress: str | None
    error_message: str
    raw: JSON = field(repr=False, compare=False)

    @property
    def is_ready(self) -> bool:
        """SQL can run in it."""
        return self.state in ("active", "idle")

    @classmethod
    def from_api(cls, body: JSON) -> Sandbox:
        return cls(
            id=body["id"],
            datasource=body.get("datasource", 0),
            datasource_name=body.get("datasource_name", ""),
            owner=body.get("owner"),
            state=body.get("state", ""),
            sampled_tables=list(body.get("sampled_tables") or []),
            size_bytes=body.get("size_bytes"),
            last_used_at=body.get("last_used_at"),
            expires_at=body.get("expires_at"),
            progress=body.get("progress"),
            error_message=body.get("error_message", ""),
            raw=body,
        )


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    created_at: str
    key: str | None = None  # only when just created: the server shows it once

    @classmethod
    def from_api(cls, body: JSON) -> ApiKey:
        return cls(
            id=body["id"],
            name=body.get("name", ""),
            prefix=body.get("prefix", ""),
            created_at=body.get("created_at", ""),
            key=body.get("key"),
        )


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: the file, its size, and the rows counted on the way."""

    path: str
    format: str
    bytes_written: int
    rows: int
    #: The export stopped at the source's row cap: more rows exist than the file holds.
    truncated: bool = False


@dataclass(frozen=True)
class AuditEvent:
    """One entry of an audit report: who did what, on which object, how it ended."""

    event_id: int
    created_at: str
    actor: str
    action: str
    object_repr: str
    datasource_id: int | None
    outcome: str
    error: str
    sql: str
    tables: list[str]
    text: str
    raw: JSON = field(repr=False, compare=False)

    @classmethod
    def from_api(cls, body: JSON) -> AuditEvent:
        return cls(
            event_id=body["event_id"],
            created_at=body.get("created_at", ""),
            actor=body.get("actor", ""),
            action=body.get("action", ""),
            object_repr=body.get("object_repr", ""),
            datasource_id=body.get("datasource_id"),
            outcome=body.get("outcome", ""),
            error=body.get("error", ""),
            sql=body.get("sql", ""),
            tables=list(body.get("tables", [])),
            text=body.get("text", ""),
            raw=body,
        )
