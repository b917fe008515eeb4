"""Live events (`GET /api/v1/events`, Server-Sent Events): what happens to the user's
runs and requests as it happens, instead of polling.

    with qb.events.open() as events:   # listening from here on
        for event in events:
            print(event.kind, event.data)

A dropped connection is opened again with the last event's id (`Last-Event-ID`), so the
server replays what was missed while it was down (what it still keeps: the last 200 of
the past hour). Once it listens again, the stream yields a RECONNECTED event first: a
follower that must miss nothing looks at its object again then, as it did when it first
opened the stream.

A server may have no event stream to offer: the embedded default without Redis answers
503, an older server or a proxy that does not route the path 404, and a proxy in front
may be down. Opening then raises EventsUnavailable, so a caller can poll instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx

from querybase_client.errors import QueryBaseAPIError, QueryBaseConnectionError, QueryBaseError
from querybase_client.transport import Transport

# The server says something (an event or a keep-alive) every 15 s: a minute of silence
# means the connection is gone.
EVENTS_TIMEOUT = httpx.Timeout(10.0, read=60.0)
RECONNECT_PAUSE_SECONDS = 1.0
# Answers meaning "no event stream here", as opposed to "not you" (401, 403), which stay errors.
_NO_STREAM_STATUSES = frozenset({404, 405, 501, 502, 503, 504})


#: The kind of the event a stream yields when it listens again after a drop (not the server's).
RECONNECTED = "stream.reconnected"


class EventsUnavailable(QueryBaseError):
    """The server's event stream cannot be reached: follow by polling instead."""


@dataclass(frozen=True)
class LiveEvent:
    id: str
    kind: str
    data: dict[str, Any]


class EventStream:
    """An open event stream; iterate it for events (reconnecting as needed)."""

    def __init__(self, events: Events, last_event_id: str | None, *, give_up_after: float | None = None):
        self._events = events
        self.last_event_id = last_event_id
        self._give_up_after = give_up_after
        self._connection: AbstractContextManager[httpx.Response] | None = None
        self._messages: Iterator[_Message | None] | None = None
        #: Called whenever the stream says something, an event or a keep-alive (about
        #: every 15 s): a caller waiting for an event can look at its clock there.
        self.on_tick: Callable[[], None] | None = None

    def connect(self) -> None:
        """Open the stream and return once the server listens (its first message).
        EventsUnavailable if there is no stream to open."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        try:
            self._connection = self._events._transport.stream("GET", "/events", headers=headers, timeout=EVENTS_TIMEOUT)
            response = self._connection.__enter__()
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                self.close()
                raise EventsUnavailable(f"{response.request.url} is not an event stream")
            self._messages = _messages(response.iter_lines())
            next(self._messages)  # the server's first message ("retry: …") says it listens
        except QueryBaseAPIError as error:
            self.close()
            if error.status in _NO_STREAM_STATUSES:
                raise EventsUnavailable(f"No event stream: {error}") from error
            raise
        except (QueryBaseConnectionError, httpx.TransportError, StopIteration) as error:
            self.close()
            raise EventsUnavailable(f"The event stream could not be opened: {error}") from error

    def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # An already broken connection has nothing left to close.
            with suppress(QueryBaseConnectionError, httpx.TransportError):
                connection.__exit__(None, None, None)

    def __iter__(self) -> Iterator[LiveEvent]:
        while True:
            try:
                assert self._messages is not None
                for message in self._messages:
                    if self.on_tick is not None:
                        self.on_tick()
                    if message is None or not message.data:
                        continue  # a keep-alive, or a reconnect hint
                    self.last_event_id = message.id or self.last_event_id
                    yield LiveEvent(id=message.id, kind=message.event, data=json.loads(message.data))
            except (httpx.TransportError, QueryBaseConnectionError):
                pass
            # The server closed the stream or the network dropped it: resume after the
            # last event seen.
            self.close()
            self._reconnect()
            yield LiveEvent(id=self.last_event_id or "", kind=RECONNECTED, data={})

    def _reconnect(self) -> None:
        """Open the stream again, after a pause, until it opens; with `give_up_after`,
        EventsUnavailable once it has failed for that long."""
        started = time.monotonic()
        while True:
            time.sleep(RECONNECT_PAUSE_SECONDS)
            if self.on_tick is not None:
                self.on_tick()
            try:
                self.connect()
                return
            except EventsUnavailable:
                if self._give_up_after is not None and time.monotonic() - started >= self._give_up_after:
                    raise


class Events:
    def __init__(self, transport: Transport):
        self._transport = transport

    @contextmanager
    def open(self, last_event_id: str | None = None, *, give_up_after: float | None = None) -> Iterator[EventStream]:
        """The user's event stream, listening when this returns: whatever happens after
        it is in the stream. `last_event_id`: resume after that event. A dropped stream is
        reopened (with Last-Event-ID) for ever, or with `give_up_after` for that many
        seconds before iterating raises EventsUnavailable. Raises EventsUnavailable
        when the server has no event stream."""
        stream = EventStream(self, last_event_id, give_up_after=give_up_after)
        try:
            stream.connect()
            yield stream
        finally:
            stream.close()


@dataclass(frozen=True)
class _Message:
    id: str
    event: str
    data: str


def _messages(lines: Iterator[str]) -> Iterator[_Message | None]:
    """Server-Sent Events as the HTML standard parses them, from the body's lines: a
    message per blank line that ends one, None for a comment (the server's keep-alive)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data or fields:
                yield _Message(id=fields.get("id", ""), event=fields.get("event", "message"), data="\n".join(data))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            yield None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name in ("id", "event", "retry"):
            fields[name] = value
