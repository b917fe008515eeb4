import subprocess

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


def test_version_has_version_git_revision_and_branch():
    body = Client().get("/version").json()
    assert body["version"] == settings.QUERYBASE_VERSION
    assert body["git_revision"] is None or len(body["git_revision"]) == 40
    # This checkout's own answer (CI runs on a clone, which has a branch).
    branch = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=settings.BASE_DIR, capture_output=True, text=True
    ).stdout.strip()
    assert body["git_branch"] == (branch if branch and branch != "HEAD" else None)


def test_an_image_says_where_it_was_built_from(settings):
    from apps.api.views import git_branch, git_revision

    settings.QUERYBASE_GIT_REVISION = "a" * 40
    settings.QUERYBASE_GIT_BRANCH = "release-2026-12"
    git_revision.cache_clear()
    git_branch.cache_clear()
    try:
        body = Client().get("/version").json()
    finally:
        git_revision.cache_clear()
        git_branch.cache_clear()
    assert (body["git_revision"], body["git_branch"]) == ("a" * 40, "release-2026-12")


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
