"""Indexers copy the outbox into the search store: in parallel, each event once, nothing
lost when one is killed mid-batch, when indexing is down, or when transactions commit out
of order."""

import os
import re
import signal
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import override_settings

from apps.audit.models import OutboxEntry
from apps.audit.services import record_event
from apps.audit_search import indexer
from apps.audit_search.search_store import AuditQuery, reset_store
from querybase.celery import app
from tests.audit.conftest import bulk_events, index_everything, start_indexer

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_an_event_indexed_twice_stays_one_document(store):
    event = record_event("test.event", detail={"comment": "twice"})
    batch = indexer.claim_batch("first", lease_seconds=30)
    indexer.index_batch(batch)
    # A slow indexer whose lease was taken over writes the same batch again.
    indexer.index_batch(indexer.Batch(owner="slow", entry_ids=batch.entry_ids, event_ids=batch.event_ids))
    assert store.event_ids() == [event.pk]
    assert not OutboxEntry.objects.exists()


def test_a_leased_batch_is_not_claimed_by_another_indexer_until_its_lease_runs_out(store):
    bulk_events(10)
    first = indexer.claim_batch("first", size=100, lease_seconds=1)
    assert len(first.entry_ids) == 10
    assert indexer.claim_batch("second", size=100, lease_seconds=30) is None
    time.sleep(1.1)
    second = indexer.claim_batch("second", size=100, lease_seconds=30)
    assert second.entry_ids == first.entry_ids
    indexer.index_batch(second)
    indexer.index_batch(first)  # the first finishes late: it no longer holds the entries
    assert store.count() == 10
    assert not OutboxEntry.objects.exists()


def test_an_event_committed_after_a_later_one_was_indexed_is_still_indexed(store):
    """Polling "ids above the last one indexed" would lose the first event: its id is
    smaller, but its transaction commits after the second event was indexed."""
    opened, may_commit = threading.Event(), threading.Event()
    early_ids = []

    def slow_transaction():
        try:
            with transaction.atomic():
                early_ids.append(record_event("test.early").pk)
                opened.set()
                may_commit.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert opened.wait(30)
    late = record_event("test.late")
    assert late.pk > early_ids[0]
    index_everything_visible = indexer.index_until_empty("test-indexer", wait_for_leases=False)
    assert index_everything_visible == 1
    assert store.event_ids() == [late.pk]
    may_commit.set()
    thread.join()
    index_everything()
    assert store.event_ids() == sorted([early_ids[0], late.pk])


def test_indexing_down_for_a_while_then_catches_up(store, settings):
    ids = [record_event("test.event", detail={"n": number}).pk for number in range(30)]
    # The store is unreachable: the indexer fails, the events wait in the outbox.
    settings.AUDIT_SEARCH_URL = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
    reset_store()
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises for a closed port
        indexer.index_once("while-down", lease_seconds=1)
    assert OutboxEntry.objects.count() == 30
    # Back up: the failed batch is taken again once its lease has run out.
    settings.AUDIT_SEARCH_URL = os.environ["AUDIT_SEARCH_URL"]
    reset_store()
    time.sleep(1.1)
    index_everything()
    assert store.event_ids() == ids
    assert not OutboxEntry.objects.exists()


def test_a_consumer_killed_mid_batch_loses_its_lease_and_another_finishes_the_batch(store):
    ids = bulk_events(1000)
    victim = start_indexer("--owner", "victim", "--batch-size", "5000", "--lease-seconds", "3", "--hold-seconds", "600")
    try:
        _wait_for(lambda: OutboxEntry.objects.filter(lease_owner="victim").count() == 1000, what="the victim's claim")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert store.count() == 0
    assert OutboxEntry.objects.filter(lease_owner="victim").count() == 1000

    rescuer = start_indexer("--owner", "rescuer", "--until-empty", "--lease-seconds", "30", "--poll-seconds", "0.2")
    out, err = rescuer.communicate(timeout=120)
    assert rescuer.returncode == 0, err
    assert "indexed 1000 events" in out
    assert store.event_ids() == ids
    assert not OutboxEntry.objects.exists()


def test_four_consumers_index_every_event_exactly_once(store):
    ids = bulk_events(20_000)
    consumers = [
        start_indexer("--owner", f"consumer-{number}", "--until-empty", "--batch-size", "250", "--poll-seconds", "0.2")
        for number in range(4)
    ]
    counts = []
    for consumer in consumers:
        out, err = consumer.communicate(timeout=600)
        assert consumer.returncode == 0, err
        counts.append(int(re.search(r"indexed (\d+) events", out).group(1)))
    # Every event in the store once, and claimed by exactly one consumer: the counts add up.
    assert store.event_ids() == ids
    assert sum(counts) == 20_000
    assert sum(1 for count in counts if count) >= 2, counts  # they did run side by side
    assert not OutboxEntry.objects.exists()


def test_the_scheduled_task_indexes_the_outbox(store, celery_worker):
    event = record_event("test.scheduled", detail={"reason": "beat runs the indexer"})
    result = app.tasks["maintenance.index_audit_outbox"].delay()
    assert result.get(timeout=60) >= 1
    found = store.search(AuditQuery(text="beat runs the indexer"), offset=0, limit=10)
    assert [document.event_id for document in found.documents] == [event.pk]


@override_settings(CELERY_TASK_ALWAYS_EAGER=True)
def test_the_embedded_default_indexes_right_after_the_commit(store):
    event = record_event("test.embedded")
    assert store.event_ids() == [event.pk]
