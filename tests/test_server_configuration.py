"""How a server is configured: Redis databases kept apart, and half a configuration refused.

Settings are read once per process, so the variants run `manage.py` in a subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from querybase.celery import app

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "DJANGO_SECRET_KEY": "test-secret-key-not-for-production",
    "QUERYBASE_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}


def manage(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "QUERYBASE_CACHE_URL", "DJANGO_"))
    }
    env.update(SECRETS)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_database_without_redis_is_refused_at_start():
    completed = manage({"DATABASE_URL": os.environ["DATABASE_URL"]}, "check")
    assert completed.returncode != 0
    assert "DATABASE_URL is set but REDIS_URL is not" in completed.stderr
    assert "set REDIS_URL" in completed.stderr


def test_the_same_configuration_with_redis_starts():
    completed = manage({"DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}, "check")
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize(
    ("environment", "broker", "cache_location"),
    [
        ({"REDIS_URL": "redis://cache.example:6379/0"}, "redis://cache.example:6379/0", "redis://cache.example:6379/1"),
        ({"REDIS_URL": "redis://cache.example:6379"}, "redis://cache.example:6379", "redis://cache.example:6379/1"),
        (
            {"REDIS_URL": "redis://cache.example:6379/15"},
            "redis://cache.example:6379/15",
            "redis://cache.example:6379/14",
        ),
        (
            {"REDIS_URL": "unix:///run/redis.sock?db=2&timeout=5"},
            "unix:///run/redis.sock?db=2&timeout=5",
            "unix:///run/redis.sock?timeout=5&db=3",
        ),
        (
            {"REDIS_URL": "redis://cache.example:6379/3", "QUERYBASE_CACHE_URL": "redis://other:6379/3"},
            "redis://cache.example:6379/3",
            "redis://other:6379/3",
        ),
    ],
)
def test_broker_and_cache_get_their_own_redis_databases(environment, broker, cache_location):
    show = "from django.conf import settings as s; print(s.CELERY_BROKER_URL); print(s.CACHES['default']['LOCATION'])"
    completed = manage({"DATABASE_URL": os.environ["DATABASE_URL"], **environment}, "shell", "-c", show)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split()[-2:] == [broker, cache_location]


def test_a_cache_url_on_the_brokers_database_is_refused():
    completed = manage(
        {
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": "redis://127.0.0.1:6379/4",
            "QUERYBASE_CACHE_URL": "redis://127.0.0.1:6379/4",
        },
        "check",
    )
    assert completed.returncode != 0
    assert "QUERYBASE_CACHE_URL must name another Redis database" in completed.stderr


def test_clearing_the_cache_leaves_queued_messages_alone():
    """A cache clear (FLUSHDB on the cache's database) must not drop queued work."""
    assert settings.CACHES["default"]["LOCATION"] != settings.CELERY_BROKER_URL
    queue = f"qb-test-cache-clear-{os.getpid()}"  # no worker listens here
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        app.send_task("queries.execute_read", args=["00000000-0000-0000-0000-000000000000"], queue=queue)
        assert broker.llen(queue) == 1
        cache.set("something-cached", 1)
        cache.clear()
        assert cache.get("something-cached") is None
        assert broker.llen(queue) == 1
    finally:
        broker.delete(queue)
