"""Every request gets an id that its log lines, its response and the Celery tasks it
queues carry, and its answer time goes to the latency histogram."""

import re
import secrets
import time
from collections.abc import Callable

import structlog
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from querybase import metrics
from querybase.logs import set_current_request

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"
# An id a proxy or client chose is kept only if it cannot forge a log line or a header:
# letters, digits and a few separators, as trace ids and UUIDs are.
_WELL_FORMED_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def request_id_for(request: HttpRequest) -> str:
    # From META: request.headers would build a dict of every header for this one.
    incoming = request.META.get(_REQUEST_ID_META, "")
    if incoming and _WELL_FORMED_REQUEST_ID.fullmatch(incoming):
        return incoming
    # 32 random hex digits, as a UUID's hex, without building the UUID object.
    return secrets.token_hex(16)


class RequestContextMiddleware:
    """First in MIDDLEWARE, so that even a redirect to HTTPS is logged with its id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = request_id_for(request)
        # A thread serves one request after another: nothing of the last one may remain.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        set_current_request(request)
        request.request_id = request_id  # type: ignore[attr-defined]  # read by the error pages
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        match = request.resolver_match
        metrics.observe_request(
            match.view_name if match is not None else "unmatched",
            request.method or "",
            response.status_code,
            time.perf_counter() - started,
        )
        return response


def _forget_request(**kwargs: object) -> None:
    # Not at the end of __call__: Django logs 4xx/5xx responses (django.request) after the
    # middleware returns, and those lines need the request's context too.
    structlog.contextvars.clear_contextvars()
    set_current_request(None)


request_finished.connect(_forget_request, dispatch_uid="querybase.middleware.forget_request")
