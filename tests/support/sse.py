"""Reading a Server-Sent Events stream in a test, as a client would."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests


@dataclass
class Event:
    id: str
    event: str
    data: dict


class EventStream:
    """GET /api/v1/events held open; `ready` once the server says it listens."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, *, cookies: dict | None = None):
        self.response = requests.get(
            url,
            headers={"Accept": "text/event-stream", **(headers or {})},
            cookies=cookies,
            stream=True,
            timeout=(5, 40),
        )
        # Byte by byte: a server without chunked encoding (Django's test server) sends a
        # body that only ends with the connection, and a bigger read would wait to fill up.
        self.lines = self.response.iter_lines(chunk_size=1, decode_unicode=True)
        self.ready = False

    def wait_ready(self) -> "EventStream":
        assert self.response.status_code == 200, self.response.text
        for line in self.lines:
            if line.startswith("retry:"):
                self.ready = True
                return self
        raise AssertionError("the stream ended before it was ready")

    def next_event(self, timeout: float = 30) -> Event:
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        for line in self.lines:
            if time.monotonic() > deadline:
                break
            if line == "":
                if "data" in fields:
                    return Event(fields.get("id", ""), fields.get("event", "message"), json.loads(fields["data"]))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("no event within the time allowed")

    def until(self, matches: Callable[[Event], bool], timeout: float = 30) -> tuple[Event, list[Event]]:
        """The first event that `matches`, and every event before it."""
        deadline = time.monotonic() + timeout
        before: list[Event] = []
        while True:
            event = self.next_event(max(deadline - time.monotonic(), 0.1))
            if matches(event):
                return event, before
            before.append(event)

    def close(self) -> None:
        self.response.close()
