"""Gunicorn as configured by querybase/gunicorn.conf.py: a scrape answered by any one worker process
counts the requests of all of them (prometheus_client's multiprocess mode), and gunicorn's
own lines are JSON like the app's."""

import json
import os
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from apps.accounts.services import issue_api_key
from tests.support.databases import free_port
from tests.support.factories import make_user
from tests.support.logs import wait_for_json_line
from tests.support.worker import suite_database_url

PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"
CONFIG = settings.BASE_DIR / "querybase" / "gunicorn.conf.py"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gunicorn(tmp_path):
    """Gunicorn's log file, while it serves."""
    env = {**os.environ, "DATABASE_URL": suite_database_url(), "QUERYBASE_LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "--bind", f"127.0.0.1:{PORT}"),
                *("--workers", "3", "--access-logfile", "-"),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process)
        yield log
    finally:
        process.terminate()
        process.wait(timeout=20)


def _wait_until_up(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{BASE}/health", timeout=5)
            return
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)


def _get(path: str, api_key: str | None = None) -> str:
    headers = {"Authorization": f"Api-Key {api_key}"} if api_key else {}
    response = requests.get(BASE + path, headers=headers, timeout=10)
    response.raise_for_status()
    return response.text


def _version_requests(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("view") == "version":
                return sample.value
    return 0.0


def test_every_scrape_counts_the_requests_of_every_worker(gunicorn):
    api_key = issue_api_key(make_user("ops", is_admin=True), name="prometheus").secret
    for _ in range(20):
        _get("/version")
    # Three workers, six scrapes: each worker answers some, and each says 20.
    assert [_version_requests(_get("/api/v1/metrics", api_key)) for _ in range(6)] == [20.0] * 6


def test_gunicorn_logs_json_lines_with_the_request_id(gunicorn):
    requests.get(f"{BASE}/version", headers={"X-Request-ID": "req-through-gunicorn"}, timeout=10)
    access = wait_for_json_line(gunicorn, lambda line: "GET /version" in line["event"])
    assert access["logger"] == "gunicorn.access"
    assert access["event"].endswith("request_id=req-through-gunicorn")
    lines = gunicorn.read_text().splitlines()
    assert any("Booting worker" in json.loads(line)["event"] for line in lines)
    assert all(json.loads(line) for line in lines)
