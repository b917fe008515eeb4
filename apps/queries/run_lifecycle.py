"""A read run's life: claimed (queued → running), attempted once against its source, then
finished (succeeded, failed, cancelled) or handed back to the queue. Every status change
goes through the run state machine (apps/queries/state.py)."""

from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.datasources.connectors import CredentialRole, connector_for
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
from apps.queries.run_audit import record_run_end
from apps.queries.state import RUN_STATUS
from querybase.celery import enqueue_on_commit
from querybase.logs import get_logger

logger = get_logger(__name__)


# Attempts a read gets in the worker (the first and its retries) before a run whose
# process keeps disappearing is given up as `worker_lost`.
MAX_RUN_ATTEMPTS = 3


def claim(run: QueryRun) -> bool:
    run.started_at = timezone.now()
    run.status = RunStatus.RUNNING
    return RUN_STATUS.move(
        run.pk, RunStatus.RUNNING, from_={RunStatus.QUEUED}, started_at=run.started_at, attempts=F("attempts") + 1
    )


def requeue(run: QueryRun) -> bool:
    moved = RUN_STATUS.move(
        run.pk, RunStatus.QUEUED, from_={RunStatus.RUNNING}, started_at=None, backend_id="", queued_at=timezone.now()
    )
    run.status = RunStatus.QUEUED
    return moved


@dataclass(frozen=True)
class _Attempt:
    finished: bool
    result: dict[str, Any] | None = None  # the first page of a finished read's result


def attempt(
    run: QueryRun, prepared: PreparedRead, limits: QueryLimits, *, hand_over: bool = False, may_retry: bool = False
) -> _Attempt:
    """Run a claimed read once. `hand_over`: a timeout or an unreachable source gives the
    run back to the queue (inline attempts). `may_retry`: an unreachable source is
    retried by the task (worker attempts but the last)."""
    try:
        connector = connector_for(prepared.datasource, CredentialRole.READ)
        texts = [statement.text for statement in prepared.classification.statements]
        stored = result_store.read_into_store(
            run, connector, prepared.statements, limits, _backend_recorder(run.pk), texts=texts
        )
    except QueryTimedOut as error:
        if hand_over:
            requeue(run)
            return _Attempt(finished=False)
        finish_failed(run, error.code, error.message)
    except (ConnectionFailed, ConnectionTimedOut) as error:
        # The connector already retried a dropped connection once: the source is down.
        if hand_over or may_retry:
            requeue(run)
            if may_retry:
                raise TransientSourceError(error.message) from error
            return _Attempt(finished=False)
        finish_failed(run, error_code_of(error), error.message)
    except ConnectorError as error:
        finish_failed(run, error.code, error.message)
    except CredentialDecryptionError as error:
        finish_failed(run, CredentialDecryptionError.code, str(error))
    except Exception:
        # A bug, not the source: still, the run must not stay `running` for ever.
        logger.exception("read of run %s failed unexpectedly", run.pk)
        finish_failed(run, "internal_error", "The read failed unexpectedly; the error has been logged.")
        raise
    else:
        _finish_succeeded(run, stored)
        return _Attempt(finished=True, result=stored.first_page)
    return _Attempt(finished=True)


def _backend_recorder(run_id):
    def record(backend_id: str) -> None:
        QueryRun.objects.filter(pk=run_id).update(backend_id=backend_id)

    return record


def _finish_succeeded(run: QueryRun, stored: result_store.StoredRows) -> None:
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
    if RUN_STATUS.move(
        run.pk,
        RunStatus.SUCCEEDED,
        from_={RunStatus.RUNNING},
        then=lambda: record_run_end(run, RunStatus.SUCCEEDED, fields),
        **fields,
    ):
        run.status = RunStatus.SUCCEEDED
        for name, value in fields.items():
            setattr(run, name, value)
        result_store.remember_for_cache(run, result, location, run.datasource.cache_ttl_seconds)
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, row_count=run.row_count)
    run_finished_signal.announce_finished(str(run.pk))


def finish_failed(run: QueryRun, code: str, message: str) -> None:
    finished = timezone.now()
    status = RunStatus.CANCELLED if code == "query_cancelled" else RunStatus.FAILED
    fields: dict[str, Any] = {
        "finished_at": finished,
        "duration_ms": (finished - run.started_at).total_seconds() * 1000 if run.started_at else None,
        "error_code": code,
        "error_message": message,
    }
    if RUN_STATUS.move(
        run.pk, status, from_={RunStatus.RUNNING}, then=lambda: record_run_end(run, status, fields), **fields
    ):
        run.status = status
        for name, value in fields.items():
            setattr(run, name, value)
        logger.info("query run finished", status=run.status, duration_ms=run.duration_ms, error_code=code)
    run_finished_signal.announce_finished(str(run.pk))


def enqueue(run: QueryRun) -> None:
    """Hand a queued run to the `queries` workers (the task, by name: apps/submissions/tasks.py)."""
    enqueue_on_commit("queries.execute_read", str(run.pk))
