from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.sandboxes import lifecycle, selectors
from apps.sandboxes.exceptions import SandboxNotFound
from apps.sandboxes.models import Sandbox
from apps.sandboxes.serializers import SandboxSerializer
from querybase.rate_limits import SandboxCopyRateLimit


class DataSourceSandboxView(APIView):
    throttle_classes = [SandboxCopyRateLimit]

    @extend_schema(request=None, responses={200: SandboxSerializer, 201: SandboxSerializer})
    def post(self, request: Request, datasource_id: int) -> Response:
        """The caller's sandbox on this source: theirs, a pooled copy, or one copied now."""
        sandbox, made = lifecycle.sandbox_for(request.user, datasource_id, request=request)
        return Response(SandboxSerializer(sandbox).data, status=status.HTTP_201_CREATED if made else status.HTTP_200_OK)


class SandboxListView(generics.ListAPIView):
    """The caller's sandboxes; an administrator sees every one."""

    serializer_class = SandboxSerializer
    filterset_fields = ["datasource", "state"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Sandbox.objects.none()
        return selectors.sandboxes_visible_to(self.request.user)


class SandboxDetailView(APIView):
    @extend_schema(responses=SandboxSerializer)
    def get(self, request: Request, sandbox_id: int) -> Response:
        sandbox = selectors.sandboxes_visible_to(request.user).filter(pk=sandbox_id).first()
        if sandbox is None:
            raise SandboxNotFound("No sandbox with this id.")
        return Response(SandboxSerializer(sandbox).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, sandbox_id: int) -> Response:
        lifecycle.delete_sandbox(request.user, sandbox_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SandboxResetView(APIView):
    throttle_classes = [SandboxCopyRateLimit]

    @extend_schema(request=None, responses=SandboxSerializer)
    def post(self, request: Request, sandbox_id: int) -> Response:
        return Response(SandboxSerializer(lifecycle.reset_sandbox(request.user, sandbox_id, request=request)).data)
