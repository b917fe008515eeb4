"""The PostgreSQL connector's pool, reporting its use to the metrics endpoint.

Each connection taken or given back refreshes the pool gauges of this process
(querybase/metrics.py); a scrape refreshes them too, since a pool also closes idle
connections on its own.
"""

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from querybase import metrics


class MeteredConnectionPool(ConnectionPool):
    def __init__(self, *args: Any, source: str, role: str, **kwargs: Any) -> None:
        # `source` names the server and database, never the credentials.
        super().__init__(*args, **kwargs)
        self._gauges = metrics.PoolGauges(pool=self.name, source=source, role=role)

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        connection = super().getconn(timeout)
        self.publish_stats()
        return connection

    def putconn(self, conn: psycopg.Connection) -> None:
        super().putconn(conn)
        self.publish_stats()

    def publish_stats(self) -> None:
        self._gauges.publish(self.get_stats())
