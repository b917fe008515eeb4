"""Connectors that run SQL in a sandbox copy: the source's connectors, without a pool.

A sandbox is used by one person now and then, and is dropped or replaced whole. A
connection pool per copy (the PostgreSQL connector keeps one per set of settings) would
keep worker threads and idle sessions alive for every copy ever used, sessions that a
reset or delete must then force out. One connection per run costs a few milliseconds.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from apps.datasources.connectors import connector_class
from apps.datasources.connectors.base import ConnectionSettings, Connector
from apps.datasources.connectors.postgresql import PostgreSQLConnector, _configure


class UnpooledPostgreSQLConnector(PostgreSQLConnector):
    @contextmanager
    def _pooled_connection(self) -> Iterator[psycopg.Connection]:
        with self.connect() as connection:
            _configure(connection)
            yield connection


def sandbox_connector(engine: str, settings: ConnectionSettings) -> Connector:
    if engine == PostgreSQLConnector.engine:
        return UnpooledPostgreSQLConnector(settings)
    return connector_class(engine)(settings)
