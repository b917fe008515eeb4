"""Invariant: no one sees what is not theirs, and that holds for as long as a live event
stream stays open, not only when it opens (apps/live/credentials.py).

Found by an attack on the events process: a stream opened with a JWT went on delivering
the user's events after the user was deactivated and after a password change that made
the same token refused (401) on every new request; it would have gone on for as long as
the page stayed open. Each case below opens a stream, takes its credentials away the way
an admin or the user would, and publishes an event: the stream must end without it.
"""

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.services import issue_api_key, revoke_api_key
from querybase.live_bus import publish
from tests.support.factories import make_user
from tests.support.servers import shipped_server
from tests.support.sse import EventStream

pytestmark = pytest.mark.django_db(transaction=True)

# Longer than the stream's keep-alive (querybase/live_bus.py): a stream that is still
# open this long after the marker would have stayed open.
ENDS_WITHIN_SECONDS = 20


@pytest.fixture(scope="module")
def events_server(tmp_path_factory, django_db_setup, django_db_blocker):
    log = tmp_path_factory.mktemp("events") / "events.log"
    with shipped_server(log, role="events", env={"QUERYBASE_LIVE_RATE": "1000/min"}) as base:
        yield base


def events_until_it_ends(stream: EventStream) -> list[str]:
    """The kinds of the events the stream still delivers, until the server ends it."""
    deadline = time.monotonic() + ENDS_WITHIN_SECONDS
    kinds = []
    for line in stream.lines:  # a keep-alive comment at least every 15 seconds
        if line.startswith("event:"):
            kinds.append(line.partition(":")[2].strip())
        if time.monotonic() > deadline:
            raise AssertionError(f"the stream is still open; it delivered {kinds}")
    return kinds


def api_key_stream(base: str, user) -> tuple[EventStream, Callable[[], None]]:
    issued = issue_api_key(user, name="stream")
    stream = EventStream(f"{base}/api/v1/events", {"Authorization": f"Api-Key {issued.secret}"})
    return stream, lambda: revoke_api_key(user, api_key_id=issued.api_key.pk)


def jwt_stream(base: str, user, lifetime: timedelta = timedelta(minutes=5)) -> EventStream:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=lifetime)
    return EventStream(f"{base}/api/v1/events", {"Authorization": f"Bearer {token}"})


def session_stream(base: str, user) -> tuple[EventStream, Client]:
    browser = Client()
    browser.force_login(user)
    return EventStream(f"{base}/api/v1/events", cookies={"sessionid": browser.cookies["sessionid"].value}), browser


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def change_password(user) -> None:
    user.set_password("an-entirely-new-password-1")
    user.save()


def opened_then_taken_away(base: str, user, case: str) -> EventStream:
    """Open a stream as `user` the way `case` says, then take its credentials away."""
    if case == "API key revoked":
        stream, revoke = api_key_stream(base, user)
        stream.wait_ready()
        revoke()
    elif case == "user deactivated":
        stream = api_key_stream(base, user)[0].wait_ready()
        deactivate(user)
    elif case == "password changed":
        stream = jwt_stream(base, user).wait_ready()
        change_password(user)
    elif case == "token expired":
        stream = jwt_stream(base, user, lifetime=timedelta(seconds=2)).wait_ready()
        time.sleep(3)
    elif case == "signed out":
        stream, browser = session_stream(base, user)
        stream.wait_ready()
        browser.logout()
    elif case == "session user deactivated":
        stream = session_stream(base, user)[0].wait_ready()
        deactivate(user)
    else:
        raise ValueError(case)
    return stream


CASES = [
    "API key revoked",
    "user deactivated",
    "password changed",
    "token expired",
    "signed out",
    "session user deactivated",
]


@pytest.mark.parametrize("case", CASES)
def test_an_open_stream_ends_once_its_credentials_would_be_refused(events_server, case):
    ana = make_user("ana")
    stream = opened_then_taken_away(events_server, ana, case)
    try:
        publish([ana.pk], "test.after", {"seen": "by nobody"})
        delivered = events_until_it_ends(stream)
    finally:
        stream.close()

    assert "test.after" not in delivered


def test_a_stream_whose_credentials_still_hold_goes_on(events_server):
    ana, bob = make_user("ana"), make_user("bob")
    stream = api_key_stream(events_server, ana)[0].wait_ready()
    try:
        deactivate(bob)  # someone else's rights change; ana's stream is not theirs
        publish([ana.pk], "test.after", {"seen": "by ana"})
        assert stream.next_event().data == {"seen": "by ana"}
    finally:
        stream.close()
