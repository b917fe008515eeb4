"""`querybase audit records|events|search`: the installed console script against the live
server, as an auditor and as an analyst."""

import csv
import io
import json

import pytest

from tests.audit.conftest import index_everything
from tests.support.factories import client_for

pytestmark = pytest.mark.django_db(transaction=True)

OK, NOT_FOUND_OR_FORBIDDEN = 0, 4


@pytest.fixture
def activity(shop_world, store):
    api = client_for(shop_world.analyst)
    for sql in ("SELECT name FROM customers WHERE id = 2", "SELECT * FROM customers_gone"):
        api.post("/api/v1/queries", {"datasource": shop_world.source.pk, "sql": sql}, format="json")
    client_for(shop_world.approver).post(
        "/api/v1/queries", {"datasource": shop_world.source.pk, "sql": "SELECT count(*) FROM orders"}, format="json"
    )
    index_everything()
    return shop_world


def test_an_auditor_runs_the_three_reports_and_full_text(cli, activity, auditor):
    cli.login(auditor.username)

    found = cli("audit", "search", "customers", "--json")
    assert found.code == OK, found.stderr
    runs = {event["sql"]: event for event in found.json() if event["action"] == "query.run"}
    assert runs["SELECT name FROM customers WHERE id = 2"]["outcome"] == "succeeded"
    assert runs["SELECT * FROM customers_gone"]["outcome"] == "failed"

    # By id: the auditor has no right on the source, so cannot look its name up.
    record = cli("audit", "records", str(activity.source.pk), "customers", "--key", "2", "--json")
    assert record.code == OK, record.stderr
    assert [event["action"] for event in record.json()] == ["query.run", "query.finished"]

    mine = cli("audit", "events", "--user", "ray", "--json")
    assert {event["actor"] for event in mine.json()} == {"ray"}
    assert "orders" in mine.json()[-1]["tables"]

    window = cli("audit", "events", "--after", "2000-01-01T00:00:00Z", "--action", "query.finished", "--json")
    assert len(window.json()) == 3

    table = cli("audit", "events", "--user", "ana")
    assert table.code == OK
    assert "customers_gone" in table.stdout and "query.run" in table.stdout

    exported = cli("audit", "events", "--user", "ana", "--csv")
    assert exported.code == OK, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 4 and {row["actor"] for row in rows} == {"ana"}


def test_an_analyst_sees_only_their_own_events(cli, activity):
    cli.login("ana")
    own = cli("audit", "events", "--user", "ana", "--json")
    assert own.code == OK
    assert {event["actor"] for event in own.json()} == {"ana"}
    other = cli("audit", "events", "--user", "ray", "--json")
    assert other.code == NOT_FOUND_OR_FORBIDDEN
    assert json.loads(other.stderr)["error"]["code"] == "audit_not_allowed"
    assert cli("audit", "search", "customers").code == NOT_FOUND_OR_FORBIDDEN
