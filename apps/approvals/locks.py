"""The session lock held while an approved request executes."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# First key of PostgreSQL's two-key advisory locks: "QB" — keeps ours apart from others'.
_LOCK_NAMESPACE = 0x5142


@contextmanager
def execution_lock(request_id: int) -> Iterator[bool]:
    """Yields whether this process may execute request `request_id`.

    On PostgreSQL this is a session advisory lock on the metadata database: it lives
    exactly as long as the executing worker's connection, so a worker that dies loses
    it at once, and the next delivery can tell "in progress" from "interrupted".
    The embedded default (SQLite, eager Celery) runs everything in one process, where
    there is nobody to race with.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, request_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, request_id])
