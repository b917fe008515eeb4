from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from apps.accounts import services
from apps.accounts.exceptions import LoginThrottled
from apps.accounts.models import ApiKey
from apps.accounts.selectors import user_profile
from apps.accounts.serializers import ApiKeySerializer, IssuedApiKeySerializer, ProfileSerializer
from apps.accounts.throttling import LoginThrottle
from apps.audit.services import client_ip
from querybase.types import SignedInRequest, signed_in_user


class MeView(APIView):
    @extend_schema(responses=ProfileSerializer)
    def get(self, request: SignedInRequest) -> Response:
        return Response(ProfileSerializer(user_profile(request.user)).data)


class AuditedTokenObtainPairView(TokenObtainPairView):
    """JWT obtain: the same as simplejwt's, with the login (or its failure) audited."""

    def post(self, request: Request, *args, **kwargs) -> Response:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        # 429 with Retry-After while the account or this address is locked out.
        LoginThrottle.from_settings().check(str(username) if username else None, client_ip(request))
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except exceptions.AuthenticationFailed:
            services.record_failed_login(str(username or ""), request=request, method="jwt")
            raise
        services.record_login(serializer.user, request=request, method="jwt")  # type: ignore[attr-defined]
        return Response(serializer.validated_data, status=status.HTTP_200_OK)


class ApiKeyListCreateView(generics.ListCreateAPIView):
    serializer_class = ApiKeySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ApiKey.objects.none()
        return ApiKey.objects.filter(user=signed_in_user(self.request))

    @extend_schema(request=ApiKeySerializer, responses={201: IssuedApiKeySerializer})
    def post(self, request: Request, *args, **kwargs) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.issue_api_key(
            signed_in_user(request), name=serializer.validated_data["name"], request=request
        )
        body = {**ApiKeySerializer(issued.api_key).data, "key": issued.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: SignedInRequest, api_key_id: int) -> Response:
        services.revoke_api_key(request.user, api_key_id=api_key_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ThrottledLoginView(LoginView):
    """The dashboard login page, saying so (429) while the account or address is locked out."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            LoginThrottle.from_settings().check(request.POST.get("username") or None, client_ip(request))
        except LoginThrottled as throttled:
            context = self.get_context_data(form=self.get_form(), throttled=throttled.message)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(throttled.retry_after)
            return response
        return super().post(request, *args, **kwargs)
