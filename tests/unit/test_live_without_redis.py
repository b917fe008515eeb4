"""The embedded default has no Redis: live streams say so (503, a stable code) instead of
failing, while presence and rate limits keep their state in the process."""

import pytest
from rest_framework.test import APIClient

from querybase.rate_limits import UserRateLimit
from querybase.redis_connection import shared_redis
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def without_redis(settings):
    """As on the embedded default, also when the suite runs with Redis: no URL, and no
    client kept from before (nor one made here kept for the tests after)."""
    settings.REDIS_URL = ""
    shared_redis.cache_clear()
    yield
    shared_redis.cache_clear()


def test_the_event_stream_answers_503_without_redis(without_redis):
    client = APIClient()
    client.force_authenticate(make_user("ana"))
    response = client.get("/api/v1/events", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "live_updates_unavailable"


def test_rate_limits_slide_in_the_process_without_redis(without_redis, settings, monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(UserRateLimit, "clock", staticmethod(lambda: now[0]))
    settings.QUERYBASE_ANALYZE_RATE = "2/min"
    client = APIClient()
    client.force_authenticate(make_user("ana"))

    def analyze() -> int:
        return client.post("/api/v1/queries/analyze", {"datasource": 999, "sql": "SELECT 1"}, format="json").status_code

    assert [analyze(), analyze(), analyze()] == [404, 404, 429]  # counted before the source is looked up
    now[0] += 61
    assert analyze() == 404
