"""The deployment's proxy (docker/Caddyfile, service `proxy` of docker/compose.yml): the
shipped file passes Caddy's own check, and run in front of the web and events processes
of the shipped server it sends /api/v1/events to the events process, unbuffered, and the
rest to the web process.

Caddy is Debian's package (`make test` installs it). No Docker engine runs here, so the
compose file itself is read, not started: its services must be the ones the Caddyfile
names.
"""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from apps.accounts.services import issue_api_key
from querybase.live_bus import publish
from tests.support.databases import free_port
from tests.support.factories import reader
from tests.support.servers import shipped_server
from tests.support.sse import EventStream

pytestmark = pytest.mark.django_db(transaction=True)

DOCKER = Path(__file__).resolve().parent.parent.parent / "docker"
CADDYFILE = DOCKER / "Caddyfile"


def caddy() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.fail("Caddy is not installed: `make test` installs Debian's caddy package.")
    return found


def caddy_environment(home: Path, **settings: str) -> dict[str, str]:
    # Caddy keeps certificates and state under its home: the test's own, never the machine's.
    return {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home), **settings}


def test_the_shipped_caddyfile_passes_caddys_own_check(tmp_path):
    checked = subprocess.run(
        [caddy(), "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=caddy_environment(tmp_path),
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "Valid configuration" in checked.stdout + checked.stderr


def test_compose_runs_the_caddyfile_in_front_of_the_services_it_names():
    compose = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    proxy = services["proxy"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    text = CADDYFILE.read_text()
    # The Caddyfile's default upstreams are the compose services, on the ports they serve.
    assert "{$QUERYBASE_WEB_UPSTREAM:web:8000}" in text and services["web"]["expose"] == ["8000"]
    assert "{$QUERYBASE_EVENTS_UPSTREAM:events:8001}" in text
    assert services["events"]["environment"]["QUERYBASE_EVENTS_BIND"] == "0.0.0.0:8001"
    # Only the proxy is reachable from outside: the app's processes publish no port.
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]


@contextmanager
def caddy_in_front(tmp_path: Path, web: str, events: str) -> Iterator[str]:
    port = free_port()
    environment = caddy_environment(
        tmp_path,
        QUERYBASE_SITE_ADDRESS=f"http://127.0.0.1:{port}",
        QUERYBASE_WEB_UPSTREAM=web.removeprefix("http://"),
        QUERYBASE_EVENTS_UPSTREAM=events.removeprefix("http://"),
    )
    log = (tmp_path / "caddy.log").open("w")
    process = subprocess.Popen(
        [caddy(), "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "caddy.log").read_text()
            try:
                requests.get(f"{base}/health", timeout=5)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, (tmp_path / "caddy.log").read_text()
                time.sleep(0.1)
        yield base
    finally:
        # Stopped at once: on SIGTERM Caddy gives open requests the Caddyfile's grace period
        # (10 s), and a stream whose client has gone stays open for Caddy until it next
        # writes to it, which the events process's keep-alive (every 15 s) does too late.
        process.kill()
        process.wait(timeout=60)
        log.close()


def test_caddy_sends_event_streams_to_the_events_process_and_the_rest_to_web(tmp_path, shop):
    ana = reader("ana", shop)
    key = issue_api_key(ana, name="through-the-proxy").secret
    auth = {"Authorization": f"Api-Key {key}"}
    # The web process refuses every event stream (a limit of none per minute): a stream that
    # opens through the proxy can only have come from the events process.
    with (
        shipped_server(tmp_path / "web.log", env={"QUERYBASE_LIVE_RATE": "0/min"}) as web,
        shipped_server(tmp_path / "events.log", role="events") as events,
        caddy_in_front(tmp_path, web, events) as proxy,
    ):
        assert requests.get(f"{web}/api/v1/events", headers=auth, timeout=10).status_code == 429
        sources = requests.get(f"{proxy}/api/v1/datasources", headers=auth, timeout=30)
        assert sources.status_code == 200, sources.text  # the web process's
        assert [source["name"] for source in sources.json()["results"]] == ["shop"]

        stream = EventStream(f"{proxy}/api/v1/events", auth).wait_ready()
        try:
            publish([ana.pk], "test.step", {"step": 1})
            # Passed on at once: a buffering proxy would hold this small event back.
            first = stream.next_event(timeout=30)
            assert (first.event, first.data) == ("test.step", {"step": 1})
        finally:
            stream.close()
        # Last-Event-ID reaches the events process through the proxy: the stream resumes.
        publish([ana.pk], "test.step", {"step": 2})
        resumed = EventStream(f"{proxy}/api/v1/events", {**auth, "Last-Event-ID": first.id}).wait_ready()
        try:
            assert resumed.next_event(timeout=30).data == {"step": 2}
        finally:
            resumed.close()
