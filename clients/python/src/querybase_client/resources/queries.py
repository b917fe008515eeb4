"""Running SQL: reads, the approval requests writes become, jobs, exports, history."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from querybase_client.errors import QueryBaseAPIError, RunStillPending, error_from_run
from querybase_client.events import RECONNECTED, Events, EventStream, EventsUnavailable
from querybase_client.export import ProgressCallback, write_export
from querybase_client.models import Analysis, ApprovalRequest, ExportSummary, QueryResult, QueryRun
from querybase_client.resources.base import Resource
from querybase_client.resources.datasources import DataSources, SourceRef
from querybase_client.transport import WAITING_TIMEOUT, Transport

Params = list[Any] | dict[str, Any] | None
# Each poll asks the server to hold the answer this long: it answers as soon as the run
# ends, so polling costs one request per interval at most, not a busy loop.
POLL_WAIT_SECONDS = 20.0
# A followed run whose event stream stays unreachable this long is polled instead.
EVENTS_GIVE_UP_SECONDS = 30.0
RUN_STATUS_EVENT = "run.status"
StatusCallback = Callable[[str, str], None]


class Queries(Resource):
    def __init__(self, transport: Transport, datasources: DataSources, *, clock: Callable[[], float] = time.monotonic):
        super().__init__(transport)
        self._datasources = datasources
        self._clock = clock
        self._events = Events(transport)

    def follow(self, run_id: str) -> Iterator[str]:
        """The run's status now, then each status it takes (`running`, `queued` again if
        handed back, …) until it finishes, live from the event stream; by polling where
        the server has no event stream."""
        with ExitStack() as stack:
            stream = self._listen(stack)  # listening before the first look: nothing is missed
            yield from self._statuses(run_id, stream, self.get(run_id).status)

    def _listen(self, stack: ExitStack) -> EventStream | None:
        """The user's event stream, open until `stack` closes; None where there is none."""
        try:
            return stack.enter_context(self._events.open(give_up_after=EVENTS_GIVE_UP_SECONDS))
        except EventsUnavailable:
            return None

    def _statuses(
        self, run_id: str, stream: EventStream | None, current: str | None, deadline: float | None = None
    ) -> Iterator[str]:
        """The run's statuses until it finishes, each once: `current` (None when `stream`
        was opened before the run was made, so that it holds every status), then what
        `stream` hears, else, or once the stream is lost for good, what polling sees.
        RunStillPending past `deadline`."""
        last = None
        if current is not None:
            yield current
            last = current
        if last in QueryRun.FINISHED:
            return
        if stream is not None:
            try:
                for status in self._statuses_heard(run_id, stream, deadline):
                    if status == last:
                        continue  # heard again: the look before and the event both told it
                    yield status
                    last = status
                    if status in QueryRun.FINISHED:
                        return
            except EventsUnavailable:
                pass  # the stream went away for good: what happened meanwhile is polled
        for run in self._polled(run_id, deadline):
            if run.status != last:
                yield run.status
                last = run.status

    def _statuses_heard(self, run_id: str, stream: EventStream, deadline: float | None) -> Iterator[str]:
        def check_deadline() -> None:
            if deadline is not None and self._clock() >= deadline:
                raise RunStillPending(self.get(run_id))

        stream.on_tick = check_deadline
        for event in stream:
            if event.kind == RUN_STATUS_EVENT and event.data.get("run") == run_id:
                yield str(event.data.get("status"))
            elif event.kind == RECONNECTED:
                # Listening again: a look now covers whatever the replay no longer holds.
                yield self.get(run_id).status

    def _polled(self, run_id: str, deadline: float | None) -> Iterator[QueryRun]:
        """The run after each poll (the server answers when it ends or after a wait)
        until it finishes; RunStillPending past `deadline`."""
        while True:
            remaining = POLL_WAIT_SECONDS if deadline is None else max(0.0, deadline - self._clock())
            run = self.get(run_id, wait=min(remaining, POLL_WAIT_SECONDS))
            yield run
            if run.is_finished or run.approval is not None:
                return
            if deadline is not None and self._clock() >= deadline:
                raise RunStillPending(run)

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
        on_status: StatusCallback | None = None,
        sandbox: int | None = None,
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
        `on_status`, the run is followed live: the event stream is opened before the SQL
        is sent, and `on_status(run_id, status)` is called with each status the run takes
        (polled where the server has no event stream).

        `sandbox`: the id of the user's sandbox on `source` (`sandboxes.mine`): the SQL runs
        there at once, writes included (within the kinds the source's sandboxes allow), and
        the result of a write is one row per statement with its affected rows.
        """
        body: dict[str, Any] = {
            "datasource": self._datasources.id_of(source),
            "sql": sql,
            "reason": reason,
            "request_approval": request_approval,
        }
        for name, value in (("params", params), ("wait", wait), ("max_age", max_age), ("sandbox", sandbox)):
            if value is not None:
                body[name] = value
        deadline = None if timeout is None else self._clock() + timeout
        with ExitStack() as stack:
            # Listening first: the run's statuses from its very first are in the stream.
            stream = self._listen(stack) if on_status is not None else None
            answer = self._transport.request("POST", "/queries", json=body, timeout=WAITING_TIMEOUT)
            if "approval" in answer and isinstance(answer["approval"], dict):
                return ApprovalRequest.from_api(answer["approval"])
            if "result" in answer:
                return QueryResult.from_api(self._every_page(answer))
            if on_job is not None:
                on_job(answer["id"])
            if on_status is not None:
                # With a stream, it heard every status since the run was made; without, the
                # answer's status is the first.
                current = None if stream is not None else answer.get("status", "queued")
                for status in self._statuses(answer["id"], stream, current, deadline):
                    on_status(answer["id"], status)
        return self.wait(answer["id"], timeout=None if deadline is None else max(deadline - self._clock(), 0.0))

    def wait(self, run_id: str, *, timeout: float | None = None) -> QueryResult | ApprovalRequest:
        """Poll a job until it finishes; its result, or the request a long write became."""
        deadline = None if timeout is None else self._clock() + timeout
        for run in self._polled(run_id, deadline):
            if run.approval is not None:
                return ApprovalRequest.from_api(self._transport.request("GET", f"/approvals/{run.approval}"))
            if run.is_finished:
                return self._finished(run, run.raw)
        raise AssertionError("unreachable: polling ends with a finished run or RunStillPending")

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
        sandbox: int | None = None,
        share_token: str | None = None,
    ) -> ExportSummary:
        """Stream every row (up to the source's row cap) into `path` as CSV or JSON,
        without holding the result in memory. `on_progress(bytes, rows)` is called per chunk.
        SQL of several statements exports the last one's result, or statement `statement`'s
        (from 1).

        `sandbox`: read in that sandbox of `source` (the user's own, `sandboxes.mine`; or
        someone else's where a query is shared with them, by link with `share_token`), as
        `run(…, sandbox=…)` reads: its rows, not the source's."""
        body: dict[str, Any] = {"datasource": self._datasources.id_of(source), "sql": sql, "format": export_format}
        for name, value in (
            ("params", params),
            ("statement", statement),
            ("sandbox", sandbox),
            ("share_token", share_token),
        ):
            if value is not None:
                body[name] = value
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
