"""The embedded default has no Redis: live streams say so (503, a stable code) instead of
failing, while presence, rate limits and the login throttle keep their state in the process."""

import uuid

import pytest
from rest_framework.test import APIClient

from apps.accounts.throttling import LoginThrottle
from querybase.rate_limits import UserRateLimit
from querybase.redis_connection import shared_redis
from tests.support.factories import DEFAULT_PASSWORD, make_user

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


def test_failed_logins_are_throttled_in_the_process_without_redis(without_redis, settings, monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(LoginThrottle, "clock", staticmethod(lambda: now[0]))
    settings.QUERYBASE_LOGIN_FAILURES_PER_ACCOUNT = 2
    settings.QUERYBASE_LOGIN_FAILURES_PER_ADDRESS = 1000
    settings.QUERYBASE_LOGIN_LOCKOUT_SECONDS = 60
    # The process's logs outlive a test: a name of its own keeps this one apart.
    name = f"ana-{uuid.uuid4().hex[:8]}"
    make_user(name)
    client = APIClient()

    def login(password: str) -> int:
        return client.post("/api/v1/auth/token", {"username": name, "password": password}, format="json").status_code

    assert login(DEFAULT_PASSWORD) == 200  # a right password is no failure: it leaves no trace
    assert [login("wrong"), login("wrong"), login(DEFAULT_PASSWORD)] == [401, 401, 429]
    now[0] += 61
    assert login(DEFAULT_PASSWORD) == 200
