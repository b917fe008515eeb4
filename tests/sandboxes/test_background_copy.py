"""An on-demand copy made by the worker: the request answers at once with the sandbox
`creating` and what is being done, and the sandbox becomes usable when the copy is made."""

import time

import pytest

from apps.sandboxes.models import Sandbox
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
    Sandbox.objects.filter(datasource=source).delete()  # nothing to drop on a server that is not there
