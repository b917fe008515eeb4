"""Use case: a user submits SQL to read. The answer comes from the cache when allowed,
else the read runs in this process within the inline budget, else it becomes a job for
the workers (apps/submissions/execution.py)."""

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from apps.approvals.creation import create_request
from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from apps.audit.services import events_written, new_event
from apps.datasources.connectors import connector_class
from apps.datasources.models import DataSource
from apps.queries import result_store, single_flight
from apps.queries.exceptions import ApprovalRequired
from apps.queries.locks import run_lock
from apps.queries.models import QueryRun, RunStatus
from apps.queries.plan import PreparedRead, limits_for, prepare_read, sha256_of, source_to_query
from apps.queries.run_lifecycle import attempt, enqueue
from apps.queries.state import announce_new_run
from apps.sqlcore.parameters import Params
from querybase.inserts import insert_together
from querybase.logs import bind_context
from querybase.session_locks import SessionLock
from querybase.types import ClientRequest


@dataclass
class Submission:
    """What became of submitted SQL: a run (with its result when it is already known), or,
    for SQL that is not a read, the approval request it became."""

    run: QueryRun | None
    result: dict[str, Any] | None
    approval: ApprovalRequest | None = None


def submit_query(
    user: User,
    *,
    datasource_id: int,
    sql: str,
    params: Params = None,
    max_age: int | None = None,
    wait: float = 0.0,
    request_approval: bool = False,
    reason: str = "",
    request: ClientRequest | None = None,
) -> Submission:
    """Answer a read from the cache when allowed; else run it. SQL that is not a read
    becomes an approval request when `request_approval` (rights re-checked there), else
    raises ApprovalRequired with its classification.

    A client willing to wait gets the read run at once, in this process, for up to
    QUERYBASE_INLINE_BUDGET_MS: most reads take milliseconds and a trip through the
    queue would cost more than the query. A read still running when the budget is
    spent is stopped and handed to the `queries` workers as a job (a read can be
    repeated safely), with the source's full time limit. The budget is wall time from
    here: classifying and binding a script spend it too, so SQL longer than
    QUERYBASE_INLINE_CLASSIFY_CHARS is not classified here at all (see `_defer`).
    """
    started = time.monotonic()
    if len(sql) > settings.QUERYBASE_INLINE_CLASSIFY_CHARS:
        run = _defer(
            user, datasource_id, sql, params, request_approval=request_approval, reason=reason, request=request
        )
        return Submission(run=run, result=None)
    try:
        prepared = prepare_read(user, datasource_id=datasource_id, sql=sql, params=params)
    except ApprovalRequired:
        if not request_approval:
            raise
        approval = create_request(
            user, datasource_id=datasource_id, sql=sql, params=params, reason=reason, request=request
        )
        return Submission(run=None, result=None, approval=approval)
    datasource = prepared.datasource
    cacheable = datasource.cache_ttl_seconds > 0 and max_age != 0
    if cacheable:
        cache_key, answer = result_store.lookup(datasource, sql, params, max_age)
        if answer is not None:
            return Submission(run=_record_cache_hit(user, prepared, cache_key, answer, request), result=answer.result)
    else:
        cache_key = result_store.cache_key_for(datasource, sql, params)
    budget_ms = min(wait * 1000, settings.QUERYBASE_INLINE_BUDGET_MS) - (time.monotonic() - started) * 1000
    if budget_ms < 1:
        run = _new_run(user, prepared, cache_key, request)
        enqueue(run)
        return Submission(run=run, result=None)
    run_id = str(uuid.uuid4())
    if cacheable:
        leader = single_flight.take(cache_key, run_id, datasource.statement_timeout_ms)
        if leader is not None:
            answer = single_flight.follow(leader, cache_key, wait - (time.monotonic() - started), max_age)
            if answer is not None:
                hit = _record_cache_hit(user, prepared, cache_key, answer, request)
                return Submission(run=hit, result=answer.result)
            # The read in flight ended without a result for us: this one runs, if time is left.
            budget_ms = min(wait * 1000, settings.QUERYBASE_INLINE_BUDGET_MS) - (time.monotonic() - started) * 1000
            if budget_ms < 1:
                run = _new_run(user, prepared, cache_key, request)
                enqueue(run)
                return Submission(run=run, result=None)
    with run_lock(run_id, taken_with_row=True) as lock:
        # Claimed as it is made (running, first attempt), under its lock, taken by the
        # same statement: nobody else can have it yet, and a process dying from here on
        # leaves a run the sweeper requeues. Its session id goes with it where the engine
        # lets it be chosen now, so a cancel can reach the read (Connector.new_backend_id).
        run = _new_run(
            user,
            prepared,
            cache_key,
            request,
            lock=lock,
            id=run_id,
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            attempts=1,
            backend_id=connector_class(datasource.engine).new_backend_id() or "",
        )
        limits = limits_for(datasource)
        inline_limits = replace(limits, timeout_ms=min(limits.timeout_ms, int(budget_ms)))
        inline = attempt(
            run, prepared, inline_limits, hand_over=inline_limits.timeout_ms < limits.timeout_ms, lock=lock
        )
        if inline.finished:
            # Its result (if any) is cached by now: followers and later submissions find it.
            if cacheable:
                single_flight.release(cache_key, run_id)
            return Submission(run=run, result=inline.result)
    # Handed to a worker, the flight stays taken: followers wait for the worker's result.
    enqueue(run)
    return Submission(run=run, result=None)


def _new_run(
    user: User,
    prepared: PreparedRead,
    cache_key: str,
    request: ClientRequest | None,
    *,
    lock: SessionLock | None = None,
    **fields,
) -> QueryRun:
    return _create_run(
        user,
        prepared.datasource,
        prepared.sql,
        prepared.params,
        request,
        lock=lock,
        cache_key=cache_key,
        classification=prepared.classification.as_dict(),
        **fields,
    )


def _create_run(
    user: User,
    datasource: DataSource,
    sql: str,
    params: Params,
    request: ClientRequest | None,
    *,
    lock: SessionLock | None = None,
    **fields,
) -> QueryRun:
    """The one place a submission's run row is made, with its audit event in the same
    statement (querybase.inserts: one round trip), named in the log context, and announced
    to its owner live. `lock` (the run's, not yet taken) is taken by that statement too."""
    run = QueryRun(user=user, datasource=datasource, sql=sql, sql_sha256=sha256_of(sql), params=params, **fields)
    take = lock.take_sql() if lock is not None else None
    taken = insert_together(run, _submission_event(run, request), returning=take)
    if lock is not None:
        lock.took(taken)
    events_written()
    bind_context(run_id=run.pk)
    announce_new_run(run)
    return run


def _defer(
    user: User,
    datasource_id: int,
    sql: str,
    params: Params,
    *,
    request_approval: bool,
    reason: str,
    request: ClientRequest | None,
) -> QueryRun:
    """Queue SQL too long to classify within the inline budget, unclassified: the worker
    classifies it first (`execute_run`) and runs it, refuses it, or turns it into an
    approval request, as this process would have. Only the rights are checked here (they
    cost nothing); the cache is not consulted, since what may be served from it depends
    on the classification."""
    datasource, _, _ = source_to_query(user, datasource_id)
    run = _create_run(
        user,
        datasource,
        sql,
        params,
        request,
        cache_key=result_store.cache_key_for(datasource, sql, params),
        request_approval=request_approval,
        reason=reason,
    )
    enqueue(run)
    return run


def _record_cache_hit(
    user: User, prepared: PreparedRead, cache_key: str, answer: result_store.CachedAnswer, request: ClientRequest | None
) -> QueryRun:
    now = timezone.now()
    return _new_run(
        user,
        prepared,
        cache_key,
        request,
        from_cache=True,
        source_run_id=answer.run_id,
        computed_at=answer.computed_at,
        status=RunStatus.SUCCEEDED,
        started_at=now,
        finished_at=now,
        duration_ms=0.0,
        row_count=answer.result["row_count"],
        truncated=answer.result["truncated"],
    )


def _submission_event(run: QueryRun, request: ClientRequest | None) -> AuditEvent:
    return new_event(
        "query.run",
        actor=run.user,
        target=run,
        request=request,
        detail={
            "datasource": run.datasource_id,
            "sql_sha256": run.sql_sha256,
            "sql": run.sql,
            "from_cache": run.from_cache,
            # A cache hit is born succeeded; any other run says how it ended in query.finished.
            "status": run.status,
        },
    )
