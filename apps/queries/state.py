"""The one way a run's status changes: RUN_TRANSITIONS, by conditional UPDATE."""

from apps.queries.models import RUN_TRANSITIONS, QueryRun
from querybase.state_machine import StateMachine

RUN_STATUS = StateMachine(QueryRun, RUN_TRANSITIONS)
