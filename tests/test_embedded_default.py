"""Smoke test of the embedded default that `make run` starts: nothing configured at all.

It runs the real commands in a subprocess with DATABASE_URL, REDIS_URL and every secret
removed from the environment, then talks HTTP to the running server.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.databases import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.smoke


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "QUERYBASE_", "DJANGO_"))
    }
    env["QUERYBASE_DATA_DIR"] = str(data_dir)
    return env


def manage(env: dict, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A data directory as `make run`'s first step leaves it: the embedded database migrated
    (some seconds), and the secrets made on first start. Each test works on a copy."""
    data_dir = tmp_path_factory.mktemp("embedded")
    manage(embedded_env(data_dir), "migrate", "--noinput", "-v0")
    return data_dir


def copy_of(migrated: Path, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(migrated, data_dir)  # modes too: the secrets stay 0600
    return data_dir


def test_embedded_default_serves_the_demo(migrated, tmp_path):
    data_dir = copy_of(migrated, tmp_path)
    env = embedded_env(data_dir)
    seeded = manage(env, "seed_demo")
    assert "login analyst / analyst" in seeded
    assert manage(env, "seed_demo") == seeded  # idempotent
    assert (data_dir / "querybase.sqlite3").exists()
    assert (data_dir / "encryption_key").stat().st_mode & 0o777 == 0o600

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/health", server)
        health = requests.get(f"{base}/health", timeout=5).json()
        assert health["status"] == "ok"
        tokens = requests.post(
            f"{base}/api/v1/auth/token", json={"username": "analyst", "password": "analyst"}, timeout=5
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access']}"}
        me = requests.get(f"{base}/api/v1/auth/me", headers=headers, timeout=5).json()
        demo = me["datasources"][0]
        assert (demo["name"], demo["can_read"], demo["can_approve"]) == ("Demo shop (SQLite)", True, False)
        schema = requests.get(f"{base}/api/v1/datasources/{demo['id']}/schema", headers=headers, timeout=5).json()
        assert {"customers", "orders", "order_items", "products"} <= {table["name"] for table in schema["tables"]}
        assert requests.get(f"{base}/login/", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited: {server.stdout.read().decode()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail("server did not come up within 30s")


CONCURRENT_WRITERS = """
import threading
from django.contrib.auth.models import Group
from django.db import connection, transaction

WRITERS, ROUNDS = 8, 20
errors = []
start = threading.Barrier(WRITERS)

def write(writer):
    try:
        start.wait()
        for round_ in range(ROUNDS):
            # Read, then write, in one transaction: what a dashboard request does. Without an
            # immediate transaction the upgrade to a write lock fails at once under contention.
            with transaction.atomic():
                Group.objects.filter(name__startswith="writer-").count()
                Group.objects.create(name=f"writer-{writer}-{round_}")
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("errors:", errors[:3])
print("groups:", Group.objects.filter(name__startswith="writer-").count())
"""


def test_concurrent_writers_on_the_embedded_database_are_never_locked_out(migrated, tmp_path):
    env = embedded_env(copy_of(migrated, tmp_path))
    output = manage(env, "shell", "-c", CONCURRENT_WRITERS)
    assert "errors: []" in output, output
    assert "groups: 160" in output
    journal_mode = manage(
        env,
        "shell",
        "-c",
        "from django.db import connection; print(connection.cursor().execute('PRAGMA journal_mode').fetchone()[0])",
    )
    assert journal_mode.split()[-1] == "wal"
