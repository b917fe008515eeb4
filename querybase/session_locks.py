"""Session advisory locks on the metadata database: "is the process doing this still alive?"

A session lock lives exactly as long as the database connection of the process holding
it: a process that dies, however it dies, loses its locks when PostgreSQL notices the
connection is gone. So "status says in progress, lock is free" means "the process doing
it is gone", which is what the maintenance sweeper looks for.

Only PostgreSQL metadata has them. The embedded default (SQLite, eager Celery) runs
everything in one process, where there is nobody to race with and no sweeper runs.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

# First key of PostgreSQL's two-key advisory locks, one per kind of work: keeps ours apart
# from each other's and from other applications'.
APPROVAL_EXECUTION = 0x5142  # "QB", an approved request being executed
QUERY_RUN = 0x5152  # "QR", a read being run


def supported() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def session_lock(namespace: int, key: int) -> Iterator[bool]:
    """Yields whether this process got the lock (never waits); releases it on exit.

    Where locks are not supported, yields True: see the module docstring.
    """
    if not supported():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def held(namespace: int, keys: list[int]) -> set[int]:
    """Which of `keys` some live session holds, read from pg_locks without taking any: a
    look never gets in the way of the process it looks at."""
    if not supported():
        return set(keys)  # nobody can tell: everything counts as alive, so nothing is settled
    if not keys:
        return set()
    with connection.cursor() as cursor:
        # A two-key advisory lock shows its first key as classid, its second as objid.
        cursor.execute(
            "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted "
            "AND classid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [namespace],
        )
        taken = {row[0] for row in cursor.fetchall()}
    return taken & set(keys)
