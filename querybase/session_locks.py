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
from dataclasses import dataclass

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


@dataclass
class SessionLock:
    """A session lock taken and given back inside statements that do other work as well
    (querybase.inserts: the row it guards is inserted, or its status moved, in the same
    statement), so holding it costs no round trip of its own. `held` says whether this
    process has it now; `release` gives it back on its own where no statement did.

    Where locks are not supported it counts as held, as `session_lock` yields True."""

    namespace: int
    key: int
    held: bool = False

    def take(self) -> bool:
        """Take it now, in a statement of its own (never waits); whether it was taken."""
        expression = self.take_sql()
        if expression is None:
            self.held = True
            return True
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {expression[0]}", expression[1])
            self.held = bool(cursor.fetchone()[0])
        return self.held

    def take_sql(self) -> tuple[str, list[int]] | None:
        """An SQL expression taking the lock (never waiting), true if it was taken, for the
        caller to evaluate and hand to `took`; None where locks are not supported."""
        return ("pg_try_advisory_lock(%s, %s)", [self.namespace, self.key]) if supported() else None

    def took(self, taken: object) -> None:
        self.held = bool(taken) or not supported()

    def release_sql(self) -> tuple[str, list[int]] | None:
        """An SQL expression giving the lock back, if held (None if not, or unsupported);
        the caller calls `released` once the statement holding it ran."""
        if not (self.held and supported()):
            return None
        return "pg_advisory_unlock(%s, %s)", [self.namespace, self.key]

    def released(self) -> None:
        self.held = False

    def release(self) -> None:
        """Give it back in a statement of its own, if no other statement did."""
        expression = self.release_sql()
        if expression is not None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {expression[0]}", expression[1])
        self.held = False


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
