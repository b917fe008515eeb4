"""The unit tier (`make test-unit`) runs without PostgreSQL, MariaDB or Redis: here in a
fresh process whose environment names none of them, on the embedded default."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICE_VARIABLES = {"DATABASE_URL", "REDIS_URL", "QUERYBASE_TEST_POSTGRES_URL", "QUERYBASE_TEST_MYSQL_URL"}


def test_unit_tests_pass_with_no_service_configured(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in SERVICE_VARIABLES}
    env["QUERYBASE_DATA_DIR"] = str(tmp_path)
    (tmp_path / "static").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/unit/test_policy.py",
            "tests/unit/test_sqltext.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
