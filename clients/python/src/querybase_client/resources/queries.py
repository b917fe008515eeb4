"""Running SQL: reads, the approval requests writes become, jobs, exports, history."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from querybase_client.errors import QueryBaseAPIError, QueryBaseError, error_from_run
from querybase_client.events import Events
from querybase_client.export import ProgressCallback, write_export
from querybase_client.models import Analysis, ApprovalRequest, ExportSummary, QueryResult, QueryRun
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import WAITING_TIMEOUT, Transport

Params = list[Any] | dict[str, Any] | None
# Each poll asks the server to hold the answer this long: it answers as soon as the run
# ends, so polling costs one request per interval at most, not a busy loop.
POLL_WAIT_SECONDS = 20.0


class RunStillPending(QueryBaseError):
    """`run(timeout=…)` gave up waiting; the run goes on. Poll it with `wait(run_id)` or
    stop it with `cancel(run_id)`."""

    def __init__(self, run: QueryRun):
        super().__init__(f"Run {run.id} is still {run.status}.")
        self.run = run


class Queries(Resource):
    def __init__(self, transport: Transport, datasources: DataSources, *, clock: Callable[[], float] = time.monotonic):
        super().__init__(transport)
        self._datasources = datasources
        self._clock = clock
        self._events = Events(transport)

    def follow(self, run_id: str) -> Iterator[QueryRun]:
        """The run now, then again at each change of status, live, until it finishes."""
        with self._events.open() as events:  # listening before the first look
            run = self.get(run_id)
            yield run
            if run.is_finished:
                return
            for event in events:
                if event.kind == "run.status" and event.data.get("run") == run_id:
                    run = self.get(run_id)
                    yield run
                    if run.is_finished:
                        return

    def run(
        self,
        source: SourceRef,
        sql: str,
        params: Params = None,
        *,
        wait: float | None = None,
        max_age: int | None = None,
        request_approval: bool = True,
        reason: str = "",
        timeout: float | None = None,
        on_job: Callable[[str], None] | None = None,
        on_status: Callable[[QueryRun], None] | None = None,
    ) -> QueryResult | ApprovalRequest:
        """Run `sql` on `source` and return its rows, waiting for the job if the server
        hands one back. SQL that is not a read returns the ApprovalRequest it became (or,
        with `request_approval=False`, raises ApprovalRequiredError with the
        classification). A failed read raises QueryFailedError; `timeout` (seconds, None
        for no limit) raises RunStillPending.

        `params`: a list for `$1, $2…`, a dict for `:name`. `max_age=0` forces a fresh
        run instead of a cached result. `wait`: seconds the server may hold the first
        answer before handing back a job (its default if None). `on_job(run_id)` is
        called when the server hands back a job, so a caller can cancel it. With
        `on_status`, a job is followed live (`follow`), called with each change of status,
        instead of polled.
        """
        body: dict[str, Any] = {
            "datasource": self._datasources.id_of(source),
            "sql": sql,
            "reason": reason,
            "request_approval": request_approval,
        }
        for name, value in (("params", params), ("wait", wait), ("max_age", max_age)):
            if value is not None:
                body[name] = value
        answer = self._transport.request("POST", "/queries", json=body, timeout=WAITING_TIMEOUT)
        if "approval" in answer and isinstance(answer["approval"], dict):
            return ApprovalRequest.from_api(answer["approval"])
        if "result" in answer:
            return QueryResult.from_api(self._every_page(answer))
        if on_job is not None:
            on_job(answer["id"])
        if on_status is not None:
            for run in self.follow(answer["id"]):
                on_status(run)
        return self.wait(answer["id"], timeout=timeout)

    def wait(self, run_id: str, *, timeout: float | None = None) -> QueryResult | ApprovalRequest:
        """Poll a job until it finishes; its result, or the request a long write became."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            remaining = POLL_WAIT_SECONDS if deadline is None else max(0.0, deadline - self._clock())
            body = self._transport.request(
                "GET", f"/queries/{run_id}", params={"wait": min(remaining, POLL_WAIT_SECONDS)}, timeout=WAITING_TIMEOUT
            )
            run = QueryRun.from_api(body)
            if run.approval is not None:
                return ApprovalRequest.from_api(self._transport.request("GET", f"/approvals/{run.approval}"))
            if run.is_finished:
                return self._finished(run, body)
            if deadline is not None and self._clock() >= deadline:
                raise RunStillPending(run)

    def _finished(self, run: QueryRun, body: dict[str, Any]) -> QueryResult:
        if run.status != "succeeded":
            raise error_from_run(run.error or {}, run.id)
        if body.get("result") is None:
            error = body.get("error") or {"code": "result_expired", "message": "The result is no longer kept."}
            raise QueryBaseAPIError(error["message"], code=error["code"], status=200, details={"run": run.id})
        return QueryResult.from_api(self._every_page(body))

    def _every_page(self, body: dict[str, Any]) -> dict[str, Any]:
        """The run's answer with every row: the server sends a large result a page at a
        time (`next`); the later pages are fetched and appended. For results too large to
        hold, `export` streams them to a file instead."""
        first = body.get("result") or {}
        rows, page = list(first.get("rows", [])), first
        while page.get("next"):
            page = self._transport.request(
                "GET", f"/queries/{body['id']}/results", params={"page": page["page"] + 1}, timeout=WAITING_TIMEOUT
            )
            rows.extend(page["rows"])
        return {**body, "result": {**first, "rows": rows, "next": None}}

    def get(self, run_id: str, *, wait: float | None = None) -> QueryRun:
        """A run's status (its rows, if kept, are in `.raw["result"]`)."""
        params = {"wait": wait} if wait else None
        return QueryRun.from_api(
            self._transport.request("GET", f"/queries/{run_id}", params=params, timeout=WAITING_TIMEOUT)
        )

    def cancel(self, run_id: str) -> QueryRun:
        """Stop a queued or running read, in the database too."""
        return QueryRun.from_api(self._transport.request("POST", f"/queries/{run_id}/cancel"))

    def analyze(self, source: SourceRef, sql: str) -> Analysis:
        """Placeholders and classification of `sql` on `source`; nothing is run or recorded."""
        body = {"datasource": self._datasources.id_of(source), "sql": sql}
        return Analysis.from_api(self._transport.request("POST", "/queries/analyze", json=body))

    def export(
        self,
        source: SourceRef,
        sql: str,
        path: str | os.PathLike,
        params: Params = None,
        *,
        export_format: str = "csv",
        on_progress: ProgressCallback | None = None,
        statement: int | None = None,
    ) -> ExportSummary:
        """Stream every row (up to the source's row cap) into `path` as CSV or JSON,
        without holding the result in memory. `on_progress(bytes, rows)` is called per chunk.
        SQL of several statements exports the last one's result, or statement `statement`'s
        (from 1)."""
        body: dict[str, Any] = {"datasource": self._datasources.id_of(source), "sql": sql, "format": export_format}
        if params is not None:
            body["params"] = params
        if statement is not None:
            body["statement"] = statement
        with self._transport.stream("POST", "/queries/export", json=body) as response:
            return write_export(response.iter_bytes(), path, export_format, on_progress)

    def history(
        self,
        *,
        datasource: SourceRef | None = None,
        status: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int | None = 50,
    ) -> list[QueryRun]:
        """The user's own runs, newest first (an admin's: everyone's)."""
        params = {
            "datasource": self._datasources.id_of(datasource) if datasource is not None else None,
            "status": status,
            "created_after": created_after,
            "created_before": created_before,
        }
        return [
            QueryRun.from_api(item) for item in self._transport.paginate("/queries/history", params=params, limit=limit)
        ]
