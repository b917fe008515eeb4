"""Structured logs: one format for our own lines and for Django's, Celery's and every
other library's, carrying who and what a line is about.

structlog renders everything: our code logs through structlog, and the standard
library's records (Django, Celery, psycopg) pass through structlog's ProcessorFormatter,
so both get the same fields and the same renderer. The fields that say what a line is
about live in context variables: the request middleware binds `request_id`, services
bind `run_id` / `approval_id`, and a Celery worker binds what the publishing request had
(querybase.task_context). The user is added when a line is written, because DRF
authenticates inside the view, after the middleware has run.
"""

import contextvars
import logging
import sys
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:  # settings import this module: nothing of Django's is loaded here
    from django.http import HttpRequest

LOG_FORMATS = ("json", "console")

# The request being handled in this thread/task, for the user processor below.
_current_request: contextvars.ContextVar["HttpRequest | None"] = contextvars.ContextVar(
    "querybase_current_request", default=None
)
# Set while the processor resolves the user: resolving it may load a session or a user
# row, and a line logged meanwhile must not try again.
_resolving_user: contextvars.ContextVar[bool] = contextvars.ContextVar("querybase_resolving_user", default=False)


def set_current_request(request: "HttpRequest | None") -> None:
    _current_request.set(request)


def request_user_fields() -> dict[str, Any]:
    """`user_id` and `username` of the request being handled, if it is authenticated."""
    request = _current_request.get()
    if request is None or _resolving_user.get():
        return {}
    token = _resolving_user.set(True)
    try:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return {}
        return {"user_id": user.pk, "username": user.get_username()}
    except Exception:  # a line must be written even when the session store is down
        return {}
    finally:
        _resolving_user.reset(token)


def add_request_user(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the request's user, unless the line already names one (a
    worker binds the user its task was published with)."""
    if "user_id" not in event_dict:
        event_dict.update(request_user_fields())
    return event_dict


def _shared_processors() -> list:
    """What every line gets, whether it was logged through structlog or the stdlib."""
    return [
        structlog.contextvars.merge_contextvars,
        add_request_user,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer_chain(log_format: str) -> list:
    if log_format == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    # Colours only for a terminal: the handler writes to stderr (see logging_config).
    return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]


def logging_config(*, level: str, log_format: str) -> dict[str, Any]:
    """The LOGGING dict for Django: one handler on the root logger, formatted by structlog.

    Django's own "django" and "django.server" loggers get their default handlers taken
    away so their lines reach the root handler, in the same format, instead of Django's
    plain-text ones."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "foreign_pre_chain": _shared_processors(),
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    *_renderer_chain(log_format),
                ],
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
        },
    }


def configure_structlog() -> None:
    """structlog loggers hand their event dicts to the stdlib handler configured above;
    Python's warnings become lines of the `py.warnings` logger, in the same format."""
    logging.captureWarnings(True)
    # No line shows the caller's file, line or function, nor the thread or process (the
    # renderers above write none of them): the standard library's records skip looking them
    # up, a stack walk and a few calls per line, the access log's line per request included
    # (the logging HOWTO's "Optimization" section names these switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bind_context(**fields: Any) -> None:
    """Name what the lines logged from here on are about (run_id, approval_id), until the
    request or task ends."""
    structlog.contextvars.bind_contextvars(**{key: str(value) for key, value in fields.items()})


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
