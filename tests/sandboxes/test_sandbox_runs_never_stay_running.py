"""A run in a sandbox always ends: whatever fails while it runs, a connector error, the
sandbox's server, or a bug of ours, the run is settled (failed, with the error), as a read
on the source is (apps/queries/run_lifecycle.py `attempt`), never left `running`."""

import pytest
from django.utils import timezone

from apps.queries import result_store
from apps.queries.models import QueryRun
from apps.sandboxes.models import SandboxRole
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


def test_a_sandbox_read_failing_on_a_bug_of_ours_ends_its_run_failed(request, monkeypatch):
    """As a read on the source does (apps/queries/run_lifecycle.py `attempt`): the run
    is not left `running` for ever; the error is logged and the answer is a 500."""
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in storing the result")

    monkeypatch.setattr(result_store, "read_into_store", broken)
    client.raise_request_exception = False
    answer = run(client, source, sandbox_id, "SELECT id FROM customers")

    assert answer.status_code == 500
    failed = QueryRun.objects.get(sandbox_id=sandbox_id)
    assert (failed.status, failed.error_code) == ("failed", "internal_error")
    assert failed.finished_at is not None
    assert client.get(f"/api/v1/queries/{failed.pk}").json()["error"]["code"] == "internal_error"


def test_a_sandbox_whose_login_is_gone_fails_its_run_and_its_export_closed(request):
    """Without the restricted login there is no way into the copy (no fallback to the
    copy-maker): the run ends failed with `sandbox_unavailable`, and an export says the
    same before reading anything."""
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    roles = SandboxRole.objects.filter(datasource=source, dropped_at=None)
    role_ids = list(roles.values_list("pk", flat=True))
    roles.update(dropped_at=timezone.now())  # as if upkeep had dropped it
    try:
        answer = run(client, source, sandbox_id, "SELECT id FROM customers")
        exported = client.post(
            "/api/v1/queries/export",
            {"datasource": source.pk, "sandbox": sandbox_id, "sql": "SELECT id FROM customers"},
            format="json",
        )
    finally:
        # Listed again, so the test's sweep drops the login from the server.
        SandboxRole.objects.filter(pk__in=role_ids).update(dropped_at=None)

    assert answer.status_code == 502 and answer.json()["error"]["code"] == "sandbox_unavailable"
    failed = QueryRun.objects.get(sandbox_id=sandbox_id)
    assert (failed.status, failed.error_code) == ("failed", "sandbox_unavailable")
    assert exported.status_code == 502 and exported.json()["error"]["code"] == "sandbox_unavailable"
