"""Share: a saved query can point at its owner's sandbox; those it is shared with (by
group or by link) who may read the source run it there, read-only."""

import json
import re

import pytest
from django.test import Client

from tests.support.factories import client_for, grant, make_group, make_user, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

READ = "SELECT name FROM customers WHERE id = 1"


def run(client, source, sandbox_id, sql, **extra):
    return client.post(
        "/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql, **extra}, format="json"
    )


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_query_shared_in_my_sandbox_is_read_there_by_my_team_and_never_written(engine, request):
    source = sandbox_source(engine, request)
    before = source_checksum(source)
    team = make_group("team")
    ada = reader("ada", source)
    ada.groups.add(team)
    ben = make_user("ben", groups=(team,))
    grant(team, source, read=True)
    cy = reader("cy", source)  # may read the source, but nothing is shared with cy

    owner = client_for(ada)
    sandbox_id = owner.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert (
        run(owner, source, sandbox_id, "UPDATE customers SET name = 'only in the sandbox' WHERE id = 1").status_code
        == 200
    )
    saved = owner.post(
        "/api/v1/saved-queries",
        {
            "name": "renamed",
            "datasource": source.pk,
            "sandbox": sandbox_id,
            "sql": READ,
            "shared_with_groups": [team.pk],
        },
        format="json",
    )
    assert saved.status_code == 201, saved.content
    assert saved.json()["sandbox"] == sandbox_id

    teammate = client_for(ben)
    read = run(teammate, source, sandbox_id, READ)
    assert read.status_code == 200, read.content
    assert read.json()["result"]["rows"] == [["only in the sandbox"]]
    assert read.json()["sandbox"] == sandbox_id

    for write in ("UPDATE customers SET name = 'ben was here' WHERE id = 1", "DROP TABLE orders"):
        refused = run(teammate, source, sandbox_id, write)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_sandbox_owner"
    # A write hidden behind a read-looking call is no read either: the wall holds.
    assert run(teammate, source, sandbox_id, "SELECT 1; DELETE FROM orders").status_code == 403
    assert run(owner, source, sandbox_id, READ).json()["result"]["rows"] == [["only in the sandbox"]]
    assert run(owner, source, sandbox_id, "SELECT count(*) FROM orders").json()["result"]["rows"][0][0] > 0

    # Nothing is shared with cy: the sandbox is as unknown to them as a random id.
    stranger = run(client_for(cy), source, sandbox_id, READ)
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "sandbox_not_found"
    assert source_checksum(source) == before


def test_a_share_link_lets_a_reader_of_the_source_read_the_sandbox(request):
    source = sandbox_source("sqlite", request)
    ada, dan = reader("ada", source), reader("dan", source)
    outsider = make_user("eve")
    owner = client_for(ada)
    sandbox_id = owner.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    run(owner, source, sandbox_id, "UPDATE customers SET name = 'linked' WHERE id = 1")
    saved_id = owner.post(
        "/api/v1/saved-queries",
        {"name": "q", "datasource": source.pk, "sandbox": sandbox_id, "sql": READ},
        format="json",
    ).json()["id"]
    link = owner.post(f"/api/v1/saved-queries/{saved_id}/share-link").json()["share_url"]
    token = link.rstrip("/").rsplit("/", 1)[-1]

    # Without the link (or with a wrong one) the sandbox is as unknown to dan as a random id.
    assert run(client_for(dan), source, sandbox_id, READ).status_code == 404
    assert run(client_for(dan), source, sandbox_id, READ, share_token="wrong").status_code == 404
    with_link = run(client_for(dan), source, sandbox_id, READ, share_token=token)
    assert with_link.status_code == 200 and with_link.json()["result"]["rows"] == [["linked"]]
    # The link does not give the source itself to someone who may not read it.
    assert run(client_for(outsider), source, sandbox_id, READ, share_token=token).status_code in (403, 404)

    # Opened in the workspace, the query says where it runs.
    browser = Client()
    browser.force_login(dan)
    page = browser.get(f"/?shared={token}").content.decode()
    initial = json.loads(re.search(r'<script id="initial-data" type="application/json">(.*?)</script>', page).group(1))
    assert initial["sandbox"] == {"id": sandbox_id, "owner": "ada", "mine": False, "share_token": token}


def test_a_saved_query_points_only_at_its_owners_own_sandbox(request):
    source = sandbox_source("sqlite", request)
    ada, ben = reader("ada", source), reader("ben", source)
    bens = client_for(ben).post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    refused = client_for(ada).post(
        "/api/v1/saved-queries", {"name": "q", "datasource": source.pk, "sandbox": bens, "sql": READ}, format="json"
    )
    assert refused.status_code == 400 and "sandbox" in refused.json()["error"]["details"]
