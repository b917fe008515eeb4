"""The one way a run's status changes: RUN_TRANSITIONS, by conditional UPDATE. Each move
is announced to the run's owner as a live event (apps/live) once it commits."""

from typing import Any

from apps.live.bus import publish
from apps.queries.models import RUN_TRANSITIONS, QueryRun
from querybase.state_machine import StateMachine


def announce_run_status(pk: Any, status: str) -> None:
    owner = QueryRun.objects.filter(pk=pk).values_list("user_id", flat=True).first()
    if owner is not None:
        publish([owner], "run.status", {"run": str(pk), "status": status})


RUN_STATUS = StateMachine(QueryRun, RUN_TRANSITIONS, announce=announce_run_status)
