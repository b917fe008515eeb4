"""Health and version: unauthenticated, for load balancers and humans."""

import subprocess
import time
from functools import cache as memoize

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _check(probe) -> dict:
    started = time.monotonic()
    try:
        probe()
    except Exception as error:  # a health check reports every failure, whatever its type
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "took_ms": round((time.monotonic() - started) * 1000, 1)}


def _probe_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _probe_cache() -> None:
    cache.set("health:probe", "ok", 10)
    if cache.get("health:probe") != "ok":
        raise RuntimeError("cache did not return what was stored")


def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_probe_database), "cache": _check(_probe_cache)}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


@memoize
def git_revision() -> str:
    """The deployed revision: from the environment (images), else from git (checkouts)."""
    return settings.QUERYBASE_GIT_REVISION or _git("rev-parse", "HEAD")


@memoize
def git_branch() -> str:
    """The branch it was built from: from the environment (images), else from git. A
    detached checkout has none."""
    branch = settings.QUERYBASE_GIT_BRANCH or _git("rev-parse", "--abbrev-ref", "HEAD")
    return "" if branch == "HEAD" else branch


def _git(*args: str) -> str:
    """What `git` prints for this checkout, or "" where there is no git or no checkout."""
    try:
        completed = subprocess.run(
            ["git", *args],  # noqa: S607  (git from PATH, when there is one)
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=2,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def version(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "version": settings.QUERYBASE_VERSION,
            "git_revision": git_revision() or None,
            "git_branch": git_branch() or None,
        }
    )
