from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.queries import analysis, cancellation, runs, saved_queries, selectors
from apps.queries.models import RunStatus, SavedQuery
from apps.queries.responses import run_body, with_page_links
from apps.queries.serializers import (
    QueryAnalysisSerializer,
    QueryAnalyzeSerializer,
    QueryResultPageSerializer,
    QueryRunSerializer,
    SavedQuerySerializer,
)
from querybase.errors import InvalidInput
from querybase.rate_limits import QueryAnalyzeRateLimit
from querybase.types import SignedInRequest, signed_in_user


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
        run, page = runs.result_page(request.user, run_id, number, statement_param(request))
        return Response(with_page_links(page, run, request))


class QueryCancelView(APIView):
    @extend_schema(request=None, responses=QueryRunSerializer)
    def post(self, request: SignedInRequest, run_id) -> Response:
        return Response(QueryRunSerializer(cancellation.cancel_run(request.user, run_id, request=request)).data)


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

    @extend_schema(request=None, responses=SavedQuerySerializer)
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
        query = saved_queries.shared_query(request.user, token)
        return Response(SavedQuerySerializer(query, context={"request": request}).data)


def _page_param(request: SignedInRequest) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000_000:
        raise InvalidInput("page must be a page number, from 1.", details={"page": raw})
    return int(raw)


def statement_param(request: SignedInRequest) -> int | None:
    """`?statement=N` (from 1), for SQL of several statements; None without it."""
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
