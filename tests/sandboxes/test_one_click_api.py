"""The one-click path as an API client meets it: a refused write says where it could run
at once, and that is the caller's sandbox of the source."""

import pytest

from tests.support.factories import client_for, make_datasource, reader
from tests.support.sandboxes import sandbox_source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

WRITE = "UPDATE customers SET name = 'x' WHERE id = 1"


def submit(client, source, sql):
    return client.post(
        "/api/v1/queries", {"datasource": source.pk, "sql": sql, "request_approval": False}, format="json"
    )


def test_approval_required_offers_the_sandbox_and_it_runs_there(request):
    source = sandbox_source("sqlite", request)
    client = client_for(reader("ada", source, write=True))
    refused = submit(client, source, WRITE)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "approval_required"
    offer = refused.json()["error"]["details"]["sandbox"]
    assert offer == {"datasource": source.pk, "url": f"/api/v1/datasources/{source.pk}/sandbox"}

    sandbox = client.post(offer["url"]).json()
    ran = client.post(
        "/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox["id"], "sql": WRITE}, format="json"
    )
    assert ran.status_code == 200 and ran.json()["result"]["affected_rows"] == [1]


def test_readers_without_write_rights_are_offered_it_too(request):
    source = sandbox_source("sqlite", request)
    refused = submit(client_for(reader("cy", source)), source, WRITE)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["sandbox"]["datasource"] == source.pk


def test_no_offer_without_sandboxes_or_for_kinds_they_do_not_run(request):
    plain = make_datasource("plain")
    refused = submit(client_for(reader("ada", plain, write=True)), plain, "DELETE FROM t")
    assert "sandbox" not in refused.json()["error"]["details"]

    source = sandbox_source("sqlite", request, sandbox_write_kinds=["dml"])
    client = client_for(reader("bo", source, write=True))
    ddl = submit(client, source, "DROP TABLE orders")
    assert ddl.status_code == 409 and "sandbox" not in ddl.json()["error"]["details"]
    assert "sandbox" in submit(client, source, WRITE).json()["error"]["details"]
