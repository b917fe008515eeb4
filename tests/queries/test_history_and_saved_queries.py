"""History of runs, and saved queries shared with groups or by link."""

import pytest

from apps.queries.models import QueryRun
from tests.support.factories import client_for, make_datasource, make_group, make_user, reader

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def make_run(user, source, sql="SELECT 1", status="succeeded", **fields):
    return QueryRun.objects.create(user=user, datasource=source, sql=sql, sql_sha256="0" * 64, status=status, **fields)


def test_history_lists_own_runs_newest_first_with_filters_and_pages(shop):
    other_source = make_datasource("hr", database="/tmp/hr.sqlite3")
    ana, bob = reader("ana", shop, other_source), reader("bob", shop)
    first = make_run(ana, shop, "SELECT 1")
    make_run(ana, other_source, "SELECT 2", status="failed", error_code="query_failed")
    make_run(bob, shop, "SELECT 3")
    client = client_for(ana)
    listing = client.get("/api/v1/queries/history").json()
    assert listing["count"] == 2
    assert [row["sql"] for row in listing["results"]] == ["SELECT 2", "SELECT 1"]
    assert client.get(f"/api/v1/queries/history?datasource={shop.id}").json()["results"][0]["id"] == str(first.id)
    assert client.get("/api/v1/queries/history?status=failed").json()["count"] == 1
    after = first.created_at.isoformat().replace("+00:00", "Z")
    assert client.get("/api/v1/queries/history", {"created_after": after}).json()["count"] == 2
    assert client.get("/api/v1/queries/history", {"created_before": after}).json()["count"] == 0
    for _ in range(55):
        make_run(ana, shop)
    page_two = client.get("/api/v1/queries/history?page=2").json()
    assert len(page_two["results"]) == 7
    bad = client.get("/api/v1/queries/history?status=exploded")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_request"


def test_saved_query_lifecycle_and_group_sharing(shop):
    team = make_group("team")
    ana = reader("ana", shop)
    ana.groups.add(team)
    colleague = reader("col", shop)
    colleague.groups.add(team)
    # In the group, but may not read the source: sharing gives the text only to its readers.
    teammate_without_rights = make_user("nor", groups=(team,))
    outsider = reader("out", shop)
    client = client_for(ana)

    created = client.post(
        "/api/v1/saved-queries",
        {
            "name": "Top customers",
            "datasource": shop.id,
            "sql": "SELECT * FROM customers LIMIT $1",
            "default_params": [10],
            "shared_with_groups": [team.id],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    saved_id = created.json()["id"]
    assert client_for(colleague).get(f"/api/v1/saved-queries/{saved_id}").json()["name"] == "Top customers"
    assert client_for(outsider).get(f"/api/v1/saved-queries/{saved_id}").status_code == 404
    assert client_for(teammate_without_rights).get(f"/api/v1/saved-queries/{saved_id}").status_code == 404
    assert client_for(teammate_without_rights).get("/api/v1/saved-queries").json()["results"] == []
    # Shared with them, but not theirs to change.
    assert (
        client_for(colleague).patch(f"/api/v1/saved-queries/{saved_id}", {"name": "x"}, format="json").status_code
        == 403
    )

    renamed = client.patch(f"/api/v1/saved-queries/{saved_id}", {"name": "Best customers"}, format="json")
    assert renamed.json()["name"] == "Best customers"
    assert (
        client.post(
            "/api/v1/saved-queries", {"name": "Best customers", "datasource": shop.id, "sql": "SELECT 1"}, format="json"
        ).status_code
        == 400
    )
    assert client.delete(f"/api/v1/saved-queries/{saved_id}").status_code == 204
    assert client.get(f"/api/v1/saved-queries/{saved_id}").status_code == 404


def test_share_link_is_unguessable_and_revocable(shop):
    ana = reader("ana", shop)
    client = client_for(ana)
    saved_id = client.post(
        "/api/v1/saved-queries", {"name": "q", "datasource": shop.id, "sql": "SELECT 1"}, format="json"
    ).json()["id"]
    link = client.post(f"/api/v1/saved-queries/{saved_id}/share-link").json()["share_url"]
    assert len(link.rsplit("/", 1)[1]) >= 32
    someone = client_for(reader("someone", shop))
    assert someone.get(link).json()["sql"] == "SELECT 1"
    assert someone.get(link).json()["share_url"] is None
    # The link gives the text only to who may read the source; anyone else learns which source.
    not_reading = client_for(make_user("nora")).get(link)
    assert not_reading.status_code == 403
    assert not_reading.json()["error"]["code"] == "shared_query_not_readable"
    assert "SELECT" not in not_reading.content.decode()
    client.delete(f"/api/v1/saved-queries/{saved_id}/share-link")
    assert someone.get(link).status_code == 404


def test_cannot_save_for_a_source_without_rights_or_share_with_foreign_groups(shop):
    hidden = make_datasource("hidden", database="/tmp/hidden.sqlite3")
    foreign = make_group("foreign")
    client = client_for(reader("ana", shop))
    no_rights = client.post(
        "/api/v1/saved-queries", {"name": "q", "datasource": hidden.id, "sql": "SELECT 1"}, format="json"
    )
    assert no_rights.status_code == 400
    foreign_group = client.post(
        "/api/v1/saved-queries",
        {"name": "q", "datasource": shop.id, "sql": "SELECT 1", "shared_with_groups": [foreign.id]},
        format="json",
    )
    assert foreign_group.status_code == 400
