"""A saved query keeps the chart the workspace draws of its result: its kind, the column along
x and the columns plotted; anything else is refused with the usual 400."""

import pytest

from apps.queries.models import SavedQuery
from tests.support.factories import client_for, make_datasource, reader

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def test_a_chart_is_saved_with_the_query_changed_and_removed(shop):
    client = client_for(reader("ana", shop))
    chart = {"type": "line", "x": "ordered_at", "y": ["total", "items"]}
    created = client.post(
        "/api/v1/saved-queries",
        {"name": "Sales", "datasource": shop.id, "sql": "SELECT ordered_at, total FROM orders", "chart": chart},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["chart"] == chart
    assert SavedQuery.objects.get().chart == chart

    saved_id = created.json()["id"]
    pie = {"type": "pie", "x": "status", "y": ["total"]}
    assert client.patch(f"/api/v1/saved-queries/{saved_id}", {"chart": pie}, format="json").json()["chart"] == pie
    assert client.patch(f"/api/v1/saved-queries/{saved_id}", {"chart": None}, format="json").json()["chart"] is None
    plain = client.post(
        "/api/v1/saved-queries", {"name": "No chart", "datasource": shop.id, "sql": "SELECT 1"}, format="json"
    )
    assert plain.json()["chart"] is None


@pytest.mark.parametrize(
    "chart",
    [
        {"type": "radar", "x": "a", "y": ["b"]},
        {"type": "bar", "x": "a", "y": []},
        {"type": "bar", "x": "a", "y": ["b"] * 6},
        {"type": "bar", "y": ["b"]},
        {"type": "bar", "x": "a", "y": "b"},
        "bar",
    ],
)
def test_a_chart_that_is_not_one_is_refused(shop, chart):
    client = client_for(reader("ana", shop))
    answer = client.post(
        "/api/v1/saved-queries",
        {"name": "Bad", "datasource": shop.id, "sql": "SELECT 1", "chart": chart},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert "chart" in answer.json()["error"]["details"]
    assert not SavedQuery.objects.exists()


@pytest.mark.parametrize("chart", [{}, {"type": "bar"}, {"x": "a", "y": ["b"]}, {"a": {"b": 1}}])
def test_a_chart_changed_by_patch_is_still_a_whole_one(shop, chart):
    """PATCH is partial for the saved query's fields, not inside its chart. A chart missing
    its parts was stored, and every list of saved queries holding it then failed with a
    500, the lists of the groups it was shared with too."""
    client = client_for(reader("ana", shop))
    saved = client.post(
        "/api/v1/saved-queries", {"name": "Sales", "datasource": shop.id, "sql": "SELECT 1"}, format="json"
    ).json()
    answer = client.patch(f"/api/v1/saved-queries/{saved['id']}", {"chart": chart}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert "chart" in answer.json()["error"]["details"]
    assert SavedQuery.objects.get().chart is None
    assert client.get("/api/v1/saved-queries").status_code == 200
