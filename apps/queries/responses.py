"""How a run answers over the API: its fields, and the page of its result with links to
the pages around it (shared by the run's own endpoints and the submission's)."""

from django.urls import reverse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.queries import exceptions, runs
from apps.queries.models import QueryRun, RunStatus
from apps.queries.serializers import QueryRunSerializer


def run_body(run: QueryRun, request: Request) -> dict:
    body = QueryRunSerializer(run).data
    body["result"] = with_page_links(runs.run_result(run), run, request)
    return body


def answered_at_once(run: QueryRun, page: dict, request: Request) -> dict:
    """A run that finished within its request (a fresh or cached read, a run in a sandbox),
    with the first page of its result and the links to the others."""
    return {**QueryRunSerializer(run).data, "result": with_page_links(page, run, request)}


def with_page_links(page: dict | None, run: QueryRun, request: Request) -> dict | None:
    """A page of a result with links to the next and previous ones (null at either end)."""
    if page is None:
        return None

    def link(number: int) -> str | None:
        if not 1 <= number <= page["page_count"]:
            return None
        path = reverse("api:query-results", kwargs={"run_id": run.pk})
        return request.build_absolute_uri(f"{path}?page={number}")

    return {**page, "next": link(page["page"] + 1), "previous": link(page["page"] - 1)}


def finished_or_pending(run: QueryRun, request: Request) -> Response:
    if not run.is_finished:
        return Response(QueryRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
    if run.status != RunStatus.SUCCEEDED:
        raise exceptions.QueryError.of_run(run)
    return Response(run_body(run, request))
