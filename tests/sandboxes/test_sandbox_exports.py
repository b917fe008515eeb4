"""An export of a read in a sandbox is the sandbox's rows: `POST /queries/export` with
`sandbox`, and `GET /queries/{id}/export` of a run made in a sandbox, read the copy (as
its restricted login, within the row cap), under the rules of a read there, never the
source in its stead. A run whose sandbox was reset or deleted since says its rows are gone."""

import csv
import io
import json
import tracemalloc

import pytest

from apps.audit.models import AuditEvent
from tests.support.factories import client_for, make_user, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

RENAME = "UPDATE customers SET name = 'renamed in the sandbox' WHERE id <= 3"
NAMES = "SELECT id, name FROM customers WHERE id <= 4 ORDER BY id"
SANDBOX_NAMES = [
    ["1", "renamed in the sandbox"],
    ["2", "renamed in the sandbox"],
    ["3", "renamed in the sandbox"],
    ["4", "customer 4"],
]
SOURCE_NAMES = [["1", "customer 1"], ["2", "customer 2"], ["3", "customer 3"], ["4", "customer 4"]]


def run(client, source, sandbox_id, sql, **extra):
    return client.post(
        "/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql, **extra}, format="json"
    )


def post_export(client, source, sql, export_format="csv", **extra):
    return client.post(
        "/api/v1/queries/export", {"datasource": source.pk, "sql": sql, "format": export_format, **extra}, format="json"
    )


def body_of(response) -> str:
    assert response.status_code == 200, response.content if not response.streaming else ""
    return b"".join(response.streaming_content).decode()


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body_of(response))))


def json_rows(response) -> list[list[str]]:
    """The JSON export's rows, spelled as the CSV's (ids as text) to compare with one list."""
    return [[str(value) for value in row] for row in json.loads(body_of(response))["rows"]]


def renamed_sandbox(client, source) -> int:
    """The caller's sandbox of `source`, its first three customers renamed there."""
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    wrote = run(client, source, sandbox_id, RENAME)
    assert wrote.status_code == 200, wrote.content
    return sandbox_id


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_exports_of_a_sandbox_read_are_the_sandboxs_rows_in_csv_and_json(engine, request):
    source = sandbox_source(engine, request)
    analyst = reader("ada", source)
    client = client_for(analyst)
    sandbox_id = renamed_sandbox(client, source)
    read = run(client, source, sandbox_id, NAMES)
    assert read.status_code == 200, read.content

    posted_csv = post_export(client, source, NAMES, "csv", sandbox=sandbox_id)
    assert csv_rows(posted_csv) == [["id", "name"], *SANDBOX_NAMES]
    assert json_rows(post_export(client, source, NAMES, "json", sandbox=sandbox_id)) == SANDBOX_NAMES
    # With parameters, CSV comes from the row stream rather than the engine's own CSV.
    one = "SELECT name FROM customers WHERE id = $1"
    bound = post_export(client, source, one, "csv", sandbox=sandbox_id, params=[2])
    assert csv_rows(bound) == [["name"], ["renamed in the sandbox"]]
    # The run read in the sandbox exports from the sandbox.
    run_id = read.json()["id"]
    assert csv_rows(client.get(f"/api/v1/queries/{run_id}/export?format=csv"))[1:] == SANDBOX_NAMES
    assert json_rows(client.get(f"/api/v1/queries/{run_id}/export?format=json")) == SANDBOX_NAMES
    # Without `sandbox`, the source's rows, as before.
    assert csv_rows(post_export(client, source, NAMES, "csv"))[1:] == SOURCE_NAMES

    events = AuditEvent.objects.filter(action="query.export", actor=analyst).order_by("pk")
    assert [event.detail.get("sandbox") for event in events] == [sandbox_id] * 5 + [None]


def test_a_sandbox_export_stops_at_the_sources_row_cap_and_says_so(request):
    source = sandbox_source("postgresql", request, max_rows=5)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    exported = post_export(client, source, "SELECT id FROM customers ORDER BY id", "csv", sandbox=sandbox_id)

    assert exported["X-QueryBase-Row-Cap"] == "5"
    lines = body_of(exported).splitlines()
    assert lines == ["id", "1", "2", "3", "4", "5", "#querybase:truncated row_cap=5"]
    as_json = json.loads(body_of(post_export(client, source, "SELECT id FROM customers", "json", sandbox=sandbox_id)))
    assert (len(as_json["rows"]), as_json["truncated"], as_json["row_cap"]) == (5, True, 5)


def test_someone_elses_sandbox_is_not_exported_and_a_write_is_not_run(request):
    source = sandbox_source("sqlite", request)
    ada, ben = reader("ada", source), reader("ben", source)
    owner = client_for(ada)
    sandbox_id = renamed_sandbox(owner, source)
    read = run(owner, source, sandbox_id, NAMES)
    before = source_checksum(source)

    # As unknown to ben as a random id (the next lines): the answer does not confirm it exists.
    refused = post_export(client_for(ben), source, NAMES, sandbox=sandbox_id)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "sandbox_not_found"
    missing = post_export(owner, source, NAMES, sandbox=sandbox_id + 1000)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "sandbox_not_found"
    # Someone who may not read the source learns nothing of it or its sandboxes.
    stranger = post_export(client_for(make_user("eve")), source, NAMES, sandbox=sandbox_id)
    assert stranger.status_code in (403, 404)
    # Nor of someone else's run.
    assert client_for(ben).get(f"/api/v1/queries/{read.json()['id']}/export").status_code == 404

    count = "SELECT count(*) FROM customers"
    kept = run(owner, source, sandbox_id, count).json()["result"]["rows"]
    wrote = post_export(owner, source, "DELETE FROM customers", sandbox=sandbox_id)
    assert wrote.status_code == 409 and wrote.json()["error"]["code"] == "not_a_read"
    # Nothing was deleted in the sandbox, nothing changed on the source.
    assert run(owner, source, sandbox_id, count).json()["result"]["rows"] == kept != [[0]]
    assert source_checksum(source) == before
    assert not AuditEvent.objects.filter(action="query.export").exists()


def test_a_sandbox_export_meets_the_wall_around_the_copy(request):
    """What could reach beyond the copy is refused before it runs, as a read there is."""
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    refused = post_export(client, source, "SELECT pg_read_file('/etc/hostname')", sandbox=sandbox_id)

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "sandbox_write_refused"


def test_a_query_shared_by_link_in_a_sandbox_is_exported_with_the_links_token(request):
    source = sandbox_source("sqlite", request)
    ada, dan = reader("ada", source), reader("dan", source)
    owner = client_for(ada)
    sandbox_id = renamed_sandbox(owner, source)
    saved_id = owner.post(
        "/api/v1/saved-queries",
        {"name": "names", "datasource": source.pk, "sandbox": sandbox_id, "sql": NAMES},
        format="json",
    ).json()["id"]
    token = owner.post(f"/api/v1/saved-queries/{saved_id}/share-link").json()["share_url"].rsplit("/", 1)[-1]
    reader_client = client_for(dan)

    # Without the link the sandbox is as unknown to them as a random id.
    assert post_export(reader_client, source, NAMES, sandbox=sandbox_id).status_code == 404
    shared = post_export(reader_client, source, NAMES, sandbox=sandbox_id, share_token=token)
    assert csv_rows(shared)[1:] == SANDBOX_NAMES
    read = run(reader_client, source, sandbox_id, NAMES, share_token=token)
    run_id = read.json()["id"]
    assert client_for(dan).get(f"/api/v1/queries/{run_id}/export").status_code == 404  # the link is needed again
    again = reader_client.get(f"/api/v1/queries/{run_id}/export?format=json&share_token={token}")
    assert json_rows(again) == SANDBOX_NAMES


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_a_run_whose_sandbox_was_reset_or_deleted_says_its_rows_are_gone(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = renamed_sandbox(client, source)
    before_reset = run(client, source, sandbox_id, NAMES).json()["id"]

    assert client.post(f"/api/v1/sandboxes/{sandbox_id}/reset").status_code == 200
    gone = client.get(f"/api/v1/queries/{before_reset}/export?format=csv")
    assert gone.status_code == 410, gone.content
    error = gone.json()["error"]
    assert error["code"] == "sandbox_rows_gone" and "reset" in error["message"]
    assert error["details"] == {"sandbox": sandbox_id}
    # A run read after the reset exports the fresh copy: the source's names again.
    after_reset = run(client, source, sandbox_id, NAMES).json()["id"]
    assert csv_rows(client.get(f"/api/v1/queries/{after_reset}/export"))[1:] == SOURCE_NAMES

    assert client.delete(f"/api/v1/sandboxes/{sandbox_id}").status_code == 204
    deleted = client.get(f"/api/v1/queries/{after_reset}/export?format=json")
    assert deleted.status_code == 410 and deleted.json()["error"]["code"] == "sandbox_rows_gone"
    assert "deleted" in deleted.json()["error"]["message"]
    # Asked for by id, the deleted sandbox is not exported either.
    assert post_export(client, source, NAMES, sandbox=sandbox_id).status_code == 404


@pytest.mark.parametrize("export_format", ["csv", "json"])
def test_a_large_sandbox_export_streams_with_flat_memory(export_format, request):
    """The source exports' own streaming path: the process holds a few chunks at a time,
    not the result, however many rows the row cap lets through."""
    source = sandbox_source("postgresql", request, max_rows=1_000_000)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    wide = "SELECT g AS n, repeat('x', 200) AS filler FROM generate_series(1, 100000) g"

    tracemalloc.start()
    try:
        response = post_export(client, source, wide, export_format, sandbox=sandbox_id)
        assert response.status_code == 200
        size = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert size > 20_000_000  # some 21 MB of rows went through
    # Collected whole, it would hold more than it sent; streamed, a few chunks of 2,000 rows.
    assert peak < size / 4, f"the export held {peak:,} bytes at its peak for {size:,} bytes sent"
