"""The audit reports over the API: parse, authorise, ask the search store, render."""

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit_search import reports
from apps.audit_search.search_store import AuditQuery
from apps.audit_search.serializers import AuditPageSerializer, EventsParameters, RecordsParameters, SearchParameters
from querybase.types import SignedInRequest


def _responses():
    return {(200, "application/json"): AuditPageSerializer, (200, "text/csv"): bytes}


class _AuditReportView(APIView):
    parameters_class: type = EventsParameters
    export_name = "audit"

    def perform_content_negotiation(self, request: Request, force=False):
        """`format=csv` asks for the CSV export, whatever the Accept header says (DRF would
        answer 406 to an Accept of text/csv: no renderer makes it). The export is streamed
        by the view itself; errors stay JSON."""
        if request.query_params.get("format") == "csv":
            renderer = self.get_renderers()[0]
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    def query_of(self, data: dict) -> AuditQuery:
        raise NotImplementedError

    def get(self, request: SignedInRequest):
        parameters = self.parameters_class(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        data = parameters.validated_data
        query = reports.authorise(request.user, self.query_of(data))
        if data["format"] == "csv":
            response = StreamingHttpResponse(reports.csv_lines(query), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="querybase-{self.export_name}.csv"'
            return response
        page = reports.run_report(query, page=data["page"], page_size=data["page_size"])
        return Response(
            {
                "next": self._page_url(request, data["page"] + 1) if page.has_more else None,
                "previous": self._page_url(request, data["page"] - 1) if data["page"] > 1 else None,
                "results": [document.as_dict() for document in page.documents],
            }
        )

    @staticmethod
    def _page_url(request: Request, page: int) -> str:
        query = request.query_params.copy()
        query["page"] = str(page)
        return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _window(data: dict) -> dict:
    return {
        "after": data.get("after"),
        "before": data.get("before"),
        "datasource_id": data.get("datasource"),
        "action": data.get("action"),
        "actor": data.get("user"),
    }


class AuditEventsView(_AuditReportView):
    """A user's impact (`user`) or a time window (`after`, `before`), newest first."""

    parameters_class = EventsParameters
    export_name = "events"

    def query_of(self, data: dict) -> AuditQuery:
        return AuditQuery(**_window(data))

    @extend_schema(parameters=[EventsParameters], responses=_responses())
    def get(self, request: SignedInRequest):
        return super().get(request)


class AuditRecordsView(_AuditReportView):
    """A record's lifetime: every run, request, review and execution whose SQL touched the
    table (and, with `key`, named that key value), oldest first."""

    parameters_class = RecordsParameters
    export_name = "record"

    def query_of(self, data: dict) -> AuditQuery:
        return reports.timeline(AuditQuery(datasource_id=data["datasource"], table=data["table"], key=data.get("key")))

    @extend_schema(parameters=[RecordsParameters], responses=_responses())
    def get(self, request: SignedInRequest):
        return super().get(request)


class AuditSearchView(_AuditReportView):
    """Full text over SQL, reasons, comments and errors; every word must appear."""

    parameters_class = SearchParameters
    export_name = "search"

    def query_of(self, data: dict) -> AuditQuery:
        return AuditQuery(text=data["q"], **_window(data))

    @extend_schema(parameters=[SearchParameters], responses=_responses())
    def get(self, request: SignedInRequest):
        return super().get(request)
