"""Large results come back in pages: POST /api/v1/queries answers with the first page and a
link to the next, GET /api/v1/queries/{id}/results?page=N reads the rest, and the pages
together are the whole result, in order. Stored results are pruned after their retention
or beyond the store's size bound."""

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone

from apps.queries.models import QueryRun, ResultPage, StoredResult
from apps.queries.result_store import prune_stored_results
from tests.support.factories import client_for, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

ROWS = 25_000
POSTGRES_ROWS = f"SELECT g AS n, 'row ' || g AS label, g % 3 = 0 AS third FROM generate_series(1, {ROWS}) g ORDER BY g"
MARIADB_ROWS = f"SELECT seq AS n, CONCAT('row ', seq) AS label FROM seq_1_to_{ROWS} ORDER BY seq"


def submit(client, source, sql, **extra):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": sql, "wait": 60, **extra}, format="json")


def every_page(client, first: dict) -> list[dict]:
    """Follow `next` from the first page to the last, as a client would."""
    pages = [first]
    while pages[-1]["next"]:
        response = client.get(pages[-1]["next"])
        assert response.status_code == 200, response.content
        pages.append(response.json())
    return pages


@pytest.fixture
def pg(postgres_server):
    return source_from_server("pg", "postgresql", postgres_server, max_rows=100_000)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_large_result_comes_back_in_pages_that_add_up_to_every_row_in_order(engine, request):
    server = request.getfixturevalue("postgres_server" if engine == "postgresql" else "mysql_server")
    source = source_from_server(engine, engine, server, max_rows=100_000)
    client = client_for(reader("ana", source))
    response = submit(client, source, POSTGRES_ROWS if engine == "postgresql" else MARIADB_ROWS)
    assert response.status_code == 200, response.content
    body = response.json()
    first = body["result"]
    assert body["row_count"] == ROWS
    assert first["row_count"] == ROWS
    assert first["page"] == 1
    assert first["previous"] is None
    assert 1 < len(first["rows"]) < ROWS, "the answer holds one page, not the whole result"
    pages = every_page(client, first)
    assert len(pages) == first["page_count"]
    assert [page["page"] for page in pages] == list(range(1, len(pages) + 1))
    rows = [row for page in pages for row in page["rows"]]
    assert [row[0] for row in rows] == list(range(1, ROWS + 1))
    assert rows[41] == ([42, "row 42", True] if engine == "postgresql" else [42, "row 42"])
    assert pages[-1]["next"] is None
    assert pages[-1]["columns"] == first["columns"]
    # Polling the run gives the same first page.
    again = client.get(f"/api/v1/queries/{body['id']}").json()["result"]
    assert again["rows"] == first["rows"] and again["next"] == first["next"]


def test_a_cached_answer_pages_through_the_result_it_came_from(pg):
    client = client_for(reader("ana", pg))
    first = submit(client, pg, POSTGRES_ROWS).json()
    hit = submit(client, pg, POSTGRES_ROWS).json()
    assert hit["cached"] is True
    assert hit["id"] != first["id"]
    assert hit["result"]["rows"] == first["result"]["rows"]
    assert f"/api/v1/queries/{hit['id']}/results?page=2" in hit["result"]["next"]
    rows = [row for page in every_page(client, hit["result"]) for row in page["rows"]]
    assert len(rows) == ROWS and rows[-1][0] == ROWS


def test_a_small_result_is_one_page(pg):
    body = submit(client_for(reader("ana", pg)), pg, "SELECT 1 AS one").json()
    assert body["result"]["rows"] == [[1]]
    assert (body["result"]["page"], body["result"]["page_count"]) == (1, 1)
    assert body["result"]["next"] is None and body["result"]["previous"] is None


def test_a_result_cut_at_the_row_cap_is_paged_and_says_so(postgres_server):
    pg = source_from_server("pg", "postgresql", postgres_server, max_rows=2500)
    client = client_for(reader("ana", pg))
    first = submit(client, pg, POSTGRES_ROWS).json()["result"]
    assert first["truncated"] is True and first["row_count"] == 2500
    rows = [row for page in every_page(client, first) for row in page["rows"]]
    assert [row[0] for row in rows] == list(range(1, 2501))


def test_pages_refuse_what_they_should(pg):
    ana = client_for(reader("ana", pg))
    run_id = submit(ana, pg, POSTGRES_ROWS).json()["id"]
    page_count = ana.get(f"/api/v1/queries/{run_id}/results").json()["page_count"]
    beyond = ana.get(f"/api/v1/queries/{run_id}/results?page={page_count + 1}")
    assert beyond.status_code == 404 and beyond.json()["error"]["code"] == "not_found"
    for bad in ("0", "-1", "two", "1.5"):
        refused = ana.get(f"/api/v1/queries/{run_id}/results?page={bad}")
        assert refused.status_code == 400, bad
        assert refused.json()["error"]["code"] == "invalid_request"
    # Another reader of the same source sees nobody else's run.
    assert client_for(reader("bob", pg)).get(f"/api/v1/queries/{run_id}/results").status_code == 404


def test_a_reader_whose_right_was_revoked_sees_no_page(pg):
    ana = reader("ana", pg)
    client = client_for(ana)
    run_id = submit(client, pg, POSTGRES_ROWS).json()["id"]
    ana.groups.clear()
    response = client.get(f"/api/v1/queries/{run_id}/results?page=2")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "result_not_visible"


def test_stored_results_are_pruned_after_their_retention(pg, settings):
    client = client_for(reader("ana", pg))
    run_id = submit(client, pg, POSTGRES_ROWS).json()["id"]
    assert ResultPage.objects.filter(result_id=run_id).count() > 1
    assert prune_stored_results() == 0
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.QUERYBASE_RESULT_RETENTION_SECONDS + 60)):
        assert prune_stored_results() == 1
    assert not StoredResult.objects.filter(run_id=run_id).exists()
    assert not ResultPage.objects.filter(result_id=run_id).exists()
    gone = client.get(f"/api/v1/queries/{run_id}/results?page=2")
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "result_expired"
    polled = client.get(f"/api/v1/queries/{run_id}").json()
    assert polled["result"] is None and polled["error"]["code"] == "result_expired"


def test_the_oldest_stored_results_go_first_beyond_the_size_bound(pg):
    client = client_for(reader("ana", pg))
    older = submit(client, pg, POSTGRES_ROWS).json()["id"]
    newer = submit(client, pg, POSTGRES_ROWS + " /* again */").json()["id"]
    size = StoredResult.objects.get(run_id=newer).size_bytes
    assert size > 0
    with override_settings(QUERYBASE_RESULT_STORE_MAX_BYTES=size + size // 2):
        assert prune_stored_results() == 1
    assert list(StoredResult.objects.values_list("run_id", flat=True)) == [QueryRun.objects.get(pk=newer).pk]
    assert client.get(f"/api/v1/queries/{older}/results").status_code == 410
    assert client.get(f"/api/v1/queries/{newer}/results?page=2").status_code == 200
