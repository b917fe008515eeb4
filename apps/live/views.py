"""GET /api/v1/events (the caller's live events, as Server-Sent Events) and a request's
presence (who has its page open)."""

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, closing

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.approvals import selectors
from apps.live import presence
from apps.live.credentials import StreamCredentials, release_database_connections
from apps.live.exceptions import LiveUpdatesUnavailable, TooManyStreams
from querybase import live_bus as bus
from querybase.rate_limits import LiveRateLimit
from querybase.redis_connection import redis_enabled
from querybase.types import SignedInRequest

# The first thing a stream says, once it listens: how long a browser waits before reconnecting.
_PREAMBLE = b"retry: 3000\n: live\n\n"
_KEEPALIVE = b": keep-alive\n\n"


class _EventStreamNegotiation(BaseContentNegotiation):
    """EventSource asks for text/event-stream, which no renderer makes: the stream is the
    view's own response, and errors are JSON whatever was asked."""

    def select_parser(self, request: Request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _sync_stream(credentials: StreamCredentials, last_event_id: str | None) -> Iterator[bytes]:
    preamble = _PREAMBLE  # sent once the bus listens, so a client that has it misses nothing
    with closing(bus.events_for(credentials.user_id, last_event_id)) as events:
        for event in events:
            # Before each event or keep-alive: a stream lasts as long as its page, and
            # its credentials may stop being good meanwhile (apps/live/credentials.py).
            if not preamble and not credentials.still_valid():
                return
            yield (preamble or _KEEPALIVE) if event is None else event.as_sse()
            preamble = b""


async def _async_stream(credentials: StreamCredentials, last_event_id: str | None) -> AsyncIterator[bytes]:
    preamble = _PREAMBLE
    async with aclosing(bus.aevents_for(credentials.user_id, last_event_id)) as events:
        async for event in events:
            # As above, on the one thread the events process keeps for Django's synchronous parts.
            if not preamble and not await sync_to_async(credentials.still_valid)():
                return
            yield (preamble or _KEEPALIVE) if event is None else event.as_sse()
            preamble = b""


class EventStreamView(APIView):
    content_negotiation_class = _EventStreamNegotiation
    throttle_classes = [LiveRateLimit]

    @extend_schema(
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
        description=(
            "The caller's live events as Server-Sent Events: `run.status`, `approval.created`, "
            "`approval.status`, `approval.reviewed`, `notification`, `presence`. Each has an id; "
            "send it back as `Last-Event-ID` to resume after a reconnect."
        ),
    )
    def get(self, request: SignedInRequest) -> StreamingHttpResponse:
        if not redis_enabled():
            raise LiveUpdatesUnavailable("Live updates need Redis (REDIS_URL); reload to see changes.")
        last_event_id = bus.valid_event_id(request.headers.get("Last-Event-ID"))
        credentials = StreamCredentials.of(request)
        if bus.open_streams(credentials.user_id) >= settings.QUERYBASE_LIVE_MAX_STREAMS:
            raise TooManyStreams(
                f"You have {settings.QUERYBASE_LIVE_MAX_STREAMS} live update streams open already "
                "(one per open page): close one, or reload a page that stopped updating."
            )
        # Served by an ASGI server (the events process), the stream is a coroutine on the
        # event loop; by a threaded one, it holds its thread.
        if isinstance(request._request, ASGIRequest):
            content: Iterator[bytes] | AsyncIterator[bytes] = _async_stream(credentials, last_event_id)
        else:
            content = _sync_stream(credentials, last_event_id)
        release_database_connections()
        response = StreamingHttpResponse(content, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response


VIEWERS = inline_serializer(
    "Presence",
    {
        "request": serializers.IntegerField(),
        "viewers": inline_serializer(
            "Viewer",
            {
                "id": serializers.IntegerField(),
                "username": serializers.CharField(),
                "activity": serializers.ChoiceField(choices=["reviewing", "viewing"]),
            },
            many=True,
        ),
    },
)


class PresenceView(APIView):
    """Who has this request's page open. POST while the page is open (at least once a
    minute), DELETE when it closes."""

    def get_throttles(self):
        return [LiveRateLimit()] if self.request.method != "GET" else []

    @extend_schema(request=None, responses=VIEWERS)
    def get(self, request: SignedInRequest, request_id: int) -> Response:
        approval = selectors.get_request(request.user, request_id)
        return Response({"request": approval.pk, "viewers": presence.current_viewers(approval)})

    @extend_schema(request=None, responses=VIEWERS)
    def post(self, request: SignedInRequest, request_id: int) -> Response:
        approval = selectors.get_request(request.user, request_id)
        return Response({"request": approval.pk, "viewers": presence.heartbeat(approval, request.user)})

    # 200 with the viewers left, not the 204 drf-spectacular assumes of a DELETE.
    @extend_schema(request=None, responses={200: VIEWERS})
    def delete(self, request: SignedInRequest, request_id: int) -> Response:
        approval = selectors.get_request(request.user, request_id)
        return Response({"request": approval.pk, "viewers": presence.leave(approval, request.user)})
