"""Copy mechanics per engine, behind one interface (`CopyEngine`). Pick one with `copies_for`."""

from django.conf import settings

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.models import DataSource
from apps.sandboxes.engines.base import (
    CopyEngine,
    CopyFailed,
    GoldenReport,
    LoginRightsMissing,
    NotConnected,
    SandboxLogin,
    SandboxServer,
)
from apps.sandboxes.engines.mysql import MySQLCopies
from apps.sandboxes.engines.postgresql import PostgreSQLCopies
from apps.sandboxes.engines.sqlite import SQLiteCopies
from apps.sandboxes.models import SandboxRole

COPY_ENGINES: dict[str, type[CopyEngine]] = {
    engine.engine: engine for engine in (PostgreSQLCopies, MySQLCopies, SQLiteCopies)
}


def sandbox_server(datasource: DataSource) -> SandboxServer:
    """Where `datasource`'s copies live: its sandbox server if one is set, else its own
    server with its main (owner) credentials."""
    timeout = settings.QUERYBASE_CONNECT_TIMEOUT
    if datasource.has_sandbox_server:
        return SandboxServer(
            host=datasource.sandbox_host,
            port=datasource.sandbox_port,
            username=datasource.sandbox_username,
            password=datasource.get_sandbox_password(),
            connect_timeout=timeout,
        )
    return SandboxServer(
        host=datasource.host,
        port=datasource.port,
        username=datasource.username,
        password=datasource.get_password(),
        connect_timeout=timeout,
    )


def copies_for(datasource: DataSource) -> CopyEngine:
    """The copy mechanics of `datasource`'s engine; the source is read with its read
    credentials, users' SQL runs on the sandbox server as the copy's own restricted login
    (None until apps.sandboxes.roles made it)."""
    source = connector_for(datasource, CredentialRole.READ).settings
    server = sandbox_server(datasource)
    return COPY_ENGINES[datasource.engine](
        server,
        source,
        shared_login=shared_login(datasource, server),
        copy_logins=lambda name: copy_login(datasource, server, name),
    )


def shared_login(datasource: DataSource, server: SandboxServer) -> SandboxLogin | None:
    """The login that served all of the source's copies on `server` before each had its
    own, until upkeep has adopted them and dropped it."""
    role = SandboxRole.objects.filter(
        datasource=datasource, server=server.key, database_name="", dropped_at=None
    ).first()
    return SandboxLogin(name=role.name, password=role.get_password()) if role else None


def copy_login(datasource: DataSource, server: SandboxServer, name: str) -> SandboxLogin | None:
    """Copy `name`'s own login on `server`."""
    role = SandboxRole.objects.filter(
        datasource=datasource, server=server.key, database_name=name, dropped_at=None
    ).first()
    return SandboxLogin(name=role.name, password=role.get_password()) if role else None


__all__ = [
    "COPY_ENGINES",
    "CopyEngine",
    "CopyFailed",
    "GoldenReport",
    "LoginRightsMissing",
    "NotConnected",
    "SandboxLogin",
    "SandboxServer",
    "copies_for",
    "copy_login",
    "sandbox_server",
    "shared_login",
]
