"""Who has a request's page open: heartbeats keep a viewer listed for about a minute,
leaving or silence drops them, and everyone still viewing hears of each change."""

import pytest

from apps.live import presence
from querybase.live_bus import publish
from tests.support.factories import client_for
from tests.support.sse import EventStream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def clock(monkeypatch):
    now = [2_000_000_000.0]
    monkeypatch.setattr(presence, "clock", lambda: now[0])
    return now


def viewers(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.content
    return [(viewer["username"], viewer["activity"]) for viewer in response.json()["viewers"]]


def test_a_reviewer_on_the_page_shows_as_reviewing_until_they_leave(team, clock):
    request_id = team.request_write("UPDATE ledger SET amount = 1 WHERE id = 1")["id"]
    url = f"/api/v1/approvals/{request_id}/presence"
    analyst, approver = client_for(team.analyst), client_for(team.approver)

    assert viewers(analyst.post(url)) == [(team.analyst.username, "viewing")]
    assert viewers(approver.post(url)) == [(team.analyst.username, "viewing"), (team.approver.username, "reviewing")]
    assert viewers(analyst.get(url)) == [(team.analyst.username, "viewing"), (team.approver.username, "reviewing")]
    assert viewers(approver.delete(url)) == [(team.analyst.username, "viewing")]
    assert viewers(analyst.get(url)) == [(team.analyst.username, "viewing")]


def test_a_page_that_stops_sending_heartbeats_drops_out_after_a_minute(team, clock):
    request_id = team.request_write("UPDATE ledger SET amount = 1 WHERE id = 1")["id"]
    url = f"/api/v1/approvals/{request_id}/presence"
    analyst, approver = client_for(team.analyst), client_for(team.approver)
    approver.post(url)
    clock[0] += 40
    analyst.post(url)
    assert [name for name, _ in viewers(analyst.get(url))] == [team.analyst.username, team.approver.username]
    clock[0] += 21  # 61 s after the approver's last heartbeat, 21 s after the analyst's
    assert viewers(analyst.get(url)) == [(team.analyst.username, "viewing")]


def test_viewers_hear_who_comes_and_goes_and_strangers_see_nothing(team, live_server):
    request_id = team.request_write("UPDATE ledger SET amount = 1 WHERE id = 1")["id"]
    url = f"/api/v1/approvals/{request_id}/presence"
    analyst = client_for(team.analyst)
    analyst.post(url)
    browser = client_for(team.analyst)
    browser.force_login(team.analyst)
    stream = EventStream(
        f"{live_server.url}/api/v1/events", cookies={"sessionid": browser.cookies["sessionid"].value}
    ).wait_ready()
    try:
        client_for(team.approver).post(url)
        arrived = stream.until(lambda event: event.event == "presence")[0]
        assert arrived.data["request"] == request_id
        assert [viewer["username"] for viewer in arrived.data["viewers"]] == [
            team.analyst.username,
            team.approver.username,
        ]
        client_for(team.approver).delete(url)
        left = stream.until(lambda event: event.event == "presence")[0]
        assert [viewer["username"] for viewer in left.data["viewers"]] == [team.analyst.username]
    finally:
        stream.close()
    # Someone who may not see the request may neither announce themselves nor look.
    outsider = client_for(team.outsider)
    assert outsider.post(url).status_code == 404
    assert outsider.get(url).status_code == 404
    assert [name for name, _ in viewers(analyst.get(url))] == [team.analyst.username]


def test_a_viewer_who_may_no_longer_see_the_request_neither_hears_nor_is_listed(team, live_server):
    request_id = team.request_write("UPDATE ledger SET amount = 1 WHERE id = 1")["id"]
    url = f"/api/v1/approvals/{request_id}/presence"
    demoted = client_for(team.approver)
    assert demoted.post(url).status_code == 200
    demoted.force_login(team.approver)
    stream = EventStream(
        f"{live_server.url}/api/v1/events", cookies={"sessionid": demoted.cookies["sessionid"].value}
    ).wait_ready()
    try:
        # Taken out of the approvers while the request's page is still open (listed for a
        # minute after the last heartbeat).
        team.approver.groups.clear()
        arrived = viewers(client_for(team.second_approver).post(url))
        publish([team.approver.pk], "test.marker", {})
        assert stream.next_event().event == "test.marker"  # heard nothing of the request
    finally:
        stream.close()

    assert arrived == [(team.second_approver.username, "reviewing")]
    assert viewers(client_for(team.analyst).get(url)) == [(team.second_approver.username, "reviewing")]
