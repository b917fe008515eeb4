"""The Celery application. Configuration comes from Django settings (CELERY_*)."""

import os

from celery import Celery, signals

# Its signal handlers carry the log context from publisher to worker, in Django's format.
from querybase import task_context  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "querybase.settings")

app = Celery("querybase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _limit_memory(**_) -> None:
    """The worker's memory ceiling (querybase/memory_limit.py), before its pool forks: the
    pool's processes inherit it."""
    from querybase.memory_limit import apply_memory_limit

    apply_memory_limit()


def enqueue_on_commit(task_name: str, *args) -> None:
    """Queue the task named `task_name` once the current transaction commits (a worker
    must find the rows the task is about). By name, so services never import the tasks
    module, which imports them: tasks are thin adapters over services. Each app's
    AppConfig.ready imports its tasks, so every process knows them by name."""
    from django.db import transaction

    transaction.on_commit(lambda: app.tasks[task_name].delay(*args))
