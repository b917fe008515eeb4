"""Connectors: engine-specific code behind one interface. Pick one with `connector_for`."""

from apps.datasources.connectors.base import (
    ConnectionSettings,
    ConnectionTestResult,
    Connector,
    ConnectorError,
    CredentialRole,
    QueryBaseOwnDatabase,
    Table,
    default_connect_timeout,
)
from apps.datasources.connectors.mysql import MySQLConnector
from apps.datasources.connectors.postgresql import PostgreSQLConnector
from apps.datasources.connectors.sqlite import SQLiteConnector

CONNECTORS: dict[str, type[Connector]] = {
    connector.engine: connector for connector in (PostgreSQLConnector, MySQLConnector, SQLiteConnector)
}


def connector_class(engine: str) -> type[Connector]:
    return CONNECTORS[engine]


def connector_for(datasource, role: CredentialRole) -> Connector:
    """A connector for `datasource` using the credentials for `role`.

    Reads use the source's separate read-only credentials when it has them.
    """
    use_read_credentials = role is CredentialRole.READ and datasource.has_read_credentials
    settings = ConnectionSettings(
        host=datasource.host,
        port=datasource.port,
        database=datasource.database,
        username=datasource.read_username if use_read_credentials else datasource.username,
        password=datasource.get_read_password() if use_read_credentials else datasource.get_password(),
        role=role,
        connect_timeout=default_connect_timeout(),
        statement_timeout_ms=datasource.statement_timeout_ms,
    )
    return connector_class(datasource.engine)(settings)


__all__ = [
    "CONNECTORS",
    "ConnectionSettings",
    "ConnectionTestResult",
    "Connector",
    "ConnectorError",
    "CredentialRole",
    "QueryBaseOwnDatabase",
    "Table",
    "connector_class",
    "connector_for",
]
