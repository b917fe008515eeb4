"""Live events (`GET /api/v1/events`, Server-Sent Events): what happens to the user's
runs and requests as it happens, instead of polling.

    with qb.events.open() as events:   # listening from here on
        for event in events:
            print(event.kind, event.data)

A dropped connection is opened again with the last event's id (`Last-Event-ID`), so the
server replays what was missed while it was down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

from querybase_client.errors import QueryBaseConnectionError
from querybase_client.transport import Transport

# The server says something (an event or a keep-alive) every 15 s: a minute of silence
# means the connection is gone.
EVENTS_TIMEOUT = httpx.Timeout(10.0, read=60.0)
RECONNECT_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class LiveEvent:
    id: str
    kind: str
    data: dict[str, Any]


class EventStream:
    """An open event stream; iterate it for events (reconnecting as needed)."""

    def __init__(self, events: Events, last_event_id: str | None):
        self._events = events
        self.last_event_id = last_event_id
        self._connection: AbstractContextManager[httpx.Response] | None = None
        self._sse: Iterator[Any] | None = None

    def connect(self) -> None:
        """Open the stream and return once the server listens (its first message)."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        self._connection = self._events._transport.stream("GET", "/events", headers=headers, timeout=EVENTS_TIMEOUT)
        response = self._connection.__enter__()
        self._sse = EventSource(response).iter_sse()
        next(self._sse)  # the server's first message ("retry: …") says it listens

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.__exit__(None, None, None)

    def __iter__(self) -> Iterator[LiveEvent]:
        while True:
            try:
                assert self._sse is not None
                for message in self._sse:
                    if not message.data:
                        continue  # a reconnect hint, no event
                    self.last_event_id = message.id or self.last_event_id
                    yield LiveEvent(id=message.id, kind=message.event, data=json.loads(message.data))
            except (httpx.TransportError, QueryBaseConnectionError):
                pass
            # The server closed the stream or the network dropped it: resume after the
            # last event seen.
            self.close()
            time.sleep(RECONNECT_PAUSE_SECONDS)
            self._reconnect()

    def _reconnect(self) -> None:
        while True:
            try:
                self.connect()
                return
            except (httpx.TransportError, QueryBaseConnectionError, StopIteration):
                self.close()
                time.sleep(RECONNECT_PAUSE_SECONDS)


class Events:
    def __init__(self, transport: Transport):
        self._transport = transport

    @contextmanager
    def open(self, last_event_id: str | None = None) -> Iterator[EventStream]:
        """The user's event stream, listening when this returns: whatever happens after
        it is in the stream. `last_event_id`: resume after that event."""
        stream = EventStream(self, last_event_id)
        try:
            stream.connect()
            yield stream
        finally:
            stream.close()
