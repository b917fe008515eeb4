"""Celery tasks log with the context of whoever queued them.

The publishing side (a web request, or a task queuing another) puts its request id, user,
run and approval ids into a message header; the worker binds them before the task runs
and forgets them after, so a worker's lines say which API request they serve. Logging in
the worker is Django's (querybase/logs.py): Celery is told not to set up its own.
"""

import logging.config
import os
from typing import Any

import structlog
from celery import signals

from querybase import metrics
from querybase.logs import request_user_fields

CONTEXT_HEADER = "querybase_log_context"
_CARRIED = ("request_id", "user_id", "username", "run_id", "approval_id")


@signals.before_task_publish.connect
def carry_log_context(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is None:
        return
    bound = {**structlog.contextvars.get_contextvars(), **request_user_fields()}
    carried = {key: bound[key] for key in _CARRIED if key in bound}
    if carried:
        headers[CONTEXT_HEADER] = carried


@signals.task_prerun.connect
def bind_task_context(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    # An eager task (the embedded default) runs inside its caller, whose context it keeps.
    if task is None or task.request.is_eager:
        return
    structlog.contextvars.clear_contextvars()
    header = getattr(task.request, CONTEXT_HEADER, None)
    carried = {key: value for key, value in header.items() if key in _CARRIED} if isinstance(header, dict) else {}
    structlog.contextvars.bind_contextvars(**carried, task_id=task_id, task=task.name)


@signals.task_postrun.connect
def forget_task_context(task: Any = None, **kwargs: Any) -> None:
    if task is not None and not task.request.is_eager:
        structlog.contextvars.clear_contextvars()


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Connected at all, this stops Celery from installing its own handlers and format."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_process_shutdown.connect
def drop_process_metrics(pid: int | None = None, **kwargs: Any) -> None:
    """A worker sharing the web's PROMETHEUS_MULTIPROC_DIR takes its live gauges along."""
    if metrics.MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
