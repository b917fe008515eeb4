"""Looking up runs and their results, as the user (or an admin) may see them now."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from apps.queries import policy, result_store, run_finished_signal
from apps.queries.exceptions import ResultExpired, ResultNotVisible, ResultPageNotFound, RunNotFound
from apps.queries.models import FINISHED_STATUSES, QueryRun, RunStatus


def get_run(user: User, run_id) -> QueryRun:
    """A run whose metadata the user may see: their own (admins: every run)."""
    run = policy.runs_visible_to(user).select_related("datasource", "source_run").filter(pk=run_id).first()
    if run is None:
        raise RunNotFound("No query run with this id.")
    return run


def get_run_with_result(user: User, run_id) -> QueryRun:
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

    run_finished_signal.wait_until_finished(str(run.pk), finished, min(seconds, settings.QUERYBASE_MAX_WAIT_SECONDS))
    run.refresh_from_db()
    return run


def run_result(run: QueryRun) -> dict[str, Any] | None:
    return result_store.load_result(run) if run.status == RunStatus.SUCCEEDED else None


def result_page(user: User, run_id, number: int, statement: int | None = None) -> tuple[QueryRun, dict[str, Any]]:
    """Page `number` (from 1) of a run's result, which the user may see now. A run not
    (yet) succeeded has no pages; one whose result is gone says so (result_expired).

    `statement`, for SQL of several statements: that statement's result. The last one
    pages as the run's result does; an earlier one keeps only its first page."""
    run = get_run_with_result(user, run_id)
    if run.status != RunStatus.SUCCEEDED:
        raise RunNotFound("This run has no result: it has not succeeded (see its status).")
    first = result_store.load_page(run, 1)
    if first is None:
        raise ResultExpired("The result is no longer kept; run it again.")
    if statement is not None:
        chosen = result_store.statement_result(first, statement)
        if chosen is not first:
            if number != 1:
                raise ResultPageNotFound("An earlier statement keeps only its first page: export it for every row.")
            return run, chosen
    page = first if number == 1 else result_store.load_page(run, number)
    if page is None:
        raise ResultExpired("The result is no longer kept; run it again.")
    return run, page
