"""`querybase show REQUEST --follow` and `querybase run … --follow`: the installed console
script follows a request live (the server's event stream) while someone else decides it,
and exits with how it ended."""

import json

import pytest

from tests.support.factories import client_for

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
