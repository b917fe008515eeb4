"""An on-demand copy made by the worker: the request answers at once with the sandbox
`creating` and what is being done, and the sandbox becomes usable when the copy is made."""

import time

import psycopg
import pytest

from apps.sandboxes.engines import copies_for
from apps.sandboxes.golden import refresh_golden
from apps.sandboxes.models import Sandbox, SandboxRole, SandboxState
from apps.sandboxes.upkeep import sandbox_upkeep
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("drop_copies_after", "celery_worker"),
]


def follow(client, sandbox_id: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        sandbox = client.get(f"/api/v1/sandboxes/{sandbox_id}").json()
        seen.append(sandbox["progress"])
        if sandbox["state"] != "creating":
            return sandbox | {"seen": seen}
        time.sleep(0.2)
    raise AssertionError(f"sandbox {sandbox_id} still creating: {seen[-1]}")


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_a_sandbox_copied_in_the_background_becomes_active(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))

    asked = client.post(f"/api/v1/datasources/{source.pk}/sandbox?background=1")
    assert asked.status_code == 201, asked.content
    sandbox = asked.json()
    # No golden copy yet: the worker makes it first, and the sandbox says so.
    assert sandbox["state"] in {"creating", "active"}
    if sandbox["state"] == "creating":
        assert sandbox["progress"] == "Making the golden copy from the source, then copying it"

    done = follow(client, sandbox["id"])
    assert done["state"] == "active" and done["progress"] is None and done["size_bytes"] > 0
    assert done["sampled_tables"] and done["golden_refreshed_at"]
    ran = client.post(
        "/api/v1/queries",
        {"datasource": source.pk, "sandbox": sandbox["id"], "sql": "DELETE FROM orders WHERE id = 1"},
        format="json",
    )
    assert ran.status_code == 200 and ran.json()["result"]["affected_rows"] == [1]

    # Asked again, it is the same sandbox, at once.
    again = client.post(f"/api/v1/datasources/{source.pk}/sandbox?background=1")
    assert again.status_code == 200 and again.json()["id"] == sandbox["id"]


def test_a_background_copy_that_fails_says_why(request):
    source = sandbox_source("postgresql", request, sandbox_host="127.0.0.1", sandbox_port=1, sandbox_username="x")
    client = client_for(reader("ada", source))
    sandbox = client.post(f"/api/v1/datasources/{source.pk}/sandbox?background=1").json()
    done = follow(client, sandbox["id"]) if sandbox["state"] == "creating" else sandbox
    assert done["state"] == "failed" and "sandbox server" in done["error_message"]
    # Its login was never made, and no row says it might have been (upkeep would try to drop it).
    assert not SandboxRole.objects.filter(datasource=source).exists()
    Sandbox.objects.filter(datasource=source).delete()  # nothing to drop on a server that is not there


def test_a_failed_copy_stays_failed_with_its_reason_and_asking_again_makes_a_new_one(request):
    source = sandbox_source("postgresql", request)
    golden = refresh_golden(source)
    client = client_for(reader("ada", source))
    # The golden copy's database is gone from the sandbox server (dropped by hand, say).
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as server:
        server.execute(f'DROP DATABASE "{golden.database_name}" WITH (FORCE)')
    asked = client.post(f"/api/v1/datasources/{source.pk}/sandbox?background=1").json()
    failed = follow(client, asked["id"])
    assert failed["state"] == "failed", failed
    assert f'template database "{golden.database_name}" does not exist' in failed["error_message"]
    # The owner sees it, with why, in the list too; nothing of it is left on the server.
    listed = client.get("/api/v1/sandboxes").json()["results"]
    assert [(entry["id"], entry["state"]) for entry in listed] == [(asked["id"], "failed")]
    assert listed[0]["error_message"] == failed["error_message"]
    assert not copies_for(source).exists(Sandbox.objects.get(pk=asked["id"]).database_name)

    # Asked again once the golden copy is made again (the schedule refreshes it), a new copy
    # is made and becomes usable.
    refresh_golden(source)
    again = client.post(f"/api/v1/datasources/{source.pk}/sandbox?background=1")
    assert again.status_code == 201 and again.json()["id"] != asked["id"]
    assert follow(client, again.json()["id"])["state"] == "active"

    # Upkeep settles the failed one: its owner has a newer sandbox now.
    assert sandbox_upkeep()["failed_settled"] == 1
    assert client.get(f"/api/v1/sandboxes/{asked['id']}").status_code == 404
    assert Sandbox.objects.get(pk=asked["id"]).state == SandboxState.DELETED
    assert [entry["state"] for entry in client.get("/api/v1/sandboxes").json()["results"]] == ["active"]
