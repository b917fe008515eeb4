import time
from contextlib import AbstractContextManager, ExitStack
from urllib.parse import quote

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.approvals.serializers import ApprovalRequestDetailSerializer
from apps.queries import exports, runs
from apps.queries.renderers import RENDERERS
from apps.queries.responses import answered_at_once, finished_or_pending
from apps.queries.serializers import (
    SHARE_TOKEN_CHARS,
    QueryExportSerializer,
    QueryRunSerializer,
    QuerySubmitSerializer,
)
from apps.queries.views import statement_param
from apps.sandboxes.execution import run_in_sandbox
from apps.submissions import submission
from apps.submissions.exports import export_run, export_sql
from querybase.errors import InvalidInput
from querybase.rate_limits import QuerySubmitRateLimit
from querybase.types import SignedInRequest

# Announced before the body: an export holds at most this many rows (see apps/queries/renderers.py
# for how a capped one says it was cut).
ROW_CAP_HEADER = "X-QueryBase-Row-Cap"

# CSV is a file; the JSON export is one object (columns, rows, row_count), streamed.
EXPORT_RESPONSES = {(200, "text/csv"): bytes, (200, "application/json"): OpenApiTypes.OBJECT}

# 202 is either a run still going, or (for SQL that is not a read) the approval request made of it.
SUBMIT_ACCEPTED = PolymorphicProxySerializer(
    component_name="QueryAccepted",
    serializers=[
        QueryRunSerializer,
        inline_serializer("ApprovalCreated", {"approval": ApprovalRequestDetailSerializer()}),
    ],
    resource_type_field_name=None,
)


class QuerySubmitView(APIView):
    throttle_classes = [QuerySubmitRateLimit]

    @extend_schema(request=QuerySubmitSerializer, responses={200: QueryRunSerializer, 202: SUBMIT_ACCEPTED})
    def post(self, request: SignedInRequest) -> Response:
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
                share_token=data["share_token"],
                request=request,
            )
            return Response(answered_at_once(outcome.run, outcome.result, request))
        wait = min(data.get("wait", settings.QUERYBASE_DEFAULT_WAIT_SECONDS), settings.QUERYBASE_MAX_WAIT_SECONDS)
        started = time.monotonic()
        submitted = submission.submit_query(
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
        if submitted.approval is not None:
            return approval_accepted(submitted.approval)
        run = submitted.run
        assert run is not None  # a submission is a run unless it became an approval request
        if submitted.result is not None:
            return Response(answered_at_once(run, submitted.result, request))
        if not run.is_finished:
            run = runs.wait_for_run(run, wait - (time.monotonic() - started))
        if run.approval_request is not None:  # long SQL the worker found to be a write
            return approval_accepted(run.approval_request)
        return finished_or_pending(run, request)


def approval_accepted(approval) -> Response:
    return Response({"approval": ApprovalRequestDetailSerializer(approval).data}, status=status.HTTP_202_ACCEPTED)


def streaming_export(opened: AbstractContextManager[exports.Export], export_format: str) -> StreamingHttpResponse:
    """Open the read and render its first chunk before answering, so errors until then
    still get a proper status and the JSON error shape; then stream.

    A failure after that raises out of the body: the server then ends the response
    without its last chunk, and HTTP clients report it instead of keeping a file that
    merely looks complete."""
    content_type, _ = RENDERERS[export_format]
    stack = ExitStack()
    export = stack.enter_context(opened)

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
    def post(self, request: SignedInRequest) -> StreamingHttpResponse:
        payload = QueryExportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        opened = export_sql(
            request.user,
            datasource_id=data["datasource"],
            sql=data["sql"],
            params=data["params"],
            export_format=data["format"],
            statement=data["statement"],
            sandbox_id=data["sandbox"],
            share_token=data["share_token"],
            request=request,
        )
        return streaming_export(opened, data["format"])


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
            OpenApiParameter(
                "share_token",
                str,
                description="A run made in someone else's sandbox with a share link: the link's token, "
                "to read there again.",
            ),
        ],
        responses=EXPORT_RESPONSES,
    )
    def get(self, request: SignedInRequest, run_id) -> StreamingHttpResponse:
        export_format = request.query_params.get("format", "csv")
        if export_format not in RENDERERS:
            raise InvalidInput("format must be csv or json.")
        share_token = request.query_params.get("share_token", "")
        if len(share_token) > SHARE_TOKEN_CHARS:
            raise InvalidInput(f"share_token is at most {SHARE_TOKEN_CHARS} characters.")
        opened = export_run(
            request.user,
            run_id,
            export_format=export_format,
            statement=statement_param(request),
            share_token=share_token,
            request=request,
        )
        return streaming_export(opened, export_format)
