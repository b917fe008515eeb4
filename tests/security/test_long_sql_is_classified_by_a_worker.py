"""Invariant 7 (resource abuse): the inline budget is wall time for the whole request, so
SQL longer than QUERYBASE_INLINE_CLASSIFY_CHARS is not classified in the API process at
all. A worker classifies it, then runs it, refuses it, or turns it into an approval
request, exactly as the API would have for a short text."""

import pytest
from django.conf import settings

from apps.approvals.models import ApprovalRequest, ApprovalStatus
from apps.queries import plan
from apps.queries.models import QueryRun, RunStatus
from tests.support.factories import client_for, make_datasource, reader

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

# The issue's own example was 100,000 of these; enough of them to pass the default limit.
MANY_READS = "SELECT 1;" * (settings.QUERYBASE_INLINE_CLASSIFY_CHARS // len("SELECT 1;") + 1)
# A short write made long by a comment: length, not statement count, decides.
LONG_WRITE = "DELETE FROM orders WHERE id = 1; -- " + "x" * settings.QUERYBASE_INLINE_CLASSIFY_CHARS


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


@pytest.fixture
def classified_here(monkeypatch):
    """The texts this (API) process classified; the worker is another process."""
    texts = []
    real = plan.classify_sql

    def recording(sql, dialect, **options):
        texts.append(sql)
        return real(sql, dialect, **options)

    monkeypatch.setattr(plan, "classify_sql", recording)
    return texts


def submit(user, shop, sql, **fields):
    body = {"datasource": shop.pk, "sql": sql, "wait": 30, **fields}
    return client_for(user).post("/api/v1/queries", body, format="json")


def test_a_long_read_script_is_classified_and_run_by_the_worker(shop, classified_here):
    assert len(MANY_READS) > settings.QUERYBASE_INLINE_CLASSIFY_CHARS
    response = submit(reader("ana", shop), shop, MANY_READS)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["verdict"] == "read"
    assert body["result"]["rows"] == [[1]]
    assert classified_here == []


def test_a_short_read_is_still_classified_in_the_api_process(shop, classified_here):
    response = submit(reader("ana", shop), shop, "SELECT 1")
    assert response.status_code == 200
    assert classified_here == ["SELECT 1"]


def test_a_long_write_becomes_an_approval_request(shop, classified_here):
    writer = reader("wes", shop, write=True)
    response = submit(writer, shop, LONG_WRITE, reason="clean up order 1")
    assert response.status_code == 202, response.content
    approval = response.json()["approval"]
    assert approval["sql"] == LONG_WRITE
    assert approval["status"] == ApprovalStatus.PENDING
    request = ApprovalRequest.objects.get(pk=approval["id"])
    assert (request.requester, request.reason) == (writer, "clean up order 1")
    run = QueryRun.objects.get(approval_request=request)
    assert (run.status, run.error_code) == (RunStatus.FAILED, "approval_required")
    shown = client_for(writer).get(f"/api/v1/queries/{run.pk}").json()
    assert shown["approval"] == request.pk
    assert shown["verdict"] == "write"
    assert classified_here == []


def test_a_long_write_without_request_approval_is_refused_with_its_classification(shop):
    writer = reader("wes", shop, write=True)
    response = submit(writer, shop, LONG_WRITE, request_approval=False)
    assert response.status_code == 409, response.content  # as for a short write
    assert response.json()["error"]["code"] == "approval_required"
    assert not ApprovalRequest.objects.exists()
    assert QueryRun.objects.get().classification["verdict"] == "write"


def test_a_long_write_from_a_reader_is_refused_and_requests_nothing(shop):
    response = submit(reader("ana", shop), shop, LONG_WRITE)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "permission_denied"
    assert not ApprovalRequest.objects.exists()
    assert QueryRun.objects.get().status == RunStatus.FAILED


def test_a_long_text_on_a_source_without_rights_is_refused_at_once(shop, classified_here):
    stranger_source = make_datasource("other", database=shop.database)
    response = submit(reader("ana", stranger_source), shop, MANY_READS)
    assert response.status_code == 404
    assert not QueryRun.objects.exists()
