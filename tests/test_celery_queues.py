"""Tasks land on their queue: queries first, then notifications, then maintenance."""

import pytest

import apps.approvals.tasks
import apps.notifications.tasks
import apps.queries.tasks  # noqa: F401  (tasks register when their module is imported)
from querybase.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("queries.execute_read", "queries"),
        ("queries.execute_approved_request", "queries"),
        ("notifications.deliver", "notifications"),
        ("maintenance.expire_approval_requests", "maintenance"),
    ],
)
def test_task_routes(task, queue):
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_expiry_runs_periodically():
    schedule = app.conf.beat_schedule["expire-approval-requests"]
    assert schedule["task"] == "maintenance.expire_approval_requests"
