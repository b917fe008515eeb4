import time
from contextlib import ExitStack

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from apps.approvals import services as approval_services
from apps.approvals.serializers import ApprovalRequestDetailSerializer
from apps.queries import analysis, saved, selectors, services
from apps.queries.export import RENDERERS
from apps.queries.models import QueryRun, RunStatus
from apps.queries.serializers import (
    QueryAnalysisSerializer,
    QueryAnalyzeSerializer,
    QueryExportSerializer,
    QueryRunSerializer,
    QuerySubmitSerializer,
    SavedQuerySerializer,
)
from apps.sandboxes.execution import run_in_sandbox
from querybase.errors import QueryBaseError


class QuerySubmitThrottle(UserRateThrottle):
    """Per-user submissions, counted in the shared cache (Redis in production)."""

    scope = "query_submit"

    def get_rate(self) -> str:
        return settings.QUERYBASE_QUERY_RATE


def run_body(run: QueryRun) -> dict:
    body = QueryRunSerializer(run).data
    body["result"] = services.run_result(run)
    return body


def finished_or_pending(run: QueryRun) -> Response:
    if not run.is_finished:
        return Response(QueryRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
    if run.status != RunStatus.SUCCEEDED:
        raise services.QueryError.of_run(run)
    return Response(run_body(run))


class QuerySubmitView(APIView):
    throttle_classes = [QuerySubmitThrottle]

    @extend_schema(request=QuerySubmitSerializer, responses={200: QueryRunSerializer, 202: QueryRunSerializer})
    def post(self, request: Request) -> Response:
        payload = QuerySubmitSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if data.get("sandbox") is not None:
            # In the caller's sandbox: run at once, writes included, no cache, no approval.
            outcome = run_in_sandbox(
                request.user,
                sandbox_id=data["sandbox"],
                datasource_id=data["datasource"],
                sql=data["sql"],
                params=data["params"],
                request=request,
            )
            return Response({**QueryRunSerializer(outcome.run).data, "result": outcome.result})
        wait = min(data.get("wait", settings.QUERYBASE_DEFAULT_WAIT_SECONDS), settings.QUERYBASE_MAX_WAIT_SECONDS)
        started = time.monotonic()
        try:
            submission = services.submit_query(
                request.user,
                datasource_id=data["datasource"],
                sql=data["sql"],
                params=data["params"],
                max_age=data["max_age"],
                wait=wait,
                request_approval=data["request_approval"],
                reason=data["reason"],
                request=request,
            )
        except services.ApprovalRequired:
            if not data["request_approval"]:
                raise
            # Not provably a read: it becomes a request for approval (rights re-checked there).
            approval = approval_services.create_request(
                request.user,
                datasource_id=data["datasource"],
                sql=data["sql"],
                params=data["params"],
                reason=data["reason"],
                request=request,
            )
            return approval_accepted(approval)
        run = submission.run
        if submission.result is not None:
            return Response({**QueryRunSerializer(run).data, "result": submission.result})
        if not run.is_finished:
            run = services.wait_for_run(run, wait - (time.monotonic() - started))
        if run.approval_request is not None:  # long SQL the worker found to be a write
            return approval_accepted(run.approval_request)
        return finished_or_pending(run)


def approval_accepted(approval) -> Response:
    return Response({"approval": ApprovalRequestDetailSerializer(approval).data}, status=status.HTTP_202_ACCEPTED)


class QueryAnalyzeThrottle(UserRateThrottle):
    """Editors call analyze as the user types: a rate of its own, well above submissions'."""

    scope = "query_analyze"

    def get_rate(self) -> str:
        return settings.QUERYBASE_ANALYZE_RATE


class QueryAnalyzeView(APIView):
    throttle_classes = [QueryAnalyzeThrottle]

    @extend_schema(request=QueryAnalyzeSerializer, responses=QueryAnalysisSerializer)
    def post(self, request: Request) -> Response:
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
    def get(self, request: Request, run_id) -> Response:
        run = services.get_run_with_result(request.user, run_id)
        wait = _float_param(request, "wait")
        if wait:
            run = services.wait_for_run(run, wait)
        body = run_body(run)
        if run.status == RunStatus.SUCCEEDED and body["result"] is None:
            body["error"] = {"code": "result_expired", "message": "The result is no longer kept; run it again."}
        return Response(body)


class QueryCancelView(APIView):
    @extend_schema(request=None, responses=QueryRunSerializer)
    def post(self, request: Request, run_id) -> Response:
        return Response(QueryRunSerializer(services.cancel_run(request.user, run_id, request=request)).data)


def streaming_export(request: Request, *, datasource_id: int, sql: str, params, export_format: str):
    """Open the read before answering, so errors still get a proper status; then stream."""
    content_type, _ = RENDERERS[export_format]
    stack = ExitStack()
    chunks = stack.enter_context(
        services.export_stream(
            request.user,
            datasource_id=datasource_id,
            sql=sql,
            params=params,
            export_format=export_format,
            request=request,
        )
    )

    def body():
        with stack:
            yield from chunks

    response = StreamingHttpResponse(body(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="querybase-export.{export_format}"'
    return response


class QueryExportView(APIView):
    throttle_classes = [QuerySubmitThrottle]

    @extend_schema(request=QueryExportSerializer, responses={(200, "text/csv"): bytes})
    def post(self, request: Request):
        payload = QueryExportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        return streaming_export(
            request,
            datasource_id=data["datasource"],
            sql=data["sql"],
            params=data["params"],
            export_format=data["format"],
        )


class QueryRunExportView(APIView):
    throttle_classes = [QuerySubmitThrottle]

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["csv", "json"])], responses=bytes)
    def get(self, request: Request, run_id):
        run = services.get_run(request.user, run_id)
        export_format = request.query_params.get("format", "csv")
        if export_format not in RENDERERS:
            raise QueryBaseError("format must be csv or json.")
        return streaming_export(
            request, datasource_id=run.datasource_id, sql=run.sql, params=run.params, export_format=export_format
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
        return selectors.saved_queries_for(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = saved.save_query(
            self.request.user, fields=dict(serializer.validated_data), request=self.request
        )

    def perform_update(self, serializer):
        serializer.instance = saved.update_saved_query(
            serializer.instance, user=self.request.user, fields=dict(serializer.validated_data), request=self.request
        )

    def perform_destroy(self, instance):
        saved.delete_saved_query(instance, user=self.request.user, request=self.request)

    @extend_schema(request=None, responses=SavedQuerySerializer)
    @action(detail=True, methods=["post", "delete"], url_path="share-link")
    def share_link(self, request: Request, pk=None) -> Response:
        query = self.get_object()
        if request.method == "DELETE":
            query = saved.revoke_share_link(query, user=request.user, request=request)
        else:
            query = saved.create_share_link(query, user=request.user, request=request)
        return Response(self.get_serializer(query).data)


class SharedSavedQueryView(APIView):
    @extend_schema(responses=SavedQuerySerializer)
    def get(self, request: Request, token: str) -> Response:
        query = saved.saved_query_by_token(token)
        return Response(SavedQuerySerializer(query, context={"request": request}).data)


def _float_param(request: Request, name: str) -> float:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except ValueError as error:
        raise QueryBaseError(f"{name} must be a number of seconds.", details={name: raw}) from error
    if value < 0:
        raise QueryBaseError(f"{name} must not be negative.", details={name: raw})
    return value
