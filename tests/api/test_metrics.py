"""GET /api/v1/metrics: Prometheus metrics for admins, moving as the product works."""

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from querybase.celery import app
from tests.support.factories import DEFAULT_PASSWORD, client_for, make_datasource, make_user, reader, source_from_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# What Prometheus itself sends.
PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1"


def scrape(client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/api/v1/metrics")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def submit(client, source, sql):
    response = client.post("/api/v1/queries", {"datasource": source.id, "sql": sql}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_only_admins_scrape(api_client, admin_user):
    anonymous = api_client.get("/api/v1/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"

    analyst = make_user("ana")
    forbidden = client_for(analyst).get("/api/v1/metrics")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "permission_denied"

    token = api_client.post(
        "/api/v1/auth/token", {"username": admin_user.username, "password": DEFAULT_PASSWORD}, format="json"
    ).json()["access"]
    with_jwt = api_client.get("/api/v1/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=PROMETHEUS_ACCEPT)
    assert with_jwt.status_code == 200
    assert with_jwt["Content-Type"].startswith("application/openmetrics-text")

    api_client.credentials()
    assert api_client.login(username=admin_user.username, password=DEFAULT_PASSWORD)
    with_session = api_client.get("/api/v1/metrics", HTTP_ACCEPT="text/plain")
    assert with_session.status_code == 200
    assert with_session["Content-Type"].startswith("text/plain; version=0.0.4")


def test_metrics_move_with_reads_and_cache_hits(admin_client, shop_sqlite_path, postgres_server):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    pg = source_from_server("pg", "postgresql", postgres_server)
    analyst = client_for(reader("ana", shop, pg))
    before = scrape(admin_client)

    first = submit(analyst, shop, "SELECT count(*) AS n FROM orders")
    again = submit(analyst, shop, "SELECT count(*) AS n FROM orders")
    assert (first["cached"], again["cached"]) == (False, True)
    submit(analyst, pg, "SELECT id FROM customers")
    after = scrape(admin_client)

    assert value(after, "querybase_query_runs", status="succeeded") == 3
    assert value(after, "querybase_query_runs", status="failed") == 0
    assert value(after, "querybase_approval_requests", status="pending") == 0

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("querybase_result_cache_lookups_total", outcome="hit") == 1
    assert moved("querybase_result_cache_lookups_total", outcome="miss") == 2
    submits = {"view": "api:query-submit", "method": "POST", "status": "200"}
    assert moved("querybase_http_request_duration_seconds_count", **submits) == 3
    assert moved("querybase_http_request_duration_seconds_bucket", le="+Inf", **submits) == 3
    scrapes = {"view": "api:metrics", "method": "GET", "status": "200"}
    assert value(after, "querybase_http_request_duration_seconds_count", **scrapes) >= 1

    pool = next(
        dict(labels)
        for name, labels in after
        if name == "querybase_postgresql_pool_max_connections"
        and dict(labels)["source"] == f"{postgres_server.host}:{postgres_server.port}/{postgres_server.database}"
    )
    assert pool["role"] == "read"
    assert value(after, "querybase_postgresql_pool_max_connections", **pool) == 4
    # The read gave its connection back: it is open and idle.
    assert value(after, "querybase_postgresql_pool_connections", state="idle", **pool) >= 1
    assert value(after, "querybase_postgresql_pool_connections", state="in_use", **pool) == 0


def test_queue_depth_counts_waiting_tasks(admin_client, settings):
    # A queue no worker consumes, so what is put there stays.
    queue = "metrics-test-unconsumed"
    settings.CELERY_TASK_ROUTES = {**settings.CELERY_TASK_ROUTES, "metrics-test.*": {"queue": queue}}
    before = scrape(admin_client)
    assert value(before, "querybase_celery_queue_depth", queue=queue) == 0
    for queue_name in ("queries", "notifications", "maintenance"):
        assert ("querybase_celery_queue_depth", frozenset({("queue", queue_name)})) in before
    try:
        app.send_task("metrics-test.nothing", queue=queue)
        app.send_task("metrics-test.nothing", queue=queue, priority=6)
        assert value(scrape(admin_client), "querybase_celery_queue_depth", queue=queue) == 2
    finally:
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        broker.delete(*broker.keys(f"{queue}*"))
