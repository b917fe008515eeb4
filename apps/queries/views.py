from contextlib import ExitStack
from urllib.parse import quote

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.queries import analysis, cancellation, exports, runs, saved_queries, selectors
from apps.queries.models import RunStatus, SavedQuery
from apps.queries.renderers import RENDERERS
from apps.queries.responses import run_body, with_page_links
from apps.queries.serializers import (
    QueryAnalysisSerializer,
    QueryAnalyzeSerializer,
    QueryExportSerializer,
    QueryResultPageSerializer,
    QueryRunSerializer,
    SavedQuerySerializer,
)
from querybase.errors import InvalidInput
from querybase.rate_limits import QueryAnalyzeRateLimit, QuerySubmitRateLimit
from querybase.types import SignedInRequest, signed_in_user

# Announced before the body: an export holds at most this many rows (see apps/queries/renderers.py
# for how a capped one says it was cut).
ROW_CAP_HEADER = "X-QueryBase-Row-Cap"


# CSV is a file; the JSON export is one object (columns, rows, row_count), streamed.
EXPORT_RESPONSES = {(200, "text/csv"): bytes, (200, "application/json"): OpenApiTypes.OBJECT}


class QueryAnalyzeView(APIView):
    throttle_classes = [QueryAnalyzeRateLimit]

    @extend_schema(request=QueryAnalyzeSerializer, responses=QueryAnalysisSerializer)
    def post(self, request: SignedInRequest) -> Response:
        payload = QueryAnalyzeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        found = analysis.analyze_sql(request.user, datasource_id=data["datasource"], sql=data["sql"])
        return Response(
            {
                "dialect": found.dialect,
                "placeholders": found.placeholders,
                "classification": found.classification.as_dict(),
            }
        )


class QueryRunView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("wait", float, description="Seconds to block until the run finishes.")],
        responses=QueryRunSerializer,
    )
    def get(self, request: SignedInRequest, run_id) -> Response:
        run = runs.get_run_with_result(request.user, run_id)
        wait = _float_param(request, "wait")
        if wait:
            run = runs.wait_for_run(run, wait)
        body = run_body(run, request)
        if run.status == RunStatus.SUCCEEDED and body["result"] is None:
            body["error"] = {"code": "result_expired", "message": "The result is no longer kept; run it again."}
        return Response(body)


class QueryResultsView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, description="Page number, from 1 (the run's answer holds page 1)."),
            OpenApiParameter(
                "statement",
                int,
                description="SQL of several statements: statement N's result (from 1). An earlier statement "
                "keeps its first page only (export it for every row); the last one pages as the run's result.",
            ),
        ],
        responses=QueryResultPageSerializer,
    )
    def get(self, request: SignedInRequest, run_id) -> Response:
        number = _page_param(request)
        run, page = runs.result_page(request.user, run_id, number, _statement_param(request))
        return Response(with_page_links(page, run, request))


class QueryCancelView(APIView):
    @extend_schema(request=None, responses=QueryRunSerializer)
    def post(self, request: SignedInRequest, run_id) -> Response:
        return Response(QueryRunSerializer(cancellation.cancel_run(request.user, run_id, request=request)).data)


def streaming_export(
    request: SignedInRequest,
    *,
    datasource_id: int,
    sql: str,
    params,
    export_format: str,
    statement: int | None = None,
    sandbox_id: int | None = None,
):
    """Open the read and render its first chunk before answering, so errors until then
    still get a proper status and the JSON error shape; then stream.

    A failure after that raises out of the body: the server then ends the response
    without its last chunk, and HTTP clients report it instead of keeping a file that
    merely looks complete."""
    content_type, _ = RENDERERS[export_format]
    stack = ExitStack()
    export = stack.enter_context(
        exports.export_stream(
            request.user,
            datasource_id=datasource_id,
            sql=sql,
            params=params,
            export_format=export_format,
            statement=statement,
            sandbox_id=sandbox_id,
            request=request,
        )
    )

    def body():
        with stack:
            yield from export.chunks

    response = StreamingHttpResponse(body(), content_type=content_type)
    # Both forms: `filename*` (RFC 6266) keeps the name as it is, `filename` is for
    # clients that read only plain ASCII.
    response["Content-Disposition"] = (
        f'attachment; filename="{exports.ascii_file_name(export.file_name)}"; '
        f"filename*=UTF-8''{quote(export.file_name, safe='')}"
    )
    response[ROW_CAP_HEADER] = str(export.row_cap)
    return response


class QueryExportView(APIView):
    throttle_classes = [QuerySubmitRateLimit]

    @extend_schema(request=QueryExportSerializer, responses=EXPORT_RESPONSES)
    def post(self, request: SignedInRequest):
        payload = QueryExportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        return streaming_export(
            request,
            datasource_id=data["datasource"],
            sql=data["sql"],
            params=data["params"],
            export_format=data["format"],
            statement=data["statement"],
            sandbox_id=data["sandbox"],
        )


class QueryRunExportView(APIView):
    throttle_classes = [QuerySubmitRateLimit]

    def perform_content_negotiation(self, request: Request, force=False):
        # The export's body is its own (CSV or JSON, by `?format=`); errors are JSON whatever
        # the Accept header says (a client asking for text/csv would otherwise get a 406).
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["csv", "json"]),
            OpenApiParameter("statement", int, description="SQL of several statements: export statement N (from 1)."),
        ],
        responses=EXPORT_RESPONSES,
    )
    def get(self, request: SignedInRequest, run_id):
        run = runs.get_run(request.user, run_id)
        export_format = request.query_params.get("format", "csv")
        if export_format not in RENDERERS:
            raise InvalidInput("format must be csv or json.")
        return streaming_export(
            request,
            datasource_id=run.datasource_id,
            sql=run.sql,
            params=run.params,
            export_format=export_format,
            statement=_statement_param(request),
            sandbox_id=run.sandbox_id,
        )


class HistoryView(generics.ListAPIView):
    serializer_class = QueryRunSerializer
    filterset_class = selectors.HistoryFilter

    def get_queryset(self):
        return selectors.history_for(self.request.user)


class SavedQueryViewSet(viewsets.ModelViewSet):
    serializer_class = SavedQuerySerializer
    filterset_fields = ["datasource"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return SavedQuery.objects.none()
        return selectors.saved_queries_for(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = saved_queries.save_query(
            signed_in_user(self.request), fields=dict(serializer.validated_data), request=self.request
        )

    def perform_update(self, serializer):
        serializer.instance = saved_queries.update_saved_query(
            serializer.instance,
            user=signed_in_user(self.request),
            fields=dict(serializer.validated_data),
            request=self.request,
        )

    def perform_destroy(self, instance):
        saved_queries.delete_saved_query(instance, user=signed_in_user(self.request), request=self.request)

    # Both answer the saved query as it is now: 200 for the DELETE too, not the 204
    # drf-spectacular assumes of one.
    @extend_schema(request=None, responses={200: SavedQuerySerializer})
    @action(detail=True, methods=["post", "delete"], url_path="share-link")
    def share_link(self, request: SignedInRequest, pk=None) -> Response:
        query = self.get_object()
        if request.method == "DELETE":
            query = saved_queries.revoke_share_link(query, user=request.user, request=request)
        else:
            query = saved_queries.create_share_link(query, user=request.user, request=request)
        return Response(self.get_serializer(query).data)


class SharedSavedQueryView(APIView):
    @extend_schema(responses=SavedQuerySerializer)
    def get(self, request: SignedInRequest, token: str) -> Response:
        query = saved_queries.saved_query_by_token(token)
        return Response(SavedQuerySerializer(query, context={"request": request}).data)


def _page_param(request: SignedInRequest) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000_000:
        raise InvalidInput("page must be a page number, from 1.", details={"page": raw})
    return int(raw)


def _statement_param(request: SignedInRequest) -> int | None:
    raw = request.query_params.get("statement")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 1_000_000:
        raise InvalidInput("statement must be a statement number, from 1.", details={"statement": raw})
    return int(raw)


def _float_param(request: SignedInRequest, name: str) -> float:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except ValueError as error:
        raise InvalidInput(f"{name} must be a number of seconds.", details={name: raw}) from error
    if value < 0:
        raise InvalidInput(f"{name} must not be negative.", details={name: raw})
    return value
