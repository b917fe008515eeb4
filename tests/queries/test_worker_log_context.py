"""A read handed to the worker is logged there with the id of the API request that
queued it, the user who sent it and its run."""

import pytest
from django.conf import settings

from tests.support.factories import client_for, make_datasource, reader
from tests.support.logs import wait_for_json_line

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_the_worker_logs_a_queued_read_with_the_request_id_that_queued_it(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    analyst = reader("ana", shop)
    client = client_for(analyst)
    response = client.post(
        "/api/v1/queries",
        {"datasource": shop.id, "sql": "SELECT count(*) FROM orders", "wait": 0},
        format="json",
        HTTP_X_REQUEST_ID="req-to-the-worker-42",
    )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert client.get(f"/api/v1/queries/{run_id}?wait=10").json()["status"] == "succeeded"

    log = settings.DATA_DIR / "celery-worker.log"
    finished = wait_for_json_line(
        log, lambda line: line.get("run_id") == run_id and line["event"] == "query run finished"
    )
    assert finished["request_id"] == "req-to-the-worker-42"
    assert (finished["user_id"], finished["username"]) == (analyst.pk, "ana")
    assert finished["task"] == "queries.execute_read"
    # Celery's own line about the task, in the same format and context.
    traced = wait_for_json_line(log, lambda line: line["logger"] == "celery.app.trace" and line.get("run_id") == run_id)
    assert traced["request_id"] == "req-to-the-worker-42"
    assert "succeeded" in traced["event"]
