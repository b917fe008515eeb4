"""Use case: the user who started a read cancels it, queued or running."""

import time

from django.contrib.auth.models import User
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import (
    ConnectorError,
)
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


def cancel_run(user: User, run_id, *, request: ClientRequest | None = None) -> QueryRun:
    """Cancel a queued run, or stop a running one in the database itself."""
    bind_context(run_id=run_id)
    run = get_run(user, run_id)
    if not policy.may_cancel_run(user, run):
        raise NotAllowed("Only the user who started a run may cancel it.")

    def audit() -> None:
        record_event("query.cancel", actor=user, target=run, request=request)

    def audit_end() -> None:
        audit()
        record_run_end(run, RunStatus.CANCELLED, {"error_code": "query_cancelled", "error_message": "Cancelled."})

    if RUN_STATUS.move(
        run.pk,
        RunStatus.CANCELLED,
        from_={RunStatus.QUEUED},
        then=audit_end,
        finished_at=timezone.now(),
        error_code="query_cancelled",
        error_message="Cancelled.",
    ):
        run_finished_signal.announce_finished(str(run.pk))
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
