"""`querybase show REQUEST --follow` and `querybase run … --follow`: the installed console
script follows a request live (the server's event stream) while someone else decides it,
and exits with how it ended; and a read's run through each of its statuses, resuming the
stream with Last-Event-ID after a drop, or polling where no event stream is reachable."""

import json
import re
import sqlite3
import subprocess

import pytest

from apps.queries.models import QueryRun
from tests.clients.conftest import Cli
from tests.support.factories import client_for
from tests.support.relay import relay_to

pytestmark = pytest.mark.django_db(transaction=True)

DELETE_ONE = "DELETE FROM order_items WHERE order_id = 3"


def request_write(world) -> int:
    response = client_for(world.analyst).post(
        "/api/v1/queries", {"datasource": world.source.pk, "sql": DELETE_ONE, "reason": "test order"}, format="json"
    )
    return response.json()["approval"]["id"]


def approve(world, request_id: int) -> None:
    response = client_for(world.approver).post(
        f"/api/v1/approvals/{request_id}/review", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 200, response.content


def test_show_follow_prints_each_change_until_the_request_is_settled(cli, shop_world):
    cli.login("ana")
    request_id = request_write(shop_world)
    follower = cli.start("show", str(request_id), "--follow", "--json")
    try:
        first = json.loads(follower.stdout.readline())  # printed once it listens
        assert (first["id"], first["status"]) == (request_id, "pending")
        approve(shop_world, request_id)
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    statuses = [first["status"], *(json.loads(line)["status"] for line in out.splitlines())]
    assert follower.returncode == 0, err
    assert statuses[-1] == "succeeded"
    assert statuses[1] in ("approved", "executing", "succeeded") and "pending" not in statuses[1:]


def test_run_follow_creates_the_request_and_follows_it_to_its_rejection(cli, shop_world):
    cli.login("ana")
    follower = cli.start("run", "Shop", DELETE_ONE, "--reason", "test order", "--follow")
    try:
        # The CLI says which request the write became, then waits for its decision.
        created = next(line for line in follower.stderr if "approval request #" in line)
        request_id = int(created.split("#")[1].split()[0])
        rejected = client_for(shop_world.approver).post(
            f"/api/v1/approvals/{request_id}/review", {"decision": "reject", "comment": "no"}, format="json"
        )
        assert rejected.status_code == 200, rejected.content
        out, err = follower.communicate(timeout=60)
    finally:
        follower.kill()
    assert f"Request #{request_id} is rejected (0/1)." in out
    assert follower.returncode == 1, err  # rejected: the documented "error" status


COUNT_ORDERS = "SELECT count(*) AS orders FROM orders"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
STATUS_LINE = re.compile(r"^Run ([0-9a-f-]+) is (\w+)\.$")


def orders_in(world) -> int:
    with sqlite3.connect(world.path) as connection:
        return connection.execute(COUNT_ORDERS).fetchone()[0]


def statuses_printed(stderr: str) -> list[str]:
    return [match.group(2) for line in stderr.splitlines() if (match := STATUS_LINE.match(line.strip()))]


def next_status(process: subprocess.Popen) -> str:
    for line in process.stderr:
        match = STATUS_LINE.match(line.strip())
        if match:
            return match.group(2)
    raise AssertionError(f"the CLI ended without another status: {process.wait()}")


def test_run_follow_prints_each_status_of_a_job_from_the_event_stream(cli, shop_world):
    cli.login("ana")
    # wait=0: the server hands the read to a worker at once; its every status is an event.
    result = cli("run", "Shop", COUNT_ORDERS, "--wait", "0", "--follow", "--format", "json")
    assert result.code == 0, result.stderr
    assert result.json()["result"]["rows"] == [[orders_in(shop_world)]]
    # Polling would see "queued", then the end (a poll waits for it): only the event stream
    # tells "running", and it was listening before the read was sent.
    assert statuses_printed(result.stderr) == ["queued", "running", "succeeded"]


def test_run_follow_resumes_with_last_event_id_after_the_stream_drops(cli, shop_world):
    with relay_to(cli.url) as relay:
        through_relay = Cli(cli.config_dir, relay.url)
        through_relay.login("ana")
        follower = through_relay.start("run", "Shop", ENDLESS, "--wait", "0", "--follow")
        try:
            assert [next_status(follower), next_status(follower)] == ["queued", "running"]
            relay.drop()  # the network goes away under the open stream
            # Meanwhile the run ends (its owner cancels it elsewhere): the follower cannot hear it.
            run = QueryRun.objects.get()
            cancelled = client_for(shop_world.analyst).post(f"/api/v1/queries/{run.pk}/cancel")
            assert cancelled.json()["status"] == "cancelled", cancelled.content
            relay.restore()
            _, err = follower.communicate(timeout=90)
        finally:
            follower.kill()
        sent = relay.sent()
    assert follower.returncode == 7, err  # the query failed: cancelled, the documented status
    assert f"Run {run.pk} is cancelled." in err
    # It came back on the event stream, saying which event it had seen last.
    reopened = [request for request in sent.split("GET /api/v1/events")[1:] if "last-event-id:" in request.lower()]
    assert reopened, sent


def test_run_follow_polls_where_no_event_stream_is_reachable(cli, shop_world):
    # A proxy in front that does not route /api/v1/events answers 404 for it.
    with relay_to(cli.url, not_found=("GET /api/v1/events",)) as relay:
        through_relay = Cli(cli.config_dir, relay.url)
        through_relay.login("ana")
        result = through_relay("run", "Shop", COUNT_ORDERS, "--wait", "0", "--follow", "--format", "json")
        sent = relay.sent()
    assert result.code == 0, result.stderr
    assert result.json()["status"] == "succeeded"
    assert statuses_printed(result.stderr) == ["queued", "succeeded"]
    assert "GET /api/v1/events" in sent  # tried first
    assert re.search(r"GET /api/v1/queries/[0-9a-f-]+\?wait=", sent)  # then polled


def test_show_follow_looks_again_where_no_event_stream_is_reachable(cli, shop_world):
    request_id = request_write(shop_world)
    # A proxy in front that does not route /api/v1/events answers 404 for it.
    with relay_to(cli.url, not_found=("GET /api/v1/events",)) as relay:
        through_relay = Cli(cli.config_dir, relay.url)
        through_relay.login("ana")
        follower = through_relay.start("show", str(request_id), "--follow", "--json")
        try:
            first = json.loads(follower.stdout.readline())
            approve(shop_world, request_id)
            out, err = follower.communicate(timeout=60)
        finally:
            follower.kill()
        sent = relay.sent()
    statuses = [first["status"], *(json.loads(line)["status"] for line in out.splitlines())]
    assert follower.returncode == 0, err
    assert statuses[0] == "pending" and statuses[-1] == "succeeded"
    assert "GET /api/v1/events" in sent  # tried first
    assert sent.count(f"GET /api/v1/approvals/{request_id} ") >= 2  # then looked again
