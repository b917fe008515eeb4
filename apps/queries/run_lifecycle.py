"""A read run's life: claimed (queued → running), attempted once against its source, then
finished (succeeded, failed, cancelled) or handed back to the queue. Every status change
goes through the run state machine (apps/queries/state.py)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.audit.services import events_written
from apps.datasources.connectors import CredentialRole, connector_class, connector_for
from apps.datasources.connectors.base import (
    ConnectionFailed,
    ConnectionTimedOut,
    ConnectorError,
    QueryLimits,
    QueryTimedOut,
)
from apps.datasources.crypto import CredentialDecryptionError
from apps.queries import result_store, run_finished_signal
from apps.queries.exceptions import TransientSourceError, error_code_of
from apps.queries.models import QueryRun, RunStatus
from apps.queries.plan import PreparedRead
from apps.queries.run_audit import run_end_event
from apps.queries.state import RUN_STATUS
from querybase.celery import enqueue_on_commit
from querybase.logs import get_logger
from querybase.session_locks import SessionLock

logger = get_logger(__name__)


# Attempts a read gets in the worker (the first and its retries) before a run whose
# process keeps disappearing is given up as `worker_lost`.
MAX_RUN_ATTEMPTS = 3
# What a run that failed on a bug of ours says (error code `internal_error`); the log has the rest.
UNEXPECTED_FAILURE = "The run failed unexpectedly; the error has been logged."


def claim(run: QueryRun) -> bool:
    run.started_at = timezone.now()
    run.status = RunStatus.RUNNING
    # The read's session id, where the engine lets it be chosen now, goes with the claim:
    # a cancel finds it without a write of its own (Connector.new_backend_id).
    run.backend_id = connector_class(run.datasource.engine).new_backend_id() or ""
    return RUN_STATUS.move(
        run.pk,
        RunStatus.RUNNING,
        from_={RunStatus.QUEUED},
        audience=[run.user_id],
        started_at=run.started_at,
        attempts=F("attempts") + 1,
        backend_id=run.backend_id,
    )


def requeue(run: QueryRun) -> bool:
    moved = RUN_STATUS.move(
        run.pk,
        RunStatus.QUEUED,
        from_={RunStatus.RUNNING},
        audience=[run.user_id],
        started_at=None,
        backend_id="",
        queued_at=timezone.now(),
    )
    run.status = RunStatus.QUEUED
    return moved


@dataclass(frozen=True)
class _Attempt:
    finished: bool
    result: dict[str, Any] | None = None  # the first page of a finished read's result


def attempt(
    run: QueryRun,
    prepared: PreparedRead,
    limits: QueryLimits,
    *,
    hand_over: bool = False,
    may_retry: bool = False,
    lock: SessionLock | None = None,
) -> _Attempt:
    """Run a claimed read once. `hand_over`: a timeout or an unreachable source gives the
    run back to the queue (inline attempts). `may_retry`: an unreachable source is
    retried by the task (worker attempts but the last). A source that did not answer in
    time fails the run either way. `lock`: the run's lock, given
    back by the statement that records its end (apps/queries/locks.py)."""
    try:
        connector = connector_for(prepared.datasource, CredentialRole.READ)
        texts = [statement.text for statement in prepared.classification.statements]
        stored = result_store.read_into_store(
            run,
            connector,
            prepared.statements,
            limits,
            _backend_recorder(run),
            backend_id=run.backend_id or None,
            texts=texts,
        )
    except QueryTimedOut as error:
        if hand_over:
            requeue(run)
            return _Attempt(finished=False)
        finish_failed(run, error.code, error.message, lock=lock)
    except ConnectionTimedOut as error:
        # The source did not answer within the connect timeout, which the user has waited
        # out already: another attempt, here or in a worker, would only wait as long again.
        finish_failed(run, error_code_of(error), error.message, lock=lock)
    except ConnectionFailed as error:
        # The connector already retried a dropped connection once: the source is down.
        if hand_over or may_retry:
            requeue(run)
            if may_retry:
                raise TransientSourceError(error.message) from error
            return _Attempt(finished=False)
        finish_failed(run, error_code_of(error), error.message, lock=lock)
    except ConnectorError as error:
        finish_failed(run, error.code, error.message, lock=lock)
    except CredentialDecryptionError as error:
        finish_failed(run, CredentialDecryptionError.code, str(error), lock=lock)
    except Exception:
        # A bug, not the source: still, the run must not stay `running` for ever.
        logger.exception("read of run %s failed unexpectedly", run.pk)
        finish_failed(run, "internal_error", UNEXPECTED_FAILURE, lock=lock)
        raise
    else:
        _finish_succeeded(run, stored, lock)
        return _Attempt(finished=True, result=stored.first_page)
    return _Attempt(finished=True)


def _backend_recorder(run: QueryRun) -> Callable[[str], None]:
    """Where the session's id was not known before the read (recorded with the run, see
    `claim`), it is written as soon as the session has it, for a cancel to find. Either
    way the session that answered is kept with the run's end (`_end_fields`)."""
    written = bool(run.backend_id)

    def record(backend_id: str) -> None:
        if not written:
            QueryRun.objects.filter(pk=run.pk).update(backend_id=backend_id)
        run.backend_id = backend_id

    return record


def _finish_succeeded(run: QueryRun, stored: result_store.StoredRows, lock: SessionLock | None = None) -> None:
    result, location = stored.first_page, stored.location
    finished = timezone.now()
    fields = {
        "finished_at": finished,
        "duration_ms": result["took_ms"],
        "row_count": result["row_count"],
        "truncated": result["truncated"],
        "result_location": location,
        "computed_at": finished,
    }
    if _move_to_end(run, RunStatus.SUCCEEDED, fields, lock):
        result_store.remember_for_cache(run, result, location, run.datasource.cache_ttl_seconds)
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, row_count=run.row_count)
    run_finished_signal.announce_finished(str(run.pk))


def finish_failed(run: QueryRun, code: str, message: str, *, lock: SessionLock | None = None) -> None:
    finished = timezone.now()
    status = RunStatus.CANCELLED if code == "query_cancelled" else RunStatus.FAILED
    fields: dict[str, Any] = {
        "finished_at": finished,
        "duration_ms": (finished - run.started_at).total_seconds() * 1000 if run.started_at else None,
        "error_code": code,
        "error_message": message,
    }
    if _move_to_end(run, status, fields, lock):
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, error_code=code)
    run_finished_signal.announce_finished(str(run.pk))


def _move_to_end(run: QueryRun, status: str, fields: dict[str, Any], lock: SessionLock | None) -> bool:
    """running → `status`, its `query.finished` event and the lock's release in one
    statement (querybase.inserts.update_then_insert): one round trip for the whole end.
    The lock may go in the same statement: a sweeper seeing it free before the commit
    finds the run still running, but its conditional UPDATE then waits for this row and
    finds it ended."""
    if run.backend_id:
        fields = {**fields, "backend_id": run.backend_id}  # the session that answered
    release = lock.release_sql() if lock is not None else None
    moved = RUN_STATUS.move(
        run.pk,
        status,
        from_={RunStatus.RUNNING},
        record=[run_end_event(run, status, fields)],
        also=release,
        audience=[run.user_id],
        **fields,
    )
    if release is not None and lock is not None:
        lock.released()
    if moved:
        events_written()
        run.status = status
        for name, value in fields.items():
            setattr(run, name, value)
    return moved


def enqueue(run: QueryRun) -> None:
    """Hand a queued run to the `queries` workers (the task, by name: apps/submissions/tasks.py)."""
    enqueue_on_commit("queries.execute_read", str(run.pk))
