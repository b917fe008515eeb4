"""examples/: the nightly export (SDK) and the shell session (CLI) run against the live server."""

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from querybase_client import QueryBaseClient

from tests.clients.conftest import BIN
from tests.support.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_env(**extra: str) -> dict:
    """The environment a user would have: the venv's scripts on PATH, none of the
    suite's own QUERYBASE_* settings."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("QUERYBASE_")}
    return {**inherited, "PATH": f"{BIN}{os.pathsep}{inherited.get('PATH', '')}", "NO_COLOR": "1", **extra}


def test_nightly_export_writes_each_saved_query_to_a_dated_file(server_url, shop_world, tmp_path):
    with QueryBaseClient(server_url, username="ana", password=DEFAULT_PASSWORD) as client:
        key = client.account.create_api_key("nightly").key
        client.saved_queries.create("Orders per status", "Shop", "SELECT status, count(*) FROM orders GROUP BY 1")
        client.saved_queries.create(
            "Big spenders", "Shop", "SELECT id FROM orders WHERE total > :min", default_params={"min": 100}
        )
        client.saved_queries.create("Broken", "Shop", "SELECT * FROM gone")

    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "nightly_export.py"), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=example_env(QUERYBASE_URL=server_url, QUERYBASE_API_KEY=key),
        timeout=120,
    )
    assert completed.returncode == 1, completed.stderr  # one saved query fails, the others still run
    assert "FAILED Broken" in completed.stderr
    day = tmp_path / datetime.date.today().isoformat()
    assert sorted(path.name for path in day.iterdir()) == ["Big-spenders.csv", "Orders-per-status.csv"]
    assert (day / "Orders-per-status.csv").read_text().startswith("status,count(*)\n")


def test_nightly_export_without_a_server_says_so(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "nightly_export.py"), "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=example_env(QUERYBASE_URL="http://127.0.0.1:9", QUERYBASE_API_KEY="qb_x"),
        timeout=60,
    )
    assert completed.returncode == 2
    assert "could not run" in completed.stderr


def test_the_cli_session_script_runs_start_to_end(server_url, shop_world, tmp_path):
    completed = subprocess.run(
        ["bash", str(EXAMPLES / "cli_session.sh")],
        capture_output=True,
        text=True,
        env=example_env(
            QUERYBASE_URL=server_url,
            QUERYBASE_USERNAME="ana",
            QUERYBASE_PASSWORD=DEFAULT_PASSWORD,
            QUERYBASE_SOURCE="Shop",
            QUERYBASE_CONFIG_DIR=str(tmp_path / "config"),
            EXPORT_DIR=str(tmp_path / "exports"),
        ),
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "shipped orders:" in completed.stdout
    assert len((tmp_path / "exports" / "order_items.csv").read_text().splitlines()) == 5452 + 1
    assert "Logged out." in completed.stdout
