import time

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.approvals.serializers import ApprovalRequestDetailSerializer
from apps.queries import runs
from apps.queries.responses import answered_at_once, finished_or_pending
from apps.queries.serializers import QueryRunSerializer, QuerySubmitSerializer
from apps.sandboxes.execution import run_in_sandbox
from apps.submissions import submission
from querybase.rate_limits import QuerySubmitRateLimit
from querybase.types import SignedInRequest

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
