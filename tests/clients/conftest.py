"""The installed `querybase` console script and the SDK against the live test server.

The suite's `live_server` (tests/conftest.py) serves the app from this process on a free
port, with the test database; the CLI runs as a real subprocess, as a user would run it, with its
profile in a temporary directory.
"""

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.factories import DEFAULT_PASSWORD, grant, make_datasource, make_group, make_user

BIN = Path(sys.executable).parent


def querybase_executable() -> str:
    found = shutil.which("querybase", path=str(BIN))
    if found is None:
        pytest.fail("The querybase console script is not installed: `make venv` installs clients/python.")
    return found


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Cli:
    """Runs `querybase …` with its own config directory (one per test)."""

    def __init__(self, config_dir: Path, url: str):
        self.config_dir = config_dir
        self.url = url

    def environment(self, env: dict | None = None) -> dict[str, str]:
        # The suite's own QUERYBASE_* settings are the server's, not the CLI's.
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("QUERYBASE_")}
        return {
            **inherited,
            "QUERYBASE_CONFIG_DIR": str(self.config_dir),
            "COLUMNS": "200",
            "NO_COLOR": "1",
            **(env or {}),
        }

    def start(self, *args: str) -> subprocess.Popen:
        """`querybase …` left running (a command that follows something), its output piped."""
        return subprocess.Popen(
            [querybase_executable(), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(),
        )

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None) -> CliResult:
        environment = self.environment(env)
        completed = subprocess.run(
            [querybase_executable(), *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    def login(self, username: str, password: str = DEFAULT_PASSWORD, *, profile: str = "default") -> CliResult:
        result = self(
            "--profile", profile, "login", self.url, "--username", username, env={"QUERYBASE_PASSWORD": password}
        )
        assert result.code == 0, result.stderr
        return result


class ShopWorld:
    """A private copy of the demo shop as a SQLite source (approved writes change it), an
    analyst who may read and request writes, an approver, and an outsider."""

    def __init__(self, shop_sqlite_path: Path):
        path = settings.QUERYBASE_SQLITE_ROOTS[0] / f"cli_shop_{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(shop_sqlite_path, path)
        self.path = path
        self.source = make_datasource("Shop", database=str(path), max_rows=10000)
        analysts, approvers = make_group("cli-analysts"), make_group("cli-approvers")
        grant(analysts, self.source, read=True, write=True)
        grant(approvers, self.source, read=True, approve=True)
        self.analyst = make_user("ana", groups=(analysts,))
        self.approver = make_user("ray", groups=(approvers,))
        self.outsider = make_user("otto")


@pytest.fixture
def shop_world(shop_sqlite_path, transactional_db):
    world = ShopWorld(shop_sqlite_path)
    yield world
    world.path.unlink(missing_ok=True)


@pytest.fixture
def server_url(live_server, celery_worker) -> str:
    """The live server; the worker is there for reads that outlast the inline budget on a
    busy machine and for approved writes."""
    return live_server.url


@pytest.fixture
def cli(tmp_path, server_url) -> Cli:
    return Cli(tmp_path / "querybase-config", server_url)
