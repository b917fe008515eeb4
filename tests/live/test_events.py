"""GET /api/v1/events: each user's live events, from the events process (the shipped
configuration's "events" role, uvicorn), as a browser or the CLI reads them."""

import asyncio
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import requests
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.services import issue_api_key
from apps.notifications.services import notify_in_app
from querybase.live_bus import open_streams, publish
from tests.support.approvals import ledger, settle
from tests.support.factories import client_for, reader, source_from_server
from tests.support.servers import shipped_server
from tests.support.sse import EventStream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def events_server(tmp_path_factory, django_db_setup, django_db_blocker):
    log = tmp_path_factory.mktemp("events") / "events.log"
    # Room for the 200 streams of one user below; the per-user cap has its own server.
    env = {"QUERYBASE_LIVE_RATE": "1000/min", "QUERYBASE_LIVE_MAX_STREAMS": "1000"}
    with shipped_server(log, role="events", env=env) as base:
        yield base


@pytest.fixture(scope="module")
def capped_events_server(tmp_path_factory, django_db_setup, django_db_blocker):
    log = tmp_path_factory.mktemp("capped") / "events.log"
    env = {"QUERYBASE_LIVE_RATE": "1000/min", "QUERYBASE_LIVE_MAX_STREAMS": "2"}
    with shipped_server(log, role="events", env=env) as base:
        yield base


def process_figures(base: str) -> list[tuple[int, int, str]]:
    """(pid, threads, resident memory) of the events process's master and worker."""
    port = base.rsplit(":", 1)[1]
    pids = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True).stdout.split()
    figures = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        figures.append((int(pid), int(fields["Threads"]), fields["VmRSS"].strip()))
    return figures


def stream_of(base: str, user) -> EventStream:
    key = issue_api_key(user, name=f"events-{user.pk}").secret
    return EventStream(f"{base}/api/v1/events", {"Authorization": f"Api-Key {key}"}).wait_ready()


def test_a_user_hears_of_their_notifications_and_nobody_else_does(events_server, shop):
    ana, bob = reader("ana", shop), reader("bob", shop)
    ana_stream, bob_stream = stream_of(events_server, ana), stream_of(events_server, bob)
    try:
        (note,) = notify_in_app([ana], event="test", title="for ana", link="/approvals/7")
        heard = ana_stream.until(lambda event: event.event == "notification")[0]
        assert heard.data == {"notification": note.pk, "event": "test", "link": "/approvals/7"}
        # Bob's stream was open all along; the first thing it carries is Bob's own event.
        publish([bob.pk], "test.marker", {"for": "bob"})
        assert bob_stream.next_event().data == {"for": "bob"}
    finally:
        ana_stream.close()
        bob_stream.close()


def run_statuses(stream: EventStream, run_id: str) -> list[str]:
    """The statuses the stream announces for `run_id`, up to its end; any other event on
    the stream before that fails the test (each of these tests' streams hears one run at a time)."""
    statuses: list[str] = []
    while not statuses or statuses[-1] not in ("succeeded", "failed", "cancelled"):
        event = stream.next_event()
        assert (event.event, event.data["run"]) == ("run.status", run_id), event
        statuses.append(event.data["status"])
    return statuses


@pytest.mark.usefixtures("celery_worker")
def test_a_user_hears_each_status_of_their_own_runs_and_nobody_else_does(events_server, shop, postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server)
    ana, bob = reader("ana", shop, pg), reader("bob", shop, pg)
    ana_stream, bob_stream = stream_of(events_server, ana), stream_of(events_server, bob)
    analyst = client_for(ana)

    def submit(source, sql: str, **extra) -> str:
        body = {"datasource": source.pk, "sql": sql, "max_age": 0, **extra}
        response = analyst.post("/api/v1/queries", body, format="json")
        assert response.status_code in (200, 202), response.content
        return response.json()["id"]

    try:
        # wait=0: a job for the worker, which claims it, runs it and finishes it.
        job = submit(shop, "SELECT count(*) FROM orders", wait=0)
        assert run_statuses(ana_stream, job) == ["queued", "running", "succeeded"]
        broken = submit(shop, "SELECT no_such_column FROM orders", wait=0)
        assert run_statuses(ana_stream, broken) == ["queued", "running", "failed"]
        # Read at once in the API process: made running, then finished.
        inline = submit(shop, "SELECT 42")
        assert run_statuses(ana_stream, inline) == ["running", "succeeded"]
        # A long read, cancelled while it runs: stopped in the database, and announced.
        long_read = submit(pg, "SELECT count(*) FROM generate_series(1, 2000000000)", wait=0)
        statuses = [ana_stream.next_event().data for _ in range(2)]
        assert statuses == [{"run": long_read, "status": "queued"}, {"run": long_read, "status": "running"}]
        cancelled = analyst.post(f"/api/v1/queries/{long_read}/cancel")
        assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
        assert run_statuses(ana_stream, long_read) == ["cancelled"]
        # Bob's stream was open all along; the first thing it carries is Bob's own event.
        publish([bob.pk], "test.marker", {"for": "bob"})
        assert bob_stream.next_event().data == {"for": "bob"}
    finally:
        ana_stream.close()
        bob_stream.close()


def test_last_event_id_resumes_after_a_reconnect(events_server, shop):
    ana = reader("ana", shop)
    stream = stream_of(events_server, ana)
    publish([ana.pk], "test.step", {"step": 1})
    first = stream.next_event()
    stream.close()
    publish([ana.pk], "test.step", {"step": 2})
    publish([ana.pk], "test.step", {"step": 3})
    key = issue_api_key(ana, name="again").secret
    resumed = EventStream(
        f"{events_server}/api/v1/events", {"Authorization": f"Api-Key {key}", "Last-Event-ID": first.id}
    ).wait_ready()
    try:
        assert [resumed.next_event().data["step"] for _ in range(2)] == [2, 3]
        publish([ana.pk], "test.step", {"step": 4})  # and then live again, nothing twice
        assert resumed.next_event().data["step"] == 4
    finally:
        resumed.close()


def test_a_user_holds_at_most_the_allowed_number_of_streams(capped_events_server, shop, settings):
    """Found by an outside attack: the rate bounded how fast streams were opened, not how
    many stayed open, and each holds Redis connections (two, measured): one user's script
    opening 120 a minute would have used up Redis's clients, and with them the broker and
    the cache, within the hour."""
    settings.QUERYBASE_LIVE_MAX_STREAMS = 2  # the server's, for this process's own checks
    ana, bob = reader("ana", shop), reader("bob", shop)
    url = f"{capped_events_server}/api/v1/events"
    first, second = stream_of(capped_events_server, ana), stream_of(capped_events_server, ana)
    try:
        key = issue_api_key(ana, name="third").secret
        third = requests.get(url, headers={"Authorization": f"Api-Key {key}"}, timeout=10)
        assert third.status_code == 429, third.text
        assert third.json()["error"]["code"] == "too_many_streams"
        bobs = stream_of(capped_events_server, bob)  # a limit per user, not for everyone
        bobs.close()
    finally:
        first.close()
        second.close()
    # Closed streams stop counting: the user may open streams again.
    deadline = time.monotonic() + 20
    while open_streams(ana.pk) and time.monotonic() < deadline:
        time.sleep(0.1)
    again = stream_of(capped_events_server, ana)
    again.close()


def test_streams_opened_at_the_same_moment_stay_within_the_limit(capped_events_server, shop, settings):
    settings.QUERYBASE_LIVE_MAX_STREAMS = 2
    ana = reader("ana", shop)
    key = issue_api_key(ana, name="burst").secret
    headers = {"Authorization": f"Api-Key {key}", "Accept": "text/event-stream"}

    async def burst() -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            contexts = [
                client.stream("GET", f"{capped_events_server}/api/v1/events", headers=headers) for _ in range(8)
            ]
            responses = await asyncio.gather(*(context.__aenter__() for context in contexts))
            try:
                await asyncio.sleep(1)  # every stream has listened, and those beyond the limit ended
                return await asyncio.to_thread(open_streams, ana.pk)
            finally:
                for context in contexts:
                    await context.__aexit__(None, None, None)
                assert len(responses) == 8

    # On a thread of its own: a browser test earlier in the session leaves Playwright's
    # event loop running on this one, where asyncio.run() refuses to start another.
    with ThreadPoolExecutor(max_workers=1) as thread:
        assert thread.submit(asyncio.run, burst()).result() <= 2


# Last-Event-IDs QueryBase never issued, that Redis refuses as a stream id. Found by an
# outside attack: the stream answered 200 and then broke off ("Invalid stream ID").
NOT_OUR_EVENT_IDS = [
    "99999999999999999999-0",
    "1-99999999999999999999",
    "18446744073709551615-18446744073709551615",
    "1_0-0",
]


@pytest.mark.parametrize("last_event_id", NOT_OUR_EVENT_IDS)
def test_a_last_event_id_we_never_issued_opens_a_live_stream(events_server, shop, last_event_id):
    ana = reader("ana", shop)
    key = issue_api_key(ana, name="odd id").secret
    headers = {"Authorization": f"Api-Key {key}", "Last-Event-ID": last_event_id}
    stream = EventStream(f"{events_server}/api/v1/events", headers).wait_ready()
    try:
        publish([ana.pk], "test.after", {"live": True})
        assert stream.next_event().data == {"live": True}
    finally:
        stream.close()


def test_the_stream_takes_jwt_sessions_and_api_keys_and_refuses_strangers(events_server, shop):
    ana = reader("ana", shop)
    url = f"{events_server}/api/v1/events"
    refused = requests.get(url, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    jwt = EventStream(url, {"Authorization": f"Bearer {AccessToken.for_user(ana)}"}).wait_ready()
    browser = Client()
    browser.force_login(ana)
    session = EventStream(url, cookies={"sessionid": browser.cookies["sessionid"].value}).wait_ready()
    try:
        publish([ana.pk], "test.hello", {"n": 1})
        assert jwt.next_event().data == {"n": 1}
        assert session.next_event().data == {"n": 1}
    finally:
        jwt.close()
        session.close()
    # The events process serves event streams only; the rest is the web server's.
    assert requests.get(f"{events_server}/api/v1/datasources", timeout=10).status_code == 404


@pytest.mark.usefixtures("celery_worker")
def test_an_approval_is_followed_live_by_requester_and_reviewers(events_server, team, postgres_server):
    analyst, approver = stream_of(events_server, team.analyst), stream_of(events_server, team.approver)
    outsider = stream_of(events_server, team.outsider)
    try:
        request_id = team.request_write("UPDATE ledger SET amount = 11 WHERE id = 1")["id"]
        created, _ = approver.until(lambda event: event.event == "approval.created")
        assert created.data == {"request": request_id, "status": "pending"}
        assert team.review(request_id, "approve").status_code == 200
        reviewed, _ = analyst.until(lambda event: event.event == "approval.reviewed")
        assert reviewed.data == {"request": request_id, "decision": "approve", "reviewer": team.approver.username}
        statuses = [analyst.until(lambda event: event.event == "approval.status")[0].data["status"] for _ in range(3)]
        assert statuses == ["approved", "executing", "succeeded"]
        assert settle(request_id).status == "succeeded"
        assert ledger(postgres_server, "SELECT amount FROM ledger WHERE id = 1") == (11,)
        publish([team.outsider.pk], "test.marker", {})
        assert outsider.next_event().event == "test.marker"  # heard nothing of the request
    finally:
        for stream in (analyst, approver, outsider):
            stream.close()


def test_200_open_streams_while_reads_are_answered(events_server, tmp_path, shop):
    """The events process holds 200 streams on one worker (an event loop, no thread each),
    delivers an event to all of them, and both servers go on answering meanwhile."""
    source = shop
    ana = reader("ana", source)
    key = issue_api_key(ana, name="many").secret
    headers = {"Authorization": f"Api-Key {key}", "Accept": "text/event-stream"}

    async def hold_streams(web: str) -> tuple:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            ready = 0
            opened: list = []

            async def open_one():
                nonlocal ready
                context = client.stream("GET", f"{events_server}/api/v1/events", headers=headers)
                response = await context.__aenter__()
                lines = response.aiter_lines()
                async for line in lines:
                    if line.startswith("retry:"):
                        ready += 1
                        break
                opened.append((context, lines))
                return lines

            streams = await asyncio.gather(*(open_one() for _ in range(200)))
            # With all 200 open: a read on the web server, and the events process's health.
            read = await client.post(
                f"{web}/api/v1/queries",
                json={"datasource": source.pk, "sql": "SELECT 42"},
                headers={"Authorization": f"Api-Key {key}"},
            )
            health = await client.get(f"{events_server}/health")
            await asyncio.to_thread(publish, [ana.pk], "test.broadcast", {"to": "all"})

            async def received(lines) -> bool:
                async for line in lines:  # the read's own run.status events come first
                    if line.startswith("data:") and '"to":"all"' in line:
                        return True
                return False

            delivered = sum(await asyncio.wait_for(asyncio.gather(*(received(lines) for lines in streams)), 60))
            figures = await asyncio.to_thread(process_figures, events_server)
            print(f"events process with 200 streams open (pid, threads, rss): {figures}")
            for context, _ in opened:
                await context.__aexit__(None, None, None)
            return ready, read.status_code, health.status_code, delivered, figures

    with shipped_server(tmp_path / "web.log") as web:
        # A thread of its own: Playwright's sync API, if a browser test ran before in this
        # session, leaves an event loop running in this one.
        with ThreadPoolExecutor(max_workers=1) as thread:
            outcome = thread.submit(asyncio.run, hold_streams(web)).result()
        ready, read_status, health_status, delivered, figures = outcome
    assert (ready, read_status, health_status, delivered) == (200, 200, 200, 200)
    # No thread per stream: the worker runs them all on its event loop.
    assert max(threads for _, threads, _ in figures) < 20
