import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_health_checks_database_and_real_cache():
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    body = Client().get("/health").json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True


def test_health_reports_a_dead_cache_as_503(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    response = Client().get("/health")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"]["ok"] is False


def test_version_has_version_and_git_revision():
    body = Client().get("/version").json()
    assert body["version"] == settings.QUERYBASE_VERSION
    assert body["git_revision"] is None or len(body["git_revision"]) == 40


def test_openapi_schema_and_docs_are_served_without_a_cdn(admin_client):
    assert admin_client.get("/api/schema/").status_code == 200
    docs = Client()
    docs.force_login(admin_client.handler._force_user)
    html = docs.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


def test_celery_uses_redis_as_broker_when_configured():
    import os

    from querybase.celery import app

    assert app.conf.broker_url == os.environ["REDIS_URL"]
    assert app.conf.task_always_eager is False
