"""Django's PostgreSQL backend for the metadata database, with a health check that costs
no round trip while the connection is well.

With CONN_HEALTH_CHECKS, Django asks a persistent connection `SELECT 1` before the first
query of every request, so that one the server ended meanwhile (restart, failover,
pg_terminate_backend, idle_session_timeout) is replaced instead of failing the request.
On a small read that was a third of the metadata round trips. An idle session has
nothing to say, so a readable socket means the server sent its goodbye (a FATAL message,
then EOF): only then is `SELECT 1` spent to be sure, as the source connectors do for
their pooled connections (apps/datasources/connectors/postgresql.py, `_hung_up`).
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        # poll, not select: a busy process may hold descriptors above select's 1024.
        poller = select.poll()
        poller.register(self.connection.fileno(), select.POLLIN)
        if not poller.poll(0):
            return True
        return super().is_usable()
