"""A run in a sandbox always ends: whatever fails while it runs, a connector error, the
sandbox's server, or a bug of ours, the run is settled (failed, with the error), as a read
on the source is (apps/queries/run_lifecycle.py `attempt`), never left `running`."""

import pytest
from django.utils import timezone

from apps.queries import abandoned_runs, result_store
from apps.queries.models import QueryRun
from apps.sandboxes.models import SandboxRole
from apps.submissions import execution
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


def test_the_sweeper_leaves_a_sandbox_read_in_progress_alone(request, monkeypatch):
    """A run in a sandbox is held by its process as a read on the source is (its run
    lock), so the sweeper, passing while it reads, sees it alive: it neither fails it nor
    hands it to the workers, which would read the source in the sandbox's stead."""
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert run(client, source, sandbox_id, "UPDATE customers SET name = 'sandboxed' WHERE id = 1").status_code == 200
    settled: list[int] = []
    read_into_store = result_store.read_into_store

    def swept_while_reading(*args, **kwargs):
        settled.append(abandoned_runs.settle_abandoned_runs())
        return read_into_store(*args, **kwargs)

    monkeypatch.setattr(result_store, "read_into_store", swept_while_reading)
    answer = run(client, source, sandbox_id, "SELECT name FROM customers WHERE id = 1")

    assert settled == [0]
    assert answer.status_code == 200, answer.content
    assert answer.json()["result"]["rows"] == [["sandboxed"]]
    kept = QueryRun.objects.get(pk=answer.json()["id"])
    assert (kept.status, kept.attempts, kept.row_count) == ("succeeded", 1, 1)


def test_a_sandbox_run_whose_process_died_is_failed_never_handed_to_the_workers(request):
    """Nobody holds the run any more (its web process died mid-run): a read on the source
    would be queued again, but a run in a sandbox is not the workers' to repeat (they read
    sources; a write there may have happened). It ends failed, saying so."""
    source = sandbox_source("sqlite", request)
    ada = reader("ada", source)
    client = client_for(ada)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    orphan = QueryRun.objects.create(
        user=ada,
        datasource=source,
        sandbox_id=sandbox_id,
        sql="SELECT name FROM customers",
        status="running",
        started_at=timezone.now(),
        attempts=1,
    )

    assert abandoned_runs.settle_abandoned_runs() == 1

    orphan.refresh_from_db()
    assert (orphan.status, orphan.error_code, orphan.attempts) == ("failed", "worker_lost", 1)
    assert "sandbox" in orphan.error_message
    assert abandoned_runs.settle_abandoned_runs() == 0


def test_a_worker_handed_a_sandbox_run_refuses_it_rather_than_read_the_source(request):
    """QueryBase never queues a run in a sandbox; a worker that finds one anyway (queued
    by an older release's sweeper) ends it failed and does not read the source."""
    source = sandbox_source("sqlite", request)
    ada = reader("ada", source)
    sandbox_id = client_for(ada).post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    queued = QueryRun.objects.create(
        user=ada, datasource=source, sandbox_id=sandbox_id, sql="SELECT name FROM customers", status="queued"
    )

    execution.execute_run(str(queued.pk))

    queued.refresh_from_db()
    assert (queued.status, queued.error_code, queued.row_count) == ("failed", "internal_error", None)
    assert "sandbox" in queued.error_message
