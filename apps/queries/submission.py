"""Use case: a user submits SQL to read. The answer comes from the cache when allowed,
else the read runs in this process within the inline budget, else it becomes a job for
the workers (apps/queries/execution.py)."""

import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.approvals.creation import create_request
from apps.approvals.models import ApprovalRequest
from apps.audit.services import record_event
from apps.datasources.models import DataSource
from apps.queries import result_store
from apps.queries.exceptions import ApprovalRequired
from apps.queries.locks import run_lock
from apps.queries.models import QueryRun, RunStatus
from apps.queries.plan import PreparedRead, limits_for, prepare_read, sha256_of, source_to_query
from apps.queries.run_lifecycle import attempt, claim
from apps.sqlcore.parameters import Params
from querybase.celery import enqueue_on_commit
from querybase.logs import bind_context
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
    cache_key = result_store.cache_key_for(datasource, sql, params)
    if datasource.cache_ttl_seconds > 0 and max_age != 0:
        answer = result_store.cached_answer(cache_key, max_age)
        if answer is not None:
            return Submission(run=_record_cache_hit(user, prepared, cache_key, answer, request), result=answer.result)
    with transaction.atomic():
        run = _new_run(user, prepared, cache_key)
        _audit_submission(run, request)
    budget_ms = min(wait * 1000, settings.QUERYBASE_INLINE_BUDGET_MS) - (time.monotonic() - started) * 1000
    if budget_ms >= 1:
        with run_lock(run.pk):
            if claim(run):
                limits = limits_for(datasource)
                inline_limits = replace(limits, timeout_ms=min(limits.timeout_ms, int(budget_ms)))
                inline = attempt(run, prepared, inline_limits, hand_over=inline_limits.timeout_ms < limits.timeout_ms)
                if inline.finished:
                    return Submission(run=run, result=inline.result)
    enqueue(run)
    return Submission(run=run, result=None)


def _new_run(user: User, prepared: PreparedRead, cache_key: str, **fields) -> QueryRun:
    return _create_run(
        user,
        prepared.datasource,
        prepared.sql,
        prepared.params,
        cache_key=cache_key,
        classification=prepared.classification.as_dict(),
        **fields,
    )


def _create_run(user: User, datasource: DataSource, sql: str, params: Params, **fields) -> QueryRun:
    """The one place a submission's run row is made (and named in the log context)."""
    run = QueryRun.objects.create(
        user=user, datasource=datasource, sql=sql, sql_sha256=sha256_of(sql), params=params, **fields
    )
    bind_context(run_id=run.pk)
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
    with transaction.atomic():
        run = _create_run(
            user,
            datasource,
            sql,
            params,
            cache_key=result_store.cache_key_for(datasource, sql, params),
            request_approval=request_approval,
            reason=reason,
        )
        _audit_submission(run, request)
        enqueue(run)
    return run


def _record_cache_hit(
    user: User, prepared: PreparedRead, cache_key: str, answer: result_store.CachedAnswer, request: ClientRequest | None
) -> QueryRun:
    now = timezone.now()
    with transaction.atomic():
        run = _new_run(
            user,
            prepared,
            cache_key,
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
        _audit_submission(run, request)
    return run


def enqueue(run: QueryRun) -> None:
    enqueue_on_commit("queries.execute_read", str(run.pk))


def _audit_submission(run: QueryRun, request: ClientRequest | None) -> None:
    record_event(
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
