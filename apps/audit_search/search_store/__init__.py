"""The audit search store: where the reports read, apart from the metadata database.

`get_store()` gives the backend AUDIT_SEARCH_URL names: `postgresql://…` (full-text
search in that database) or `sqlite:///path` (FTS5; the embedded default's file under
QUERYBASE_DATA_DIR). Backends implement `SearchStore` (base.py); the reports and the
indexers know nothing else about them.
"""

import os
import threading
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.audit_search.search_store.base import AuditDocument, AuditPage, AuditQuery, SearchStore

__all__ = ["AuditDocument", "AuditPage", "AuditQuery", "SearchStore", "get_store", "reset_store"]

_lock = threading.Lock()
_store: tuple[int, str, SearchStore] | None = None


def store_for(url: str) -> SearchStore:
    scheme = urlparse(url).scheme
    if scheme in ("postgresql", "postgres"):
        from apps.audit_search.search_store.postgresql import PostgresSearchStore

        return PostgresSearchStore(url)
    if scheme == "sqlite":
        from apps.audit_search.search_store.sqlite import SqliteSearchStore

        return SqliteSearchStore(Path("/" + urlparse(url).path.lstrip("/")))
    raise ImproperlyConfigured(f"AUDIT_SEARCH_URL: no audit search store for {scheme or 'an empty'} URL")


def get_store() -> SearchStore:
    """This process's store, made (and its schema ensured) on first use. A forked child
    makes its own: connections never cross a fork."""
    global _store
    url = settings.AUDIT_SEARCH_URL
    with _lock:
        if _store is None or _store[0] != os.getpid() or _store[1] != url:
            store = store_for(url)
            store.ensure_schema()
            _store = (os.getpid(), url, store)
        return _store[2]


def reset_store() -> None:
    """Forget this process's store (closing it), so the next get_store() starts afresh."""
    global _store
    with _lock:
        if _store is not None and _store[0] == os.getpid():
            _store[2].close()
        _store = None
