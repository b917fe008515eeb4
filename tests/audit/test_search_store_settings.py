"""Where the audit search store lives when AUDIT_SEARCH_URL is not set: next to the
metadata database on its server (a database of its own), or in its own SQLite file."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _configured_url(**env: str) -> str:
    inherited = {
        key: value for key, value in os.environ.items() if key not in ("AUDIT_SEARCH_URL", "DATABASE_URL", "REDIS_URL")
    }
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.AUDIT_SEARCH_URL)",
        ],
        cwd=ROOT,
        env={**inherited, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


def test_with_postgresql_metadata_the_store_is_a_database_of_its_own_on_the_same_server():
    url = _configured_url(
        DATABASE_URL="postgres://qb:s3cret@db.internal:5433/querybase?sslmode=require",
        REDIS_URL=os.environ["REDIS_URL"],
    )
    assert url == "postgresql://qb:s3cret@db.internal:5433/querybase_audit?sslmode=require"


def test_the_embedded_default_keeps_an_sqlite_file_of_its_own(tmp_path):
    url = _configured_url(QUERYBASE_DATA_DIR=str(tmp_path))
    assert url == f"sqlite:///{tmp_path / 'audit_search.sqlite3'}"
