"""The metrics endpoint says how far the audit search is behind."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.audit.services import record_event
from tests.audit.conftest import index_everything

pytestmark = pytest.mark.django_db


def _gauges(admin_client) -> dict[str, float]:
    response = admin_client.get("/api/v1/metrics", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name.startswith("querybase_audit_outbox")
    }


def test_pending_audit_events_show_in_the_metrics_until_indexed(admin_client, store, settings):
    settings.CELERY_BROKER_URL = "memory://"  # this test is about the database's figures only
    for number in range(3):
        record_event("test.event", detail={"n": number})
    waiting = _gauges(admin_client)
    assert waiting["querybase_audit_outbox_pending"] == 3
    assert waiting["querybase_audit_outbox_oldest_seconds"] >= 0
    index_everything()
    assert _gauges(admin_client) == {
        "querybase_audit_outbox_pending": 0.0,
        "querybase_audit_outbox_oldest_seconds": 0.0,
    }
