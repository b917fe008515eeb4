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
        ("maintenance.settle_abandoned_runs", "maintenance"),
        ("maintenance.settle_approval_requests", "maintenance"),
        ("maintenance.requeue_stalled_deliveries", "maintenance"),
    ],
)
def test_task_routes(task, queue):
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_expiry_runs_periodically():
    schedule = app.conf.beat_schedule["expire-approval-requests"]
    assert schedule["task"] == "maintenance.expire_approval_requests"


@pytest.mark.parametrize(
    "task",
    [
        "maintenance.settle_abandoned_runs",
        "maintenance.settle_approval_requests",
        "maintenance.requeue_stalled_deliveries",
    ],
)
def test_the_sweeper_runs_every_minute(task):
    assert [entry["schedule"] for entry in app.conf.beat_schedule.values() if entry["task"] == task] == [60.0]


@pytest.mark.parametrize(
    "task",
    [
        "queries.execute_read",
        "queries.execute_approved_request",
        "notifications.deliver",
        "maintenance.settle_approval_requests",
    ],
)
def test_every_task_has_a_soft_and_a_hard_time_limit(task):
    annotated = app.tasks[task]
    soft = annotated.soft_time_limit or app.conf.task_soft_time_limit
    hard = annotated.time_limit or app.conf.task_time_limit
    assert soft and hard and soft < hard
