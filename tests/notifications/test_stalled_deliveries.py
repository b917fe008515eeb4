"""A delivery is claimed before it posts, and the sweeper re-queues what a dead worker left."""

import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Notification
from apps.notifications.tasks import deliver_notification
from tests.support.webhook import RecordingWebhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def wait_until(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def status_of(notification: Notification) -> str:
    return Notification.objects.get(pk=notification.pk).status


def test_a_task_delivered_twice_posts_once():
    with RecordingWebhook() as chat:
        chat.hold()  # the first post stays in flight while the second delivery arrives
        notification = services.post_to_chat(chat.url, event="test", title="t", payload={"text": "once"})
        wait_until(lambda: len(chat.requests) == 1, "the first post")
        assert status_of(notification) == "sending"
        deliver_notification.delay(notification.pk).get(timeout=30)  # the broker delivers it again
        assert len(chat.requests) == 1
        chat.release()
        wait_until(lambda: status_of(notification) == "sent", "the delivery to be sent")
    assert len(chat.requests) == 1
    assert Notification.objects.get(pk=notification.pk).attempts == 1


def test_a_pending_delivery_whose_message_was_lost_is_requeued():
    with RecordingWebhook() as chat:
        # As a worker that died holding the message (or its retry) would leave it.
        notification = Notification.objects.create(
            channel="google_chat",
            webhook_url=chat.url,
            event="test",
            title="t",
            payload={"text": "late"},
            next_attempt_at=timezone.now(),
        )
        assert services.requeue_stalled_deliveries() == 0  # not overdue yet: its task may still come
        with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
            assert services.requeue_stalled_deliveries() == 1
        wait_until(lambda: status_of(notification) == "sent", "the re-queued delivery")
    assert len(chat.requests) == 1


def test_a_claim_whose_worker_died_is_released_and_retried():
    with RecordingWebhook() as chat:
        notification = Notification.objects.create(
            channel="google_chat",
            webhook_url=chat.url,
            event="test",
            title="t",
            payload={"text": "again"},
            status="sending",
            attempts=1,
            claimed_at=timezone.now(),
        )
        assert services.requeue_stalled_deliveries() == 0  # its worker may still be posting
        with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
            assert services.requeue_stalled_deliveries() == 1
        wait_until(lambda: status_of(notification) == "sent", "the retried delivery")
    assert len(chat.requests) == 1
    assert Notification.objects.get(pk=notification.pk).attempts == 2
