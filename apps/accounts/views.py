from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from apps.accounts import services
from apps.accounts.models import ApiKey
from apps.accounts.selectors import user_profile
from apps.accounts.serializers import ApiKeySerializer, IssuedApiKeySerializer, ProfileSerializer


class MeView(APIView):
    @extend_schema(responses=ProfileSerializer)
    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(user_profile(request.user)).data)


class AuditedTokenObtainPairView(TokenObtainPairView):
    """JWT obtain: the same as simplejwt's, with the login (or its failure) audited."""

    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except exceptions.AuthenticationFailed:
            username = request.data.get("username") if hasattr(request.data, "get") else ""
            services.record_failed_login(str(username or ""), request=request, method="jwt")
            raise
        services.record_login(serializer.user, request=request, method="jwt")
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class ApiKeyListCreateView(generics.ListCreateAPIView):
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        return ApiKey.objects.filter(user=self.request.user)

    @extend_schema(request=ApiKeySerializer, responses={201: IssuedApiKeySerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.issue_api_key(request.user, name=serializer.validated_data["name"], request=request)
        body = {**ApiKeySerializer(issued.api_key).data, "key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, api_key_id: int) -> Response:
        services.revoke_api_key(request.user, api_key_id=api_key_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
