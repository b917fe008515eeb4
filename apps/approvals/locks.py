"""The session lock held while an approved request executes."""

from collections.abc import Iterator
from contextlib import contextmanager

from querybase.session_locks import APPROVAL_EXECUTION, session_lock


@contextmanager
def execution_lock(request_id: int) -> Iterator[bool]:
    """Yields whether this process may execute request `request_id`.

    A session advisory lock on the metadata database (querybase.session_locks): it lives
    exactly as long as the executing worker's connection, so a worker that dies loses it
    at once, and the next delivery or the sweeper can tell "in progress" from "interrupted".
    """
    with session_lock(APPROVAL_EXECUTION, request_id) as acquired:
        yield acquired
