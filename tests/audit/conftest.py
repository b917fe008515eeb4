"""The audit search store (AUDIT_SEARCH_URL: its own PostgreSQL database in the suite),
emptied around each test, and the people who may read it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit_search import indexer

# The CLI's fixtures, for the audit commands. (The audit page's browser test lives in
# tests/web, beside the one session-wide browser: a second Playwright would fail.)
from tests.clients.conftest import cli, server_url, shop_world  # noqa: F401
from tests.support.audit import emptied_store, make_auditor
from tests.support.worker import suite_database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store():
    with emptied_store() as emptied:
        yield emptied


@pytest.fixture
def auditor(db):
    return make_auditor()


def index_everything() -> int:
    return indexer.index_until_empty("test-indexer", lease_seconds=30)


def bulk_events(count: int, *, action: str = "bulk.event", actor: str = "bulk") -> list[int]:
    """`count` events, written fast (as a burst of activity would); the database adds their
    outbox entries."""
    now = timezone.now()
    events = AuditEvent.objects.bulk_create(
        [
            AuditEvent(created_at=now, actor_username=actor, action=action, detail={"n": number})
            for number in range(count)
        ],
        batch_size=5000,
    )
    return [event.pk for event in events]


def start_indexer(*args: str) -> subprocess.Popen:
    """`manage.py audit_indexer` as a process of its own, on the suite's database."""
    env = {**os.environ, "DATABASE_URL": suite_database_url()}
    return subprocess.Popen(
        [sys.executable, "manage.py", "audit_indexer", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
