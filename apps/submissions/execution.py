"""Use case, worker side: run a queued read exactly as it was submitted, after checking
everything again (rights may have changed while it waited)."""

from django.db import transaction

from apps.approvals.creation import create_request
from apps.queries.exceptions import ApprovalRequired
from apps.queries.locks import run_lock
from apps.queries.models import QueryRun, RunStatus
from apps.queries.plan import limits_for, prepare_read
from apps.queries.run_lifecycle import attempt, claim, finish_failed
from querybase.errors import QueryBaseError
from querybase.logs import bind_context
from querybase.session_locks import SessionLock


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
    if run.sandbox_id is not None:
        # Runs in a sandbox run in the request that made them, in the copy; a worker would
        # read the source in the copy's stead. Never queued by QueryBase: refused all the same.
        if claim(run):
            finish_failed(run, "internal_error", "A run in a sandbox cannot be run by a worker; run it again.")
        return
    with run_lock(run.pk) as lock:
        _check_and_attempt(run, lock, final_attempt=final_attempt)


def _check_and_attempt(run: QueryRun, lock: SessionLock, *, final_attempt: bool) -> None:
    try:
        # Rights are checked again: they may have been revoked while the job queued. This
        # comes before the claim: classification may ask the source's catalog, and a run
        # shown as running must reach its query quickly, or a cancel sent meanwhile finds
        # no query to stop in the database.
        prepared = prepare_read(run.user, datasource_id=run.datasource_id, sql=run.sql, params=run.params)
    except ApprovalRequired as error:
        if claim(run):
            _settle_write_submission(run, error)
        return
    except QueryBaseError as error:
        if claim(run):
            finish_failed(run, error.code, error.message)
        return
    if not run.classification:  # submitted unclassified (`_defer`)
        run.classification = prepared.classification.as_dict()
        QueryRun.objects.filter(pk=run.pk).update(classification=run.classification)
    if claim(run):
        attempt(run, prepared, limits_for(prepared.datasource), may_retry=not final_attempt, lock=lock)


def _settle_write_submission(run: QueryRun, error: ApprovalRequired) -> None:
    """A deferred submission the worker found not to be a read: it becomes an approval
    request if the user asked for that, as the API does for SQL it classifies itself."""
    run.classification = error.details["classification"]
    QueryRun.objects.filter(pk=run.pk).update(classification=run.classification)
    if not run.request_approval:
        finish_failed(run, error.code, error.message)
        return
    if run.approval_request_id is None:
        try:
            with transaction.atomic():
                run.approval_request = create_request(
                    run.user, datasource_id=run.datasource_id, sql=run.sql, params=run.params, reason=run.reason
                )
                QueryRun.objects.filter(pk=run.pk).update(approval_request=run.approval_request)
        except QueryBaseError as refusal:
            finish_failed(run, refusal.code, refusal.message)
            return
    finish_failed(run, error.code, f"This SQL is not a read: it became approval request #{run.approval_request_id}.")
