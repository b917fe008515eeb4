from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from apps.accounts import services
from apps.accounts.authentication import ApiKeyAuthentication
from apps.accounts.forms import LoginForm
from apps.accounts.models import ApiKey
from apps.accounts.selectors import user_profile
from apps.accounts.serializers import ApiKeySerializer, IssuedApiKeySerializer, ProfileSerializer
from apps.accounts.throttling import refusal_of
from querybase.errors import NotAllowed
from querybase.types import SignedInRequest, signed_in_user


class MeView(APIView):
    @extend_schema(responses=ProfileSerializer)
    def get(self, request: SignedInRequest) -> Response:
        return Response(ProfileSerializer(user_profile(request.user)).data)


class AuditedTokenObtainPairView(TokenObtainPairView):
    """JWT obtain: the same as simplejwt's, with the login (or its failure) audited."""

    def post(self, request: Request, *args, **kwargs) -> Response:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except exceptions.AuthenticationFailed:
            refusal = refusal_of(request)
            if refusal is not None:
                # 429 with Retry-After: the throttle refused it before the password was checked.
                raise refusal from None
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
        if isinstance(request.successful_authenticator, ApiKeyAuthentication):
            # A stolen key must end with its revocation: keys it could make would outlive it.
            raise NotAllowed("An API key cannot make API keys: sign in with your password to make one.")
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
    """The dashboard login page, saying so (429) when the throttle refused the login
    (apps/accounts/backends.py) rather than the password being wrong, and answering 400 to
    a username or password beyond its bound (apps/accounts/login_limits.py)."""

    authentication_form = LoginForm

    def form_invalid(self, form) -> HttpResponse:
        if form.is_overlong():
            said = " ".join(form.errors.get("username", []) + form.errors.get("password", []))
            return self.render_to_response(self.get_context_data(form=form, overlong=said), status=400)
        refusal = refusal_of(self.request)
        if refusal is None:
            return super().form_invalid(form)
        response = self.render_to_response(self.get_context_data(form=form, throttled=refusal.message), status=429)
        response["Retry-After"] = str(refusal.retry_after)
        return response
