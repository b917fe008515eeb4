"""Use case: the user who started a read cancels it, queued or running."""

import time
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import Connector, ConnectorError
from apps.queries import policy, run_finished_signal
from apps.queries.exceptions import RunNotCancellable
from apps.queries.models import QueryRun, RunStatus
from apps.queries.run_audit import record_run_end
from apps.queries.runs import get_run
from apps.queries.state import RUN_STATUS
from querybase.errors import NotAllowed
from querybase.logs import bind_context, get_logger
from querybase.types import ClientRequest

logger = get_logger(__name__)

# How long a cancel keeps signalling a running read, and how often it looks again.
CANCEL_SECONDS = 10
CANCEL_POLL_SECONDS = 0.05


def cancel_run(user: User, run_id, *, request: ClientRequest | None = None) -> QueryRun:
    """Cancel a queued run, or stop a running one in the database itself. Answers once the
    run has left `queued` and `running` (or after CANCEL_SECONDS, still running)."""
    bind_context(run_id=run_id)
    run = get_run(user, run_id)
    if not policy.may_cancel_run(user, run):
        raise NotAllowed("Only the user who started a run may cancel it.")
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        raise RunNotCancellable(f"The run has already {run.status}.")
    if not _stop(run, user, request):
        # A running read's end (query.finished) is written by the process running it.
        record_event("query.cancel", actor=user, target=run, request=request)
    run.refresh_from_db()
    return run


def _stop(run: QueryRun, user: User, request: ClientRequest | None) -> bool:
    """Follow the run until it has stopped: a queued run is cancelled here, a running one
    is signalled in its database session, and one can become the other meanwhile (a
    worker claims it; an inline read past its budget is handed back to the queue).
    True when this call cancelled it while queued, with its audit events."""
    deadline = time.monotonic() + CANCEL_SECONDS
    connector = None
    while time.monotonic() < deadline:
        if run.status == RunStatus.QUEUED:
            if _cancel_queued(run, user, request):
                return True
        elif run.status == RunStatus.RUNNING:
            connector = connector or connector_for(run.datasource, CredentialRole.READ)
            if not _signal(connector, run):
                return False
            time.sleep(CANCEL_POLL_SECONDS)
        else:
            return False
        run.refresh_from_db(fields=["status", "backend_id"])
    logger.warning("run still running after its cancel", seconds=CANCEL_SECONDS)
    return False


def _cancel_queued(run: QueryRun, user: User, request: ClientRequest | None) -> bool:
    fields: dict[str, Any] = {"error_code": "query_cancelled", "error_message": "Cancelled."}

    def audit() -> None:
        record_event("query.cancel", actor=user, target=run, request=request)
        record_run_end(run, RunStatus.CANCELLED, fields)

    moved = RUN_STATUS.move(
        run.pk,
        RunStatus.CANCELLED,
        from_={RunStatus.QUEUED},
        then=audit,
        audience=[run.user_id],
        finished_at=timezone.now(),
        **fields,
    )
    if moved:
        run_finished_signal.announce_finished(str(run.pk))
    return moved


def _signal(connector: Connector, run: QueryRun) -> bool:
    """Signal the run's statement, if one is running now; False if the source cannot be
    asked (then nothing more can be done from here).

    Signalling once is not enough, so `_stop` signals until the run has left `running`:
    a read's session runs short statements of its own before the query (its time limit,
    its name), and the server drops a cancel that lands after the statement it was meant
    for has ended. A signal sent while such a statement was active, landing just after
    it, is lost, and the query runs on. (That race, not the live announcement of the
    claim, made test_cancel_stops_the_query_in_the_database fail now and then: the
    announcement only widened it.) A signal cannot reach another read on the same pooled
    connection: the backend id names this read's own transaction."""
    if not run.backend_id:
        return True  # connecting, or setting up: nothing to signal yet
    try:
        connector.cancel(run.backend_id)
    except ConnectorError as error:
        logger.warning("cancel failed", error=error.message)
        return False
    return True
