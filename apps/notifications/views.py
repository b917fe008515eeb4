from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.notifications import services
from apps.notifications.models import Notification
from apps.notifications.serializers import NotificationSerializer
from querybase.types import SignedInRequest, signed_in_user


class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Notification.objects.none()
        notifications = services.inbox(signed_in_user(self.request))
        if self.request.query_params.get("unread") in ("1", "true"):
            notifications = notifications.filter(read_at__isnull=True)
        return notifications


class UnreadCountView(APIView):
    @extend_schema(responses=inline_serializer("UnreadCount", {"unread": serializers.IntegerField()}))
    def get(self, request: SignedInRequest) -> Response:
        return Response({"unread": services.unread_count(request.user)})


class MarkReadView(APIView):
    @extend_schema(request=None, responses=NotificationSerializer)
    def post(self, request: SignedInRequest, notification_id: int) -> Response:
        return Response(NotificationSerializer(services.mark_read(request.user, notification_id)).data)


class MarkAllReadView(APIView):
    @extend_schema(request=None, responses=inline_serializer("MarkedRead", {"marked": serializers.IntegerField()}))
    def post(self, request: SignedInRequest) -> Response:
        return Response({"marked": services.mark_all_read(request.user)})
