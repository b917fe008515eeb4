"""`manage.py check --deploy` finds nothing to fix in a production configuration: DEBUG
off, a real secret key, the HTTPS settings' defaults. The one silenced check is
explained in querybase/settings.py."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_URL", "REDIS_URL", "QUERYBASE_", "DJANGO_", "ALLOWED_HOSTS"))
    }
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        QUERYBASE_ENCRYPTION_KEY=os.environ["QUERYBASE_ENCRYPTION_KEY"],
        ALLOWED_HOSTS="querybase.example.com",
        CSRF_TRUSTED_ORIGINS="https://querybase.example.com",
        QUERYBASE_DATA_DIR=str(data_dir),
    )
    return {**env, **overrides}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy(tmp_path):
    completed = check_deploy(production_env(tmp_path))
    assert completed.returncode == 0, completed.stderr
    assert "System check identified no issues (1 silenced)." in completed.stdout


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"QUERYBASE_HTTPS": "false"}, "security.W008"),
        ({"QUERYBASE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"QUERYBASE_SECURE_COOKIES": "false"}, "security.W012"),
        ({"QUERYBASE_DEBUG": "true"}, "security.W018"),
        ({"DJANGO_SECRET_KEY": "short"}, "security.W009"),
    ],
)
def test_check_deploy_would_notice_a_weakened_setting(tmp_path, overrides, warning):
    completed = check_deploy(production_env(tmp_path, **overrides))
    assert completed.returncode != 0
    assert warning in completed.stderr
