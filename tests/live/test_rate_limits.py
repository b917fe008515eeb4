"""Per-user rate limits, per kind of endpoint, counted atomically in Redis.

DRF's cache throttle read, decided and wrote back in three steps, so concurrent requests
all saw the same history: a burst got far more than the limit through. Here 200 requests
sent at once to the shipped server (threads answering in parallel) against 120/min let
exactly 120 through.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from apps.accounts.services import issue_api_key
from querybase.rate_limits import UserRateLimit
from querybase.redis_connection import shared_redis
from tests.support.factories import client_for, reader
from tests.support.servers import shipped_server

pytestmark = pytest.mark.django_db(transaction=True)


def analyze(client, source):
    return client.post("/api/v1/queries/analyze", {"datasource": source.pk, "sql": "SELECT 1"}, format="json")


def test_200_concurrent_requests_against_120_per_minute_let_120_through(tmp_path, shop):
    source = shop
    key = issue_api_key(reader("ana", source), name="burst").secret
    env = {"QUERYBASE_ANALYZE_RATE": "120/min", "QUERYBASE_WEB_WORKERS": "2", "QUERYBASE_WEB_THREADS": "16"}
    with shipped_server(tmp_path / "web.log", env=env) as base:
        session = requests.Session()
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        start = threading.Barrier(64)

        def one(index: int) -> int:
            if index < 64:
                start.wait()  # the first wave leaves together
            response = session.post(
                f"{base}/api/v1/queries/analyze",
                json={"datasource": source.pk, "sql": "SELECT 1"},
                headers={"Authorization": f"Api-Key {key}"},
                timeout=60,
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=64) as pool:
            statuses = list(pool.map(one, range(200)))
        assert sorted(set(statuses)) == [200, 429]
        assert statuses.count(200) == 120
        # The limit is the user's: another user still gets in.
        other = issue_api_key(reader("bob", source), name="other").secret
        response = session.post(
            f"{base}/api/v1/queries/analyze",
            json={"datasource": source.pk, "sql": "SELECT 1"},
            headers={"Authorization": f"Api-Key {other}"},
            timeout=30,
        )
        assert response.status_code == 200


def test_the_window_slides_and_kinds_are_counted_apart(settings, monkeypatch, shop):
    now = [1_000_000.0]
    monkeypatch.setattr(UserRateLimit, "clock", staticmethod(lambda: now[0]))
    settings.QUERYBASE_ANALYZE_RATE = "3/min"
    source = shop
    client = client_for(reader("ana", source))
    for _ in range(3):  # at 0 s, 20 s and 40 s
        assert analyze(client, source).status_code == 200
        now[0] += 20
    now[0] -= 10  # 50 s
    refused = analyze(client, source)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) == 10  # when the first of the three leaves the window
    # Submissions are another kind of endpoint, with their own count.
    submitted = client.post("/api/v1/queries", {"datasource": source.pk, "sql": "SELECT 1"}, format="json")
    assert submitted.status_code == 200
    # The window slides: at 61 s one request has left it, so exactly one more gets in.
    now[0] += 11
    assert analyze(client, source).status_code == 200
    assert analyze(client, source).status_code == 429


def test_the_limit_holds_when_redis_has_forgotten_its_script(settings, shop):
    """The decision runs by the script's SHA-1 (EVALSHA); a Redis that lost its scripts (a
    restart, SCRIPT FLUSH) is sent the script again, and still counts."""
    settings.QUERYBASE_ANALYZE_RATE = "2/min"
    client = client_for(reader("ana", shop))
    assert analyze(client, shop).status_code == 200
    shared_redis().script_flush()
    assert [analyze(client, shop).status_code for _ in range(2)] == [200, 429]
