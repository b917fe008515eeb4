"""Use cases for running SQL: submit, execute (from the worker), wait, cancel, export.

The order in `submit_query` is the security design (docs/architecture.md §2): the user's rights
on the source are checked first, then the SQL is classified (fail closed), then the
parameters are bound, and only then is the cache consulted.
"""

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import chain
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts import policy
from apps.audit.services import record_event
from apps.datasources.access import Action, rights_on
from apps.datasources.connectors import CredentialRole, connector_class, connector_for
from apps.datasources.connectors.base import (
    ConnectionFailed,
    ConnectionTimedOut,
    ConnectorError,
    QueryLimits,
    QueryTimedOut,
)
from apps.datasources.credential_audit import refuse_reads_unless_least_privilege
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.queries import completion, function_catalog, results
from apps.queries.export import RENDERERS, CappedRows, failure_trailer, server_csv_chunks
from apps.queries.locks import run_lock, runs_with_live_process
from apps.queries.models import FINISHED_STATUSES, QueryRun, RunStatus
from apps.queries.state import RUN_STATUS
from apps.sqlcore.classification import Classification, classify_sql
from apps.sqlcore.credential_reads import credential_material_read
from apps.sqlcore.errors import SqlCoreError
from apps.sqlcore.parameters import Params, bind
from apps.sqlcore.sqltext import single_query_text
from apps.sqlcore.statements import BoundStatement
from querybase.errors import NotAllowed, QueryBaseError
from querybase.logs import bind_context, get_logger

logger = get_logger(__name__)

# Attempts a read gets in the worker (the first and its retries) before a run whose
# process keeps disappearing is given up as `worker_lost`.
MAX_RUN_ATTEMPTS = 3
# A queued run waiting this long is sent to the queue again (see _resend_stale_queued_runs):
# long enough that a busy queue gets at most one extra message per run in that time.
QUEUED_RUN_RESEND_SECONDS = 300


class DataSourceNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class RunNotFound(QueryBaseError):
    code = "not_found"
    status = 404


class EmptyQuery(QueryBaseError):
    code = "empty_query"
    status = 400


class ApprovalRequired(QueryBaseError):
    """The SQL is not provably a read: it can only run through an approval request."""

    code = "approval_required"
    status = 409


class InvalidParameters(QueryBaseError):
    code = "invalid_parameters"
    status = 400


class CredentialMaterialRefused(QueryBaseError):
    code = "credential_material"
    status = 403


class ResultNotVisible(QueryBaseError):
    code = "result_not_visible"
    status = 403


class RunNotCancellable(QueryBaseError):
    code = "not_cancellable"
    status = 409


# Failures of the data source itself rather than of the SQL: the gateway's fault, 502.
DATASOURCE_UNAVAILABLE = "datasource_unavailable"
_UPSTREAM_CODES = {DATASOURCE_UNAVAILABLE, "authentication_failed", "credentials_unreadable"}
# A run the worker refused answers with the status the API gives the same refusal.
_REFUSAL_STATUS = {
    error.code: error.status for error in (NotAllowed, EmptyQuery, ApprovalRequired, CredentialMaterialRefused)
}


class QueryError(QueryBaseError):
    """A query the database failed, refused, timed out or cancelled, with the database's message."""

    def __init__(self, code: str, message: str, *, details=None):
        super().__init__(message, details=details)
        self.code = code
        if code in _UPSTREAM_CODES:
            self.status = 502
        elif code == "query_cancelled":
            self.status = 409
        else:
            self.status = _REFUSAL_STATUS.get(code, 400)

    @classmethod
    def of_run(cls, run: QueryRun) -> "QueryError":
        return cls(run.error_code or "query_failed", run.error_message, details={"run": str(run.pk)})

    @classmethod
    def of_connector(cls, error: ConnectorError) -> "QueryError":
        return cls(error_code_of(error), error.message, details={"reason": error.code})


def error_code_of(error: ConnectorError) -> str:
    """The code users see: a source that cannot be reached, or that dropped the connection
    even on a second try, is `datasource_unavailable` whatever the engine said."""
    if isinstance(error, (ConnectionFailed, ConnectionTimedOut)):
        return DATASOURCE_UNAVAILABLE
    return error.code


class TransientSourceError(Exception):
    """Raised to the task so it retries a read that failed to reach its source."""


@dataclass(frozen=True)
class PreparedRead:
    datasource: DataSource
    sql: str
    params: Params
    classification: Classification
    statements: list[BoundStatement]


def source_to_query(user, datasource_id: int) -> tuple[DataSource, bool, bool]:
    """The source, and whether `user` may read it and request writes on it; raises unless either."""
    datasource, rights = rights_on(user, datasource_id)
    if datasource is None:
        raise DataSourceNotFound("No data source with this id, or you have no rights on it.")
    may_read, may_write = Action.READ in rights, Action.WRITE in rights
    if not may_read and not may_write:
        raise NotAllowed("You may not run queries on this data source.")
    return datasource, may_read, may_write


def prepare_read(user, *, datasource_id: int, sql: str, params: Params) -> PreparedRead:
    """Rights, classification and parameters, in that order; raises unless this is a read `user` may run."""
    datasource, may_read, may_write = source_to_query(user, datasource_id)
    classification = classify_for_source(datasource, sql)
    if classification.is_empty:
        raise EmptyQuery("The SQL contains no statement.")
    if not classification.is_read:
        _refuse_write(classification, may_write)
    if not may_read:
        raise NotAllowed("You may not read this data source.")
    refuse_reads_unless_least_privilege(datasource)
    secret = credential_material_read(sql, datasource.engine)
    if secret is not None:
        raise CredentialMaterialRefused(f"QueryBase does not return credential material: {secret}.")
    statements = bind_statements(datasource, sql, params, classification)
    return PreparedRead(datasource, sql, params, classification, statements)


def classify_for_source(datasource: DataSource, sql: str) -> Classification:
    """The classifier's verdict, with the source's own catalog asked about the functions a
    read calls (see apps/queries/function_catalog.py): writes and requests use this too,
    so a read the catalog turns into a write can become an approval request."""
    classification = classify_sql(sql, datasource.engine)
    if not classification.is_read:
        return classification
    try:
        unsafe = function_catalog.unsafe_functions(datasource, classification.called_functions)
    except ConnectorError as error:
        raise QueryError.of_connector(error) from error
    except CredentialDecryptionError as error:
        raise QueryError("credentials_unreadable", str(error)) from error
    return classify_sql(sql, datasource.engine, unsafe_functions=unsafe) if unsafe else classification


def _refuse_write(classification: Classification, may_write: bool) -> None:
    details = {"classification": classification.as_dict()}
    if not may_write:
        raise NotAllowed("This SQL writes, and you may not request writes on this data source.", details=details)
    raise ApprovalRequired("This SQL is not a read: it needs an approval request before it can run.", details=details)


def bind_statements(
    datasource: DataSource, sql: str, params: Params, classification: Classification
) -> list[BoundStatement]:
    """The statements to run, with `params` bound in the driver's style; raises
    InvalidParameters when they do not fit the placeholders."""
    try:
        return _bound(datasource, sql, params, classification)
    except SqlCoreError as error:
        raise InvalidParameters(error.message, details=error.details) from error


def _bound(datasource: DataSource, sql: str, params: Params, classification: Classification) -> list[BoundStatement]:
    style = connector_class(datasource.engine).param_style
    if len(classification.statements) == 1:
        return [bind(sql, params, dialect=datasource.engine, style=style)]
    if params:
        raise InvalidParameters("Parameters can only be used with a single statement.")
    # The classifier already cut the script into exact statement texts: running those
    # runs exactly what was classified, and a second split would cost as much again
    # (about 2 s for 100,000 statements). A statement without `$` or `:` cannot hold a
    # placeholder, so it needs no second scan to be bound.
    return [
        bind(statement.text, None, dialect=datasource.engine, style=style)
        if "$" in statement.text or ":" in statement.text
        else BoundStatement(statement.text)
        for statement in classification.statements
    ]


@dataclass
class Submission:
    run: QueryRun
    result: dict[str, Any] | None


def submit_query(
    user,
    *,
    datasource_id: int,
    sql: str,
    params: Params = None,
    max_age: int | None = None,
    wait: float = 0.0,
    request_approval: bool = False,
    reason: str = "",
    request=None,
) -> Submission:
    """Answer a read from the cache when allowed; else run it.

    A client willing to wait gets the read run at once, in this process, for up to
    QUERYBASE_INLINE_BUDGET_MS: most reads take milliseconds and a trip through the
    queue would cost more than the query. A read still running when the budget is
    spent is stopped and handed to the `queries` workers as a job (a read can be
    repeated safely), with the source's full time limit. The budget is wall time from
    here: classifying and binding a script spend it too, so SQL longer than
    QUERYBASE_INLINE_CLASSIFY_CHARS is not classified here at all (see `_defer`).
    `request_approval` and `reason` matter only there: SQL classified here that is not a
    read raises ApprovalRequired, and the caller decides.
    """
    started = time.monotonic()
    if len(sql) > settings.QUERYBASE_INLINE_CLASSIFY_CHARS:
        run = _defer(
            user, datasource_id, sql, params, request_approval=request_approval, reason=reason, request=request
        )
        return Submission(run=run, result=None)
    prepared = prepare_read(user, datasource_id=datasource_id, sql=sql, params=params)
    datasource = prepared.datasource
    cache_key = results.cache_key_for(datasource, sql, params)
    if datasource.cache_ttl_seconds > 0 and max_age != 0:
        answer = results.cached_answer(cache_key, max_age)
        if answer is not None:
            return Submission(run=_record_cache_hit(user, prepared, cache_key, answer, request), result=answer.result)
    with transaction.atomic():
        run = _new_run(user, prepared, cache_key)
        _audit_submission(run, request)
    budget_ms = min(wait * 1000, settings.QUERYBASE_INLINE_BUDGET_MS) - (time.monotonic() - started) * 1000
    if budget_ms >= 1:
        with run_lock(run.pk):
            if _claim(run):
                limits = limits_for(datasource)
                inline_limits = replace(limits, timeout_ms=min(limits.timeout_ms, int(budget_ms)))
                attempt = _attempt(run, prepared, inline_limits, hand_over=inline_limits.timeout_ms < limits.timeout_ms)
                if attempt.finished:
                    return Submission(run=run, result=attempt.result)
    _enqueue(run)
    return Submission(run=run, result=None)


def _new_run(user, prepared: PreparedRead, cache_key: str, **fields) -> QueryRun:
    run = QueryRun.objects.create(
        user=user,
        datasource=prepared.datasource,
        sql=prepared.sql,
        sql_sha256=sha256_of(prepared.sql),
        params=prepared.params,
        classification=prepared.classification.as_dict(),
        cache_key=cache_key,
        **fields,
    )
    bind_context(run_id=run.pk)
    return run


def _defer(
    user, datasource_id: int, sql: str, params: Params, *, request_approval: bool, reason: str, request
) -> QueryRun:
    """Queue SQL too long to classify within the inline budget, unclassified: the worker
    classifies it first (`execute_run`) and runs it, refuses it, or turns it into an
    approval request, as this process would have. Only the rights are checked here (they
    cost nothing); the cache is not consulted, since what may be served from it depends
    on the classification."""
    datasource, _, _ = source_to_query(user, datasource_id)
    with transaction.atomic():
        run = QueryRun.objects.create(
            user=user,
            datasource=datasource,
            sql=sql,
            sql_sha256=sha256_of(sql),
            params=params,
            cache_key=results.cache_key_for(datasource, sql, params),
            request_approval=request_approval,
            reason=reason,
        )
        bind_context(run_id=run.pk)
        _audit_submission(run, request)
        _enqueue(run)
    return run


def _record_cache_hit(user, prepared: PreparedRead, cache_key: str, answer: results.CachedAnswer, request) -> QueryRun:
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


def _enqueue(run: QueryRun) -> None:
    from apps.queries.tasks import execute_read

    # Only once the run row is committed, or a fast worker would not find it.
    transaction.on_commit(lambda: execute_read.delay(str(run.pk)))


def _audit_submission(run: QueryRun, request) -> None:
    record_event(
        "query.run",
        actor=run.user,
        target=run,
        request=request,
        detail={"datasource": run.datasource_id, "sql_sha256": run.sql_sha256, "from_cache": run.from_cache},
    )


def sha256_of(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def limits_for(datasource: DataSource) -> QueryLimits:
    return QueryLimits(max_rows=datasource.max_rows, timeout_ms=datasource.statement_timeout_ms)


def execute_run(run_id: str, *, final_attempt: bool = True) -> None:
    """Worker side: run a queued read exactly as it was submitted.

    Taking the run (queued → running) is a conditional update, so a cancelled run or a
    second delivery of the same task does nothing. The run's lock is held throughout, so
    the sweeper can tell a run whose worker died from one still running.
    """
    bind_context(run_id=run_id)
    run = QueryRun.objects.select_related("datasource", "user").filter(pk=run_id).first()
    if run is None or run.status != RunStatus.QUEUED:
        return
    with run_lock(run.pk):
        _check_and_attempt(run, final_attempt=final_attempt)


def _check_and_attempt(run: QueryRun, *, final_attempt: bool) -> None:
    try:
        # Rights are checked again: they may have been revoked while the job queued. This
        # comes before the claim: classification may ask the source's catalog, and a run
        # shown as running must reach its query quickly, or a cancel sent meanwhile finds
        # no query to stop in the database.
        prepared = prepare_read(run.user, datasource_id=run.datasource_id, sql=run.sql, params=run.params)
    except ApprovalRequired as error:
        if _claim(run):
            _settle_write_submission(run, error)
        return
    except QueryBaseError as error:
        if _claim(run):
            _finish_failed(run, error.code, error.message)
        return
    if not run.classification:  # submitted unclassified (`_defer`)
        run.classification = prepared.classification.as_dict()
        QueryRun.objects.filter(pk=run.pk).update(classification=run.classification)
    if _claim(run):
        _attempt(run, prepared, limits_for(prepared.datasource), may_retry=not final_attempt)


def _settle_write_submission(run: QueryRun, error: ApprovalRequired) -> None:
    """A deferred submission the worker found not to be a read: it becomes an approval
    request if the user asked for that, as the API does for SQL it classifies itself."""
    # Imported here: the approvals app builds on this module.
    from apps.approvals.services import create_request

    run.classification = error.details["classification"]
    QueryRun.objects.filter(pk=run.pk).update(classification=run.classification)
    if not run.request_approval:
        _finish_failed(run, error.code, error.message)
        return
    if run.approval_request_id is None:
        try:
            with transaction.atomic():
                run.approval_request = create_request(
                    run.user, datasource_id=run.datasource_id, sql=run.sql, params=run.params, reason=run.reason
                )
                QueryRun.objects.filter(pk=run.pk).update(approval_request=run.approval_request)
        except QueryBaseError as refusal:
            _finish_failed(run, refusal.code, refusal.message)
            return
    _finish_failed(run, error.code, f"This SQL is not a read: it became approval request #{run.approval_request_id}.")


def _claim(run: QueryRun) -> bool:
    run.started_at = timezone.now()
    run.status = RunStatus.RUNNING
    return RUN_STATUS.move(
        run.pk, RunStatus.RUNNING, from_={RunStatus.QUEUED}, started_at=run.started_at, attempts=F("attempts") + 1
    )


def _requeue(run: QueryRun) -> bool:
    moved = RUN_STATUS.move(
        run.pk, RunStatus.QUEUED, from_={RunStatus.RUNNING}, started_at=None, backend_id="", queued_at=timezone.now()
    )
    run.status = RunStatus.QUEUED
    return moved


@dataclass(frozen=True)
class _Attempt:
    finished: bool
    result: dict[str, Any] | None = None


def _attempt(
    run: QueryRun, prepared: PreparedRead, limits: QueryLimits, *, hand_over: bool = False, may_retry: bool = False
) -> _Attempt:
    """Run a claimed read once. `hand_over`: a timeout or an unreachable source gives the
    run back to the queue (inline attempts). `may_retry`: an unreachable source is
    retried by the task (worker attempts but the last)."""
    try:
        connector = connector_for(prepared.datasource, CredentialRole.READ)
        result = connector.run_read(prepared.statements, limits, _backend_recorder(run.pk)).as_dict()
    except QueryTimedOut as error:
        if hand_over:
            _requeue(run)
            return _Attempt(finished=False)
        _finish_failed(run, error.code, error.message)
    except (ConnectionFailed, ConnectionTimedOut) as error:
        # The connector already retried a dropped connection once: the source is down.
        if hand_over or may_retry:
            _requeue(run)
            if may_retry:
                raise TransientSourceError(error.message) from error
            return _Attempt(finished=False)
        _finish_failed(run, error_code_of(error), error.message)
    except ConnectorError as error:
        _finish_failed(run, error.code, error.message)
    except CredentialDecryptionError as error:
        _finish_failed(run, "credentials_unreadable", str(error))
    except Exception:
        # A bug, not the source: still, the run must not stay `running` for ever.
        logger.exception("read of run %s failed unexpectedly", run.pk)
        _finish_failed(run, "internal_error", "The read failed unexpectedly; the error has been logged.")
        raise
    else:
        _finish_succeeded(run, result)
        return _Attempt(finished=True, result=result)
    return _Attempt(finished=True)


def _backend_recorder(run_id):
    def record(backend_id: str) -> None:
        QueryRun.objects.filter(pk=run_id).update(backend_id=backend_id)

    return record


def _finish_succeeded(run: QueryRun, result: dict[str, Any]) -> None:
    location = results.store_result(run, result)
    finished = timezone.now()
    fields = {
        "finished_at": finished,
        "duration_ms": result["took_ms"],
        "row_count": result["row_count"],
        "truncated": result["truncated"],
        "result_location": location,
        "computed_at": finished,
    }
    if RUN_STATUS.move(run.pk, RunStatus.SUCCEEDED, from_={RunStatus.RUNNING}, **fields):
        run.status = RunStatus.SUCCEEDED
        for name, value in fields.items():
            setattr(run, name, value)
        results.remember_for_cache(run, result, location, run.datasource.cache_ttl_seconds)
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, row_count=run.row_count)
    completion.announce_finished(str(run.pk))


def _finish_failed(run: QueryRun, code: str, message: str) -> None:
    finished = timezone.now()
    status = RunStatus.CANCELLED if code == "query_cancelled" else RunStatus.FAILED
    fields = {
        "finished_at": finished,
        "duration_ms": (finished - run.started_at).total_seconds() * 1000 if run.started_at else None,
        "error_code": code,
        "error_message": message,
    }
    if RUN_STATUS.move(run.pk, status, from_={RunStatus.RUNNING}, **fields):
        run.status = status
        for name, value in fields.items():
            setattr(run, name, value)
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, error_code=code)
    completion.announce_finished(str(run.pk))


def get_run(user, run_id) -> QueryRun:
    """A run whose metadata the user may see: their own (admins: every run)."""
    run = policy.runs_visible_to(user).select_related("datasource", "source_run").filter(pk=run_id).first()
    if run is None:
        raise RunNotFound("No query run with this id.")
    return run


def get_run_with_result(user, run_id) -> QueryRun:
    """A run whose rows the user may see: besides seeing the run, they must be able to read
    its source *now*. A result is data of the source: a revoked right, or a staff member
    without group rights, sees no row of it (nor the database's error text, which can
    quote values)."""
    run = get_run(user, run_id)
    if not policy.may_view_result(user, run):
        raise ResultNotVisible("You may not read this data source (any more), so its results are not shown to you.")
    return run


def wait_for_run(run: QueryRun, seconds: float) -> QueryRun:
    def finished() -> bool:
        return QueryRun.objects.filter(pk=run.pk, status__in=FINISHED_STATUSES).exists()

    completion.wait_until_finished(str(run.pk), finished, min(seconds, settings.QUERYBASE_MAX_WAIT_SECONDS))
    run.refresh_from_db()
    return run


def cancel_run(user, run_id, *, request=None) -> QueryRun:
    """Cancel a queued run, or stop a running one in the database itself."""
    bind_context(run_id=run_id)
    run = get_run(user, run_id)
    if not policy.may_cancel_run(user, run):
        raise NotAllowed("Only the user who started a run may cancel it.")

    def audit() -> None:
        record_event("query.cancel", actor=user, target=run, request=request)

    if RUN_STATUS.move(
        run.pk,
        RunStatus.CANCELLED,
        from_={RunStatus.QUEUED},
        then=audit,
        finished_at=timezone.now(),
        error_code="query_cancelled",
        error_message="Cancelled.",
    ):
        completion.announce_finished(str(run.pk))
    elif run.status == RunStatus.RUNNING:
        _cancel_in_database(run)
        audit()
    else:
        raise RunNotCancellable(f"The run has already {run.status}.")
    run.refresh_from_db()
    return run


def _cancel_in_database(run: QueryRun) -> None:
    """Signal the run's statement in its database session, asking again until one was
    running to be stopped: between "running" and its first statement (connection being
    opened, session set up) or between two statements, there is nothing to stop yet, and
    a single signal sent then would be lost."""
    connector = connector_for(run.datasource, CredentialRole.READ)
    deadline = time.monotonic() + 5
    while run.status == RunStatus.RUNNING and time.monotonic() < deadline:
        try:
            if run.backend_id and connector.cancel(run.backend_id):
                return
        except ConnectorError as error:
            logger.warning("cancel failed", error=error.message)
            return
        time.sleep(0.05)
        run.refresh_from_db(fields=["backend_id", "status"])


WORKER_LOST_MESSAGE = (
    "The process running this read stopped {attempts} times before it finished; QueryBase "
    "gave up. Run it again, or ask an admin to look at the workers."
)


def settle_abandoned_runs() -> int:
    """Runs shown as `running` whose process is gone (no live session holds their lock):
    handed back to the queue, since a read is safe to repeat, or failed as `worker_lost`
    once they have had MAX_RUN_ATTEMPTS; queued runs whose message may be lost are sent
    again. Returns how many runs were settled or sent again.

    Safe against a live process: one that runs a read holds its lock from before the
    claim until after the run leaves `running`, and nobody can start a run that is not
    `queued`; each move is conditional, so a run that finishes meanwhile is left alone.
    """
    running = list(QueryRun.objects.filter(status=RunStatus.RUNNING).values_list("pk", "attempts"))
    alive = runs_with_live_process([pk for pk, _ in running])
    settled = 0
    for pk, attempts in running:
        if pk in alive:
            continue
        if attempts < MAX_RUN_ATTEMPTS:
            moved = _requeue(QueryRun(pk=pk))
            if moved:
                _enqueue(QueryRun(pk=pk))
        else:
            now = timezone.now()
            moved = RUN_STATUS.move(
                pk,
                RunStatus.FAILED,
                from_={RunStatus.RUNNING},
                finished_at=now,
                error_code="worker_lost",
                error_message=WORKER_LOST_MESSAGE.format(attempts=attempts),
            )
            if moved:
                completion.announce_finished(str(pk))
        settled += moved
    return settled + _resend_stale_queued_runs()


def _resend_stale_queued_runs() -> int:
    """Queued runs waiting longer than QUEUED_RUN_RESEND_SECONDS are sent to the queue
    again: a worker killed whole takes the messages it had reserved with it (they come
    back only after the broker's visibility timeout, an hour). A second message for a run
    still in the queue is harmless: only one delivery can claim it."""
    now = timezone.now()
    waiting_since = Coalesce("queued_at", "created_at")
    stale = QueryRun.objects.filter(status=RunStatus.QUEUED).alias(waiting_since=waiting_since)
    stale = stale.filter(waiting_since__lt=now - timedelta(seconds=QUEUED_RUN_RESEND_SECONDS))
    resent = 0
    for pk in stale.values_list("pk", flat=True):
        if QueryRun.objects.filter(pk=pk, status=RunStatus.QUEUED).update(queued_at=now):
            _enqueue(QueryRun(pk=pk))
            resent += 1
    return resent


def run_result(run: QueryRun) -> dict[str, Any] | None:
    return results.load_result(run) if run.status == RunStatus.SUCCEEDED else None


@dataclass
class Export:
    """An export under way: its chunks, the first already read (see `export_stream`)."""

    chunks: Iterator[bytes]
    row_cap: int


def export_stream(
    user, *, datasource_id: int, sql: str, params: Params, export_format: str, request=None
) -> AbstractContextManager[Export]:
    """A context manager giving the export of a read as byte chunks, every row up to the
    source's row cap (a capped export says so: see apps/queries/export.py). Nothing is
    collected, so memory stays flat however large the result.

    CSV of a single parameterless query comes from the engine itself where it can
    (PostgreSQL's COPY); everything else is rendered from the row stream.

    Errors before the first chunk raise QueryError on entering, so they are answered
    with an error status. Later ones raise QueryError from the chunks, once part of the
    body has gone out: the caller must then end the response as broken, not cleanly.
    """
    prepared = prepare_read(user, datasource_id=datasource_id, sql=sql, params=params)
    record_event(
        "query.export",
        actor=user,
        target=prepared.datasource,
        request=request,
        detail={"sql_sha256": sha256_of(sql)},
    )
    try:
        connector = connector_for(prepared.datasource, CredentialRole.READ)
    except CredentialDecryptionError as error:
        raise QueryError("credentials_unreadable", str(error)) from error
    limits = limits_for(prepared.datasource)
    # One row beyond the cap is asked for, to tell a cut result from one of exactly that size.
    probe = replace(limits, max_rows=limits.max_rows + 1)
    if export_format == "csv" and not prepared.statements[0].args:
        query = single_query_text(sql, prepared.datasource.engine)
        native = connector.server_csv(query, probe) if query is not None else None
        if native is not None:
            return _export(
                native,
                export_format,
                limits.max_rows,
                lambda csv: server_csv_chunks(csv.header, CappedRows(csv.rows, limits.max_rows)),
            )
    _, render = RENDERERS[export_format]
    return _export(
        connector.read_stream(prepared.statements, probe),
        export_format,
        limits.max_rows,
        lambda stream: render(stream.columns, CappedRows(stream.rows, limits.max_rows)),
    )


@contextmanager
def _export(
    source_context, export_format: str, row_cap: int, render: Callable[[Any], Iterator[bytes]]
) -> Iterator[Export]:
    """Open the source, render it, and read the first chunk before anything is answered."""
    with _query_errors(source_context) as source:
        chunks = render(source)
        first = next(chunks, b"")
        yield Export(chunks=_saying_why_it_stopped(chain([first], chunks), export_format), row_cap=row_cap)


def _saying_why_it_stopped(chunks: Iterator[bytes], export_format: str) -> Iterator[bytes]:
    """The chunks; if the read fails midway, the body's last words say so before the
    error goes on up (see `failure_trailer`)."""
    try:
        yield from chunks
    except ConnectorError as error:
        logger.warning("export failed after its first chunk: %s", error.message)
        trailer = failure_trailer(export_format, error_code_of(error), error.message)
        if trailer:
            yield trailer
        raise


@contextmanager
def _query_errors(context):
    """Connector failures, when opening the stream or while reading it, become QueryError."""
    try:
        with context as value:
            yield value
    except ConnectorError as error:
        raise QueryError.of_connector(error) from error
