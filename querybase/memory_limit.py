"""A ceiling on the memory of each web and worker process (QUERYBASE_PROCESS_MEMORY_LIMIT_MB).

A read's rows arrive from the source a network chunk at a time (2,000 rows on
PostgreSQL, libpq's chunked rows): the process holds a whole chunk before any of our code
sees a row, so no check of ours can stop `SELECT repeat('x', 100000000) FROM
generate_series(1, 2000)` from asking for 200 GB. Without a ceiling the kernel's
out-of-memory killer settles it, and may pick the database. With one, the allocation
fails inside the driver, which reports it as an error of that read ("out of memory for
query result"): the read fails with `query_failed`, the connection stays usable, and the
process serves on.

RLIMIT_DATA (Linux 4.7 and later) counts the heap and private writable mappings, which is
what Python, libpq and mysqlclient allocate; it leaves out shared memory and the code.
"""

import resource

import structlog
from django.conf import settings

log = structlog.get_logger(__name__)


def apply_memory_limit() -> None:
    """Set this process's ceiling (inherited by the processes it forks), unless it is 0."""
    megabytes = settings.QUERYBASE_PROCESS_MEMORY_LIMIT_MB
    if megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard  # never above what the process was given
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    log.debug("process memory limit set", megabytes=limit // (1024 * 1024))
