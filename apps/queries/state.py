"""The one way a run's status changes: RUN_TRANSITIONS, by conditional UPDATE. Each move
is announced to the run's owner as a live event (apps/live) once it commits, and so is
a run made already in a status (queued, running, or succeeded from the cache).

Announcing costs no query: movers pass the owner they already hold (`audience=`), and
the event is one Redis round trip after the commit, outside the move's transaction.
(Announcing was once held back because a cancel then failed now and then; the cause was
a cancel signal lost between a read's setup statements and its query, which the
announcement's delay after a claim made likelier: apps/queries/cancellation.py.)
"""

from collections.abc import Collection
from functools import partial
from typing import Any

from django.db import transaction

from apps.queries.models import RUN_TRANSITIONS, QueryRun
from querybase.live_bus import publish
from querybase.state_machine import StateMachine

RUN_STATUS_EVENT = "run.status"


def announce_run_status(pk: Any, status: str, owner: Collection[int] | None = None) -> None:
    """Tell the run's owner (and nobody else) its new status."""
    if owner is None:
        # A mover that did not say whose run it is (none in this code base): look it up.
        owner = list(QueryRun.objects.filter(pk=pk).values_list("user_id", flat=True))
    publish(owner, RUN_STATUS_EVENT, {"run": str(pk), "status": status})


def announce_new_run(run: QueryRun) -> None:
    """A run just made, in the status it was made with, once its row is committed."""
    transaction.on_commit(partial(announce_run_status, run.pk, run.status, [run.user_id]), robust=True)


RUN_STATUS = StateMachine(QueryRun, RUN_TRANSITIONS, announce=announce_run_status)
