from typing import cast

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apps.datasources import access, credential_audit, services
from apps.datasources.access import datasources_visible_to
from apps.datasources.models import DataSource
from apps.datasources.serializers import (
    ConnectionTestSerializer,
    CredentialAuditSerializer,
    DataSourceSerializer,
    DataSourceSummarySerializer,
    PermissionSerializer,
    PermissionSetSerializer,
    TableSerializer,
)
from querybase.types import AnyUser, SignedInRequest, signed_in_user

PERMISSIONS_RESPONSE = inline_serializer("Permissions", {"permissions": PermissionSerializer(many=True)})


def is_datasource_admin(user: AnyUser) -> bool:
    """Administering sources is a Django model permission (superusers have it)."""
    return access.may_administer_sources(user)


class IsDataSourceAdmin(permissions.BasePermission):
    message = "Only data source administrators may do this."

    def has_permission(self, request: Request, view) -> bool:
        return is_datasource_admin(request.user)


class DataSourceViewSet(viewsets.ModelViewSet):
    """Admins manage sources; other users list the sources they have rights on."""

    filterset_fields = ["engine", "is_active"]

    def get_permissions(self):
        if self.action in {"list", "retrieve", "table_schema"}:
            return [permissions.IsAuthenticated()]
        return [permissions.IsAuthenticated(), IsDataSourceAdmin()]

    def get_queryset(self):
        if is_datasource_admin(self.request.user):
            return DataSource.objects.all()
        return datasources_visible_to(self.request.user)

    def get_serializer_class(self):
        if self.action in {"list", "retrieve"} and not is_datasource_admin(self.request.user):
            return DataSourceSummarySerializer
        return DataSourceSerializer

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.create_datasource(
            actor=signed_in_user(self.request), fields=serializer.validated_data, request=self.request
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.update_datasource(
            cast(DataSource, serializer.instance),
            actor=signed_in_user(self.request),
            fields=serializer.validated_data,
            request=self.request,
        )

    def perform_destroy(self, instance: DataSource) -> None:
        services.delete_datasource(instance, actor=signed_in_user(self.request), request=self.request)

    @extend_schema(request=None, responses=ConnectionTestSerializer)
    @action(detail=True, methods=["post"], url_path="test")
    def test_connection(self, request: SignedInRequest, pk=None) -> Response:
        check = credential_audit.test_and_audit(self.get_object(), actor=request.user, request=request)
        return Response(ConnectionTestSerializer(check.as_dict()).data)

    @extend_schema(responses=CredentialAuditSerializer)
    @action(detail=True, methods=["get"], url_path="credential-audit")
    def credential_audit(self, request: SignedInRequest, pk=None) -> Response:
        audit = credential_audit.audit_credentials(self.get_object(), actor=request.user, request=request)
        return Response(CredentialAuditSerializer(audit.as_dict()).data)

    @extend_schema(responses=inline_serializer("DataSourceSchema", {"tables": TableSerializer(many=True)}))
    @action(detail=True, methods=["get"], url_path="schema")
    def table_schema(self, request: SignedInRequest, pk=None) -> Response:
        tables = services.datasource_schema(self.get_object(), user=request.user)
        return Response({"tables": TableSerializer(tables, many=True).data})

    @extend_schema(methods=["GET"], responses=PERMISSIONS_RESPONSE)
    @extend_schema(methods=["PUT"], request=PermissionSetSerializer, responses=PERMISSIONS_RESPONSE)
    @action(detail=True, methods=["get", "put"], url_path="permissions")
    def group_permissions(self, request: SignedInRequest, pk=None) -> Response:
        datasource = self.get_object()
        if request.method == "PUT":
            payload = PermissionSetSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            rows = services.set_permissions(
                datasource, actor=request.user, grants=payload.validated_data["permissions"], request=request
            )
            return Response({"permissions": PermissionSerializer(rows, many=True).data}, status=status.HTTP_200_OK)
        rows = datasource.permissions.select_related("group")
        return Response({"permissions": PermissionSerializer(rows, many=True).data})
