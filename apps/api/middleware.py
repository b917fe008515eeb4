"""Refusing, before any view, URLs that carry text nothing behind them can store."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from apps.api.errors import error_body
from apps.api.parsers import text_problem


class RefuseUnstorableUrlText:
    """A NUL in the path or the query string (`/shared/%00`, `?status=%00`) would reach a
    database lookup and fail there as a 500; it is a 400 here. (Django already replaces
    undecodable bytes, so NUL is the one character left to catch.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = _url_problem(request)
        if problem is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("invalid_characters", f"The URL cannot be used: {problem}"), status=400)
        return HttpResponseBadRequest(problem)


def _url_problem(request: HttpRequest) -> str | None:
    texts = [request.path]
    for key, values in request.GET.lists():
        texts.append(key)
        texts.extend(values)
    for text in texts:
        problem = text_problem(text)
        if problem is not None:
            return problem
    return None
