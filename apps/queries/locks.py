"""The session lock held while a process runs a read (querybase.session_locks)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from querybase import session_locks


def lock_key(run_id: uuid.UUID | str) -> int:
    """A run's key among the QUERY_RUN locks: 31 bits of its UUID. Two runs sharing a key
    only make one of them look alive a little longer: the lock says "alive", it excludes
    nobody (the conditional claim does that)."""
    return int.from_bytes(uuid.UUID(str(run_id)).bytes[:4], "big") & 0x7FFFFFFF


@contextmanager
def run_lock(run_id: uuid.UUID | str, *, taken_with_row: bool = False) -> Iterator[session_locks.SessionLock]:
    """Held from before a run is claimed until after it has finished or been handed back,
    so "running, and nobody holds its lock" means the process running it is gone.

    Taken here, unless `taken_with_row`: then the statement that inserts the run (created
    already claimed) takes it (`SessionLock.take_sql`). The statement that ends the run
    gives it back (`release_sql`); whatever still holds it on leaving is given back here."""
    lock = session_locks.SessionLock(session_locks.QUERY_RUN, lock_key(run_id))
    if not taken_with_row:
        lock.take()
    try:
        yield lock
    finally:
        lock.release()


def runs_with_live_process(run_ids: list) -> set:
    """Which of `run_ids` a live process holds the lock of."""
    keys = {lock_key(run_id): run_id for run_id in run_ids}
    held = session_locks.held(session_locks.QUERY_RUN, list(keys))
    return {run_id for run_id in run_ids if lock_key(run_id) in held}
