"""Both search store backends answer the same questions the same way: PostgreSQL full
text (the suite's AUDIT_SEARCH_URL database) and SQLite FTS5 (the embedded default's)."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.audit_search.search_store import AuditDocument, AuditQuery, store_for
from apps.audit_search.search_store.sqlite import SqliteSearchStore

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_store(request, store, tmp_path):
    if request.param == "postgresql":
        yield store
        return
    sqlite = store_for(f"sqlite:///{tmp_path / 'audit_search.sqlite3'}")
    assert isinstance(sqlite, SqliteSearchStore)
    sqlite.ensure_schema()
    yield sqlite
    sqlite.close()


def _document(event_id: int, minutes: int, **fields) -> AuditDocument:
    return AuditDocument(event_id=event_id, created_at=T0 + timedelta(minutes=minutes), **fields)


@pytest.fixture
def documents(any_store):
    any_store.upsert(
        [
            _document(
                1,
                0,
                action="query.run",
                actor="ana",
                object_type="queries.queryrun",
                object_id="r1",
                datasource_id=7,
                sql="SELECT * FROM public.orders WHERE id = 42",
                tables=("orders", "public.orders"),
                keys=("42",),
            ),
            _document(
                2,
                1,
                action="query.finished",
                actor="ana",
                object_type="queries.queryrun",
                object_id="r1",
                datasource_id=7,
                outcome="failed",
                error="query_failed: permission denied for table orders",
                tables=("orders", "public.orders"),
                keys=("42",),
            ),
            _document(3, 2, action="approval.review", actor="ray", text="Looks right to me", datasource_id=8),
        ]
    )
    return any_store


def _ids(store, **query) -> list[int]:
    return [document.event_id for document in store.search(AuditQuery(**query), offset=0, limit=50).documents]


def test_filters_each_find_their_documents(documents):
    assert _ids(documents) == [3, 2, 1]
    assert _ids(documents, oldest_first=True) == [1, 2, 3]
    assert _ids(documents, actor="ana") == [2, 1]
    assert _ids(documents, datasource_id=7, table="ORDERS") == [2, 1]
    assert _ids(documents, table="public.orders", key="42") == [2, 1]
    assert _ids(documents, table="orders", key="43") == []
    assert _ids(documents, after=T0 + timedelta(minutes=1)) == [3, 2]
    assert _ids(documents, before=T0 + timedelta(minutes=1)) == [1]
    assert _ids(documents, action="approval.review") == [3]


def test_full_text_needs_every_word(documents):
    assert _ids(documents, text="looks RIGHT") == [3]
    assert _ids(documents, text="public.orders") == [2, 1]
    assert _ids(documents, text="permission denied") == [2]
    assert _ids(documents, text="looks wrong") == []
    assert _ids(documents, text='" OR 1=1 -- NEAR(') == []  # the engines' query syntax never applies


def test_a_run_shows_how_it_ended_and_a_repeated_upsert_changes_nothing(documents):
    first = documents.search(AuditQuery(action="query.run"), offset=0, limit=1).documents[0]
    assert (first.outcome, first.error) == ("failed", "query_failed: permission denied for table orders")
    documents.upsert([_document(1, 0, action="query.run", actor="ana", object_type="queries.queryrun", object_id="r1")])
    assert documents.count() == 3
    assert documents.event_ids() == [1, 2, 3]


def test_pages(documents):
    first = documents.search(AuditQuery(), offset=0, limit=2)
    second = documents.search(AuditQuery(), offset=2, limit=2)
    assert [d.event_id for d in first.documents] == [3, 2] and first.has_more
    assert [d.event_id for d in second.documents] == [1] and not second.has_more
