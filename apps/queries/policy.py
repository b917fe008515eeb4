"""May a user see a run, its rows, or cancel it? (The rules on runs; see
`apps.accounts.policy` for where the other rules live.)

A run's metadata (SQL, status, timings) is its owner's, and every admin's. Its rows are
shown only to whoever may see the run *and* may read its source now.
"""

from django.db.models import QuerySet

from apps.accounts.policy import is_active_user, is_admin
from apps.datasources.access import Action, user_may
from apps.queries.models import QueryRun
from querybase.types import AnyUser


def runs_visible_to(user: AnyUser) -> QuerySet[QueryRun]:
    """Runs whose metadata (SQL, status, timings) the user may see: their own; admins all."""
    runs = QueryRun.objects.all()
    if is_admin(user):
        return runs
    if not is_active_user(user):
        return runs.none()
    return runs.filter(user=user)


def may_view_run(user: AnyUser, run: QueryRun) -> bool:
    return is_admin(user) or (is_active_user(user) and run.user_id == user.pk)


def may_view_result(user: AnyUser, run: QueryRun) -> bool:
    """The rows: only to whoever may see the run *and* may read its source now."""
    return may_view_run(user, run) and user_may(user, Action.READ, run.datasource)


def may_cancel_run(user: AnyUser, run: QueryRun) -> bool:
    return is_active_user(user) and run.user_id == user.pk
