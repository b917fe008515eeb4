"""Upload: a CSV into my sandbox as a new table, with the column types shown before the
import, the size bounded, the rows bulk-loaded and the lines left out reported."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.audit.models import AuditEvent
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

CSV = (
    "id,name,price,active,born,seen_at,note\n"
    "1,Ada,12.50,true,1990-05-01,2024-01-02 03:04:05,hello\n"
    '2,Ben,7,false,1985-12-31,2024-01-02T10:00:00,"with, comma"\n'
    "3,Cy,,TRUE,,,\n"
    "4,Broken line\n"
    '5,Eve,0.125,false,2000-02-29,2024-02-29 23:59:59.5,"say ""hi"""\n'
)
TYPES = {
    "id": "integer",
    "name": "text",
    "price": "decimal",
    "active": "boolean",
    "born": "date",
    "seen_at": "timestamp",
    "note": "text",
}


def upload(client, sandbox_id, content, *, preview=False, table="prices", name="prices.csv"):
    path = f"/api/v1/sandboxes/{sandbox_id}/uploads" + ("/preview" if preview else "")
    data = {"file": SimpleUploadedFile(name, content if isinstance(content, bytes) else content.encode())}
    if not preview:
        data["table"] = table
    return client.post(path, data, format="multipart")


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_a_csv_becomes_a_table_in_my_sandbox(engine, request):
    source = sandbox_source(engine, request)
    before = source_checksum(source)
    ada = reader("ada", source)
    client = client_for(ada)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    preview = upload(client, sandbox_id, CSV, preview=True)
    assert preview.status_code == 200, preview.content
    shown = preview.json()
    assert {column["name"]: column["type"] for column in shown["columns"]} == TYPES
    assert shown["row_count"] == 4 and shown["rows"][1] == [
        2,
        "Ben",
        "7",
        False,
        "1985-12-31",
        "2024-01-02T10:00:00",
        "with, comma",
    ]
    assert shown["errors"] == [{"line": 5, "message": "2 fields where the header has 7"}]

    loaded = upload(client, sandbox_id, CSV)
    assert loaded.status_code == 201, loaded.content
    assert loaded.json()["rows_loaded"] == 4 and loaded.json()["error_count"] == 1

    read = client.post(
        "/api/v1/queries",
        {
            "datasource": source.pk,
            "sandbox": sandbox_id,
            "sql": "SELECT name, price, born FROM prices WHERE active ORDER BY id",
        },
        format="json",
    )
    assert read.status_code == 200, read.content
    rows = read.json()["result"]["rows"]
    assert [row[0] for row in rows] == ["Ada", "Cy"]
    assert rows[1][1] is None and float(rows[0][1]) == 12.5 and str(rows[0][2]).startswith("1990-05-01")
    quoted = client.post(
        "/api/v1/queries",
        {"datasource": source.pk, "sandbox": sandbox_id, "sql": "SELECT note FROM prices WHERE id = 5"},
        format="json",
    ).json()["result"]["rows"]
    assert quoted == [['say "hi"']]

    tables = client.get(f"/api/v1/sandboxes/{sandbox_id}/schema").json()["tables"]
    assert "prices" in {table["name"] for table in tables}
    event = AuditEvent.objects.get(action="sandbox.upload")
    assert event.actor == ada and event.detail["rows"] == 4 and event.detail["lines_left_out"] == 1
    assert source_checksum(source) == before


def test_what_an_upload_refuses(request, settings):
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    def refused(response, status, code):
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code, response.json()

    refused(upload(client, sandbox_id, CSV, table="customers"), 400, "invalid_request")  # exists already
    refused(upload(client, sandbox_id, CSV, table="x; DROP TABLE customers"), 400, "invalid_request")
    refused(upload(client, sandbox_id, b"\xff\xfe not utf-8", preview=True), 400, "upload_refused")
    refused(upload(client, sandbox_id, b"", preview=True), 400, "upload_refused")
    refused(
        client.post(f"/api/v1/sandboxes/{sandbox_id}/uploads/preview", {}, format="multipart"), 400, "invalid_request"
    )
    refused(
        client.post(f"/api/v1/sandboxes/{sandbox_id}/uploads/preview", {"a": 1}, format="json"),
        415,
        "unsupported_media_type",
    )

    settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES = 100
    refused(upload(client, sandbox_id, CSV, preview=True), 413, "upload_too_large")
    settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES = 10_000
    settings.QUERYBASE_SANDBOX_UPLOAD_MAX_ROWS = 2
    refused(upload(client, sandbox_id, CSV), 413, "upload_too_large")
    settings.QUERYBASE_SANDBOX_UPLOAD_MAX_ROWS = 1000

    other = client_for(reader("ben", source))
    refused(upload(other, sandbox_id, CSV), 404, "sandbox_not_found")  # as unknown to them as a random id

    # Blank and repeated header names get names of their own, and the preview says so.
    shown = upload(client, sandbox_id, "a,,a\n1,2,3\n", preview=True).json()
    assert [column["name"] for column in shown["columns"]] == ["a", "column_2", "a_2"]
    assert len(shown["renamed"]) == 2
