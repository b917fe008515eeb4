"""One JSON error shape for every API error: {"error": {"code", "message", "details"}}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback
from rest_framework_simplejwt.exceptions import InvalidToken

from apps.api.parsers import UnstorableInput
from querybase.errors import QueryBaseError

logger = logging.getLogger(__name__)

# Stable codes for DRF's own exceptions (their default codes are less precise).
_DRF_CODES: dict[type[exceptions.APIException], str] = {
    UnstorableInput: "invalid_characters",
    exceptions.ValidationError: "invalid_request",
    exceptions.ParseError: "malformed_body",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _drf_code(exc: exceptions.APIException) -> str:
    if isinstance(exc, InvalidToken):
        return "invalid_token"
    for exc_type in type(exc).__mro__:
        if exc_type in _DRF_CODES:
            return _DRF_CODES[exc_type]
    return str(exc.default_code)


def _message_and_details(exc: exceptions.APIException) -> tuple[str, Any]:
    if isinstance(exc, UnstorableInput):
        return str(exc.detail), exc.details
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return "The request is invalid; see details for each field.", details
    detail = exc.detail
    if isinstance(detail, dict) and "detail" in detail:
        # simplejwt puts its message under "detail" next to extra information.
        extra = {key: value for key, value in detail.items() if key != "detail"}
        return str(detail["detail"]), extra or None
    return str(detail), None


def json_error_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error a view raises leaves here as the JSON shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("No such object.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("payload_too_large", "The request body is larger than this server accepts."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    elif isinstance(exc, UnreadablePostError):
        # The client left, or was cut off for sending too slowly (querybase/request_arrival.py,
        # which has answered 408 already), before its body was whole: nobody's error to log.
        return Response(
            error_body("body_incomplete", "The request body did not arrive whole."), status=status.HTTP_400_BAD_REQUEST
        )

    if isinstance(exc, (ProtectedError, RestrictedError)):
        # A delete that would take other records with it; services say so more precisely.
        set_rollback()
        return Response(
            error_body("still_referenced", "Other records still refer to this one, so it is kept."),
            status=status.HTTP_409_CONFLICT,
        )

    if isinstance(exc, QueryBaseError):
        set_rollback()
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(int(retry_after))} if retry_after else None
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status, headers=headers)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        message, details = _message_and_details(exc)
        headers = {}
        # Only some of DRF's exceptions carry these (NotAuthenticated, Throttled).
        auth_header, wait = getattr(exc, "auth_header", None), getattr(exc, "wait", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        if wait:
            headers["Retry-After"] = str(int(wait))
        return Response(error_body(_drf_code(exc), message, details), status=exc.status_code, headers=headers)

    return None


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception=None):
    """handler404: JSON for the API, Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def bad_request(request: HttpRequest, exception=None):
    """handler400: Django refuses some requests before any view runs (bad Host, huge body)."""
    if isinstance(exception, RequestDataTooBig):
        body, code = error_body("payload_too_large", "The request body is larger than this server accepts."), 413
    else:
        body, code = error_body("bad_request", "The request could not be understood."), 400
    if _is_api(request):
        return JsonResponse(body, status=code)
    from django.views.defaults import bad_request as default_bad_request

    return default_bad_request(request, exception)


def server_error(request: HttpRequest):
    """handler500: still the JSON shape for API clients; the traceback goes to the log."""
    if _is_api(request):
        return JsonResponse(
            error_body("internal_error", "An unexpected error occurred; it has been logged."), status=500
        )
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
