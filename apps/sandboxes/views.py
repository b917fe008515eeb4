from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.datasources.serializers import TableSerializer
from apps.queries.responses import answered_at_once
from apps.queries.serializers import QueryRunSerializer
from apps.sandboxes import indexes, lifecycle, selectors, uploads
from apps.sandboxes.exceptions import SandboxNotFound, UploadTooLarge
from apps.sandboxes.models import Sandbox
from apps.sandboxes.serializers import IndexInputSerializer, SandboxSerializer
from querybase.errors import InvalidInput
from querybase.rate_limits import SandboxCopyRateLimit
from querybase.types import SignedInRequest


class DataSourceSandboxView(APIView):
    throttle_classes = [SandboxCopyRateLimit]

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "background",
                bool,
                description="Copy in a worker: answer at once with the sandbox `creating`, then follow it "
                "with GET /sandboxes/{id} (its `progress` says what is being done).",
            )
        ],
        responses={200: SandboxSerializer, 201: SandboxSerializer},
    )
    def post(self, request: SignedInRequest, datasource_id: int) -> Response:
        """The caller's sandbox on this source: theirs, a pooled copy, or one copied now."""
        background = str(request.query_params.get("background", "")).lower() in ("1", "true")
        sandbox, made = lifecycle.sandbox_for(request.user, datasource_id, request=request, background=background)
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
    def get(self, request: SignedInRequest, sandbox_id: int) -> Response:
        sandbox = selectors.sandboxes_visible_to(request.user).filter(pk=sandbox_id).first()
        if sandbox is None:
            raise SandboxNotFound("No sandbox with this id.")
        return Response(SandboxSerializer(sandbox).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: SignedInRequest, sandbox_id: int) -> Response:
        lifecycle.delete_sandbox(request.user, sandbox_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SandboxResetView(APIView):
    throttle_classes = [SandboxCopyRateLimit]

    @extend_schema(request=None, responses=SandboxSerializer)
    def post(self, request: SignedInRequest, sandbox_id: int) -> Response:
        return Response(SandboxSerializer(lifecycle.reset_sandbox(request.user, sandbox_id, request=request)).data)


class SandboxSchemaView(APIView):
    @extend_schema(responses=inline_serializer("SandboxSchema", {"tables": TableSerializer(many=True)}))
    def get(self, request: SignedInRequest, sandbox_id: int) -> Response:
        """The copy's tables, columns and indexes (its owner's changes included)."""
        token = str(request.query_params.get("share_token", ""))[:64]
        tables = indexes.sandbox_schema(request.user, sandbox_id, share_token=token)
        return Response({"tables": TableSerializer(tables, many=True).data})


class SandboxIndexView(APIView):
    @extend_schema(request=IndexInputSerializer, responses={200: QueryRunSerializer})
    def post(self, request: SignedInRequest, sandbox_id: int) -> Response:
        """ "+ index": CREATE INDEX in the caller's sandbox, built from checked names; a run like any other."""
        payload = IndexInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        outcome = indexes.create_index(request.user, sandbox_id, **payload.validated_data, request=request)
        return Response(answered_at_once(outcome.run, outcome.result, request))


def _upload(request: Request):
    """The uploaded file and its size; a body far above the bound is refused before it is read."""
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES + 65536:
        raise UploadTooLarge(
            f"The file is larger than {settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES} bytes.",
            details={"max_bytes": settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES},
        )
    file = request.FILES.get("file")
    if file is None:
        raise InvalidInput("Send the CSV as the multipart field `file`.", details={"file": ["Required."]})
    return file


UPLOAD_REQUEST = {
    "multipart/form-data": {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}, "table": {"type": "string"}},
        "required": ["file"],
    }
}


class SandboxUploadPreviewView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request=UPLOAD_REQUEST, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: SignedInRequest, sandbox_id: int) -> Response:
        """The columns and types a CSV would make, its first rows, and the lines it would leave out."""
        file = _upload(request)
        return Response(uploads.preview_upload(request.user, sandbox_id, file, file.size))


class SandboxUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request=UPLOAD_REQUEST, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: SignedInRequest, sandbox_id: int) -> Response:
        """A CSV into the caller's sandbox as the new table `table`."""
        file = _upload(request)
        table = str(request.POST.get("table", ""))[:200]
        summary = uploads.import_upload(request.user, sandbox_id, file, file.size, table=table, request=request)
        return Response(summary, status=status.HTTP_201_CREATED)
