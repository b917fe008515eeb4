"""A run's API representation is written out by hand for speed (QueryRunSerializer.
to_representation); it must stay exactly what DRF makes of the serializer's declared
fields, which are also what the OpenAPI schema says."""

import datetime
import json
import uuid

import pytest
from rest_framework import serializers

from apps.queries.models import QueryRun, RunStatus
from apps.queries.serializers import QueryRunSerializer
from tests.support.factories import make_datasource, make_user

pytestmark = pytest.mark.django_db

LATER = datetime.datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)
ELSEWHERE = datetime.timezone(datetime.timedelta(hours=5, minutes=30))


def _runs() -> list[QueryRun]:
    user = make_user("ana")
    source = make_datasource("shop")
    common = {"user": user, "datasource": source, "sql": "SELECT 1", "sql_sha256": "0" * 64}
    queued = QueryRun.objects.create(**common, classification={})
    hit = QueryRun.objects.create(
        **common,
        params=[1, "two", None, {"three": [3.5]}],
        classification={"verdict": "read", "risk": "none"},
        status=RunStatus.SUCCEEDED,
        from_cache=True,
        source_run=queued,
        computed_at=LATER,
        started_at=LATER,
        finished_at=LATER,
        duration_ms=0.0,
        row_count=1,
        truncated=True,
    )
    failed = QueryRun.objects.create(
        **common,
        params={"name": "x"},
        classification={"verdict": "write"},
        status=RunStatus.FAILED,
        started_at=LATER.astimezone(ELSEWHERE),
        finished_at=LATER.replace(microsecond=0),
        duration_ms=12,
        row_count=0,
        error_code="query_timeout",
        error_message="canceling statement due to statement timeout",
    )
    # Ids of rows the representation names but never loads.
    failed.approval_request_id = 41
    failed.sandbox_id = 7
    # As the submission holds it: the status an enum member, the duration a float.
    fresh = QueryRun(**common, id=uuid.uuid4(), status=RunStatus.RUNNING, created_at=LATER, duration_ms=1.25)
    return [queued, hit, failed, QueryRun.objects.get(pk=hit.pk), fresh]


def test_a_runs_representation_is_what_drf_makes_of_its_declared_fields():
    for run in _runs():
        written_out = QueryRunSerializer(run).data
        field_by_field = serializers.ModelSerializer.to_representation(QueryRunSerializer(), run)
        assert list(written_out) == list(field_by_field) == QueryRunSerializer.Meta.fields
        assert written_out == field_by_field
        assert json.dumps(written_out) == json.dumps(field_by_field)
        assert [type(value) for value in written_out.values()] == [type(value) for value in field_by_field.values()]


def test_a_read_answers_with_its_run_in_that_representation(team):
    from tests.support.factories import client_for

    response = client_for(team.analyst).post(
        "/api/v1/queries", {"datasource": team.source.pk, "sql": "SELECT 1 AS one"}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    run = QueryRun.objects.get(pk=body["id"])
    expected = json.loads(json.dumps(serializers.ModelSerializer.to_representation(QueryRunSerializer(), run)))
    assert {key: body[key] for key in QueryRunSerializer.Meta.fields} == expected
    assert body["status"] == "succeeded" and body["verdict"] == "read" and body["datasource_name"] == team.source.name
