"""The one way a delivery's status changes: DELIVERY_TRANSITIONS, by conditional UPDATE."""

from apps.notifications.models import DELIVERY_TRANSITIONS, Notification
from querybase.state_machine import StateMachine

DELIVERY_STATUS = StateMachine(Notification, DELIVERY_TRANSITIONS)
