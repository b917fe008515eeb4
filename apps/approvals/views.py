from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.approvals import decisions, dry_runs, promotion, selectors
from apps.approvals.serializers import (
    ApprovalFilterSerializer,
    ApprovalRequestDetailSerializer,
    ApprovalRequestSerializer,
    ApproverSerializer,
    ReviewInputSerializer,
)
from apps.datasources import access
from apps.datasources.access import datasources_visible_to
from apps.datasources.models import DataSource
from apps.queries.exceptions import DataSourceNotFound
from apps.sandboxes.serializers import PromoteInputSerializer
from querybase.types import SignedInRequest


class ApprovalListView(generics.ListAPIView):
    serializer_class = ApprovalRequestSerializer
    filter_backends = []

    @extend_schema(parameters=[ApprovalFilterSerializer])
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = ApprovalFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        user = self.request.user
        requests_ = (
            selectors.awaiting_review_by(user) if data["awaiting_my_review"] else selectors.visible_requests(user)
        )
        if "status" in data:
            requests_ = requests_.filter(status=data["status"])
        if "datasource" in data:
            requests_ = requests_.filter(datasource_id=data["datasource"])
        if "requester" in data:
            requests_ = requests_.filter(requester__username=data["requester"])
        return requests_.prefetch_related("reviews").order_by("-created_at")


class ApprovalDetailView(APIView):
    @extend_schema(responses=ApprovalRequestDetailSerializer)
    def get(self, request: SignedInRequest, request_id: int) -> Response:
        return Response(ApprovalRequestDetailSerializer(selectors.get_request(request.user, request_id)).data)


class ApprovalReviewView(APIView):
    @extend_schema(request=ReviewInputSerializer, responses=ApprovalRequestDetailSerializer)
    def post(self, request: SignedInRequest, request_id: int) -> Response:
        payload = ReviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        approval = decisions.review_request(
            request.user,
            request_id,
            decision=payload.validated_data["decision"],
            comment=payload.validated_data["comment"],
            request=request,
        )
        return Response(ApprovalRequestDetailSerializer(approval).data)


class ApprovalCancelView(APIView):
    @extend_schema(request=None, responses=ApprovalRequestDetailSerializer)
    def post(self, request: SignedInRequest, request_id: int) -> Response:
        approval = decisions.cancel_request(request.user, request_id, request=request)
        return Response(ApprovalRequestDetailSerializer(approval).data)


class ApprovalDryRunView(APIView):
    @extend_schema(request=None, responses=ApprovalRequestDetailSerializer)
    def post(self, request: SignedInRequest, request_id: int) -> Response:
        approval = dry_runs.dry_run(request.user, request_id, request=request)
        return Response(ApprovalRequestDetailSerializer(approval).data)


class DataSourceApproversView(APIView):
    @extend_schema(responses=inline_serializer("Approvers", {"approvers": ApproverSerializer(many=True)}))
    def get(self, request: SignedInRequest, datasource_id: int) -> Response:
        sources = (
            DataSource.objects.all()
            if access.may_administer_sources(request.user)
            else datasources_visible_to(request.user)
        )
        datasource = sources.filter(pk=datasource_id).first()
        if datasource is None:
            raise DataSourceNotFound("No data source with this id, or you have no rights on it.")
        approvers = selectors.approvers_of(datasource)
        return Response({"approvers": ApproverSerializer(approvers, many=True).data})


class SandboxPromoteView(APIView):
    @extend_schema(request=PromoteInputSerializer, responses={201: ApprovalRequestDetailSerializer})
    def post(self, request: SignedInRequest, sandbox_id: int) -> Response:
        """Request the sandbox's writes, in order, on the real source: one approval request."""
        payload = PromoteInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        runs = payload.validated_data.get("runs")
        approval = promotion.promote(
            request.user,
            sandbox_id,
            run_ids=[str(run) for run in runs] if runs is not None else None,
            reason=payload.validated_data["reason"],
            request=request,
        )
        return Response(ApprovalRequestDetailSerializer(approval).data, status=status.HTTP_201_CREATED)
