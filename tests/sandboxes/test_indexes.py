"""Indexes: the schema lists each table's indexes; in a sandbox, "+ index" creates one
from checked names, audited and recorded like any sandbox write; the source never changes."""

import pytest

from apps.audit.models import AuditEvent
from tests.support.factories import client_for, reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]


def indexes_of(tables, name):
    (table,) = [table for table in tables if table["name"] == name]
    return {index["name"]: index for index in table["indexes"]}


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
def test_plus_index_creates_one_in_my_sandbox_only(engine, request):
    source = sandbox_source(engine, request)
    before = source_checksum(source)
    ada = reader("ada", source, write=True)
    client = client_for(ada)

    on_source = client.get(f"/api/v1/datasources/{source.pk}/schema").json()["tables"]
    if engine == "postgresql":
        assert indexes_of(on_source, "orders")["orders_by_customer"]["columns"] == ["customer_id"]
        assert indexes_of(on_source, "orders")["orders_pkey"]["primary"] is True
    if engine == "mysql":
        assert indexes_of(on_source, "orders")["PRIMARY"] == {
            "name": "PRIMARY",
            "columns": ["id"],
            "unique": True,
            "primary": True,
        }
    assert "customers_name_idx" not in indexes_of(on_source, "customers")

    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    made = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/indexes", {"table": "customers", "columns": ["name"]}, format="json"
    )
    assert made.status_code == 200, made.content
    assert made.json()["result"]["rows"][0][1] == "ddl"
    named = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/indexes",
        {"table": "orders", "columns": ["customer_id", "total"], "unique": True, "name": "orders_unique_pair"},
        format="json",
    )
    assert named.status_code == 200, named.content

    in_sandbox = client.get(f"/api/v1/sandboxes/{sandbox_id}/schema").json()["tables"]
    assert indexes_of(in_sandbox, "customers")["customers_name_idx"]["columns"] == ["name"]
    pair = indexes_of(in_sandbox, "orders")["orders_unique_pair"]
    assert pair["columns"] == ["customer_id", "total"] and pair["unique"] is True
    again = client.get(f"/api/v1/datasources/{source.pk}/schema").json()["tables"]
    assert "customers_name_idx" not in indexes_of(again, "customers")
    assert source_checksum(source) == before

    event = AuditEvent.objects.get(action="sandbox.create_index", detail__index="customers_name_idx")
    assert event.actor == ada and event.detail["columns"] == ["name"]
    # Like any write in the sandbox, it can be requested on the real source.
    promoted = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/promote", {"reason": "index for the report"}, format="json"
    ).json()
    assert [statement["kind"] for statement in promoted["classification"]["statements"]] == ["ddl", "ddl"]
    assert "customers_name_idx" in promoted["sql"] and "orders_unique_pair" in promoted["sql"]


def test_plus_index_takes_only_names_the_copy_has(request):
    source = sandbox_source("postgresql", request)
    ada, ben = reader("ada", source), reader("ben", source)
    client = client_for(ada)
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    def make(**body):
        return client.post(f"/api/v1/sandboxes/{sandbox_id}/indexes", body, format="json")

    cases = [
        ({"table": "nope", "columns": ["id"]}, "table"),
        ({"table": "customers", "columns": ["id); DROP TABLE orders; --"]}, "columns"),
        ({"table": "customers", "columns": ["name", "name"]}, "columns"),
        ({"table": "customers", "columns": []}, "columns"),
        ({"table": "customers", "columns": ["name"], "name": "x; DROP TABLE orders"}, "name"),
        ({"table": "big_orders", "columns": ["id"]}, "table"),
        ({"table": "customers", "columns": ["name"], "name": "customers_pkey"}, "name"),
    ]
    for body, field in cases:
        refused = make(**body)
        assert refused.status_code == 400, (body, refused.content)
        assert field in refused.json()["error"]["details"], (body, refused.json())
    assert client.get(f"/api/v1/sandboxes/{sandbox_id}/schema").json()["tables"]  # the copy is intact

    other = client_for(ben).post(
        f"/api/v1/sandboxes/{sandbox_id}/indexes", {"table": "customers", "columns": ["name"]}, format="json"
    )
    # Another user's sandbox is as unknown to ben as a random id.
    assert other.status_code == 404 and other.json()["error"]["code"] == "sandbox_not_found"
    assert client_for(ben).get(f"/api/v1/sandboxes/{sandbox_id}/schema").status_code == 404


def test_plus_index_needs_ddl_in_the_sources_sandbox_kinds(request):
    source = sandbox_source("sqlite", request, sandbox_write_kinds=["dml"])
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    refused = client.post(
        f"/api/v1/sandboxes/{sandbox_id}/indexes", {"table": "customers", "columns": ["name"]}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "sandbox_write_refused"
