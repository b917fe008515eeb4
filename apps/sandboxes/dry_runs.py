"""Dry-runs of pending approval requests in a fresh copy of the source, instead of the
source itself, wherever the source has sandboxes on.

A copy is made from the current golden copy, the statements run and commit there, what
they changed is compared (apps/sandboxes/effects.py), and the copy is dropped. Since
nothing is rolled back on the source, even statements a rollback would not undo can be
tried. The copy's row (`for_dry_run`) exists so that upkeep drops it if this process
dies midway (it stays `creating` while in use, so upkeep fails and drops it only once
it is stale). SQL the sandbox wall refuses (it could reach beyond the copy) or of kinds
the source's sandboxes do not run is not tried here: the caller then applies the rules
of a dry-run on the source.
"""

from dataclasses import dataclass
from typing import Any

from apps.datasources.connectors.base import ConnectorError
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource
from apps.sandboxes.connectors import copy_connector
from apps.sandboxes.copies import copy_of_golden, drop_copy
from apps.sandboxes.effects import watch_changes
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.exceptions import SandboxUnavailable
from apps.sandboxes.golden import golden_for_copying
from apps.sandboxes.guard import outside_reach
from apps.sandboxes.models import Sandbox, SandboxState
from apps.sandboxes.naming import sandbox_name
from apps.sandboxes.state import move
from apps.sqlcore.classification import classify_sql
from apps.sqlcore.statements import BoundStatement


@dataclass(frozen=True)
class CopyDryRun:
    affected: list[int]
    changes: dict[str, Any]
    golden_refreshed_at: str
    sampled_tables: list[str]


def dry_run_in_copy(datasource: DataSource, sql: str, statements: list[BoundStatement]) -> CopyDryRun | None:
    """Run `statements` (the bound `sql`) in a fresh copy and drop it. None when the source
    has no sandboxes or the SQL is not for one. Raises ConnectorError if the SQL fails
    there, SandboxUnavailable if no copy could be made."""
    if not datasource.sandbox_enabled:
        return None
    classification = classify_sql(sql, datasource.engine)
    allowed = set(datasource.sandbox_write_kinds) - NEVER_IN_SANDBOXES
    if classification.write_kinds - allowed:
        return None
    name = sandbox_name(datasource)
    try:
        copies = copies_for(datasource)
        others = copies.other_databases(name)
    except (ConnectorError, CopyFailed, CredentialDecryptionError):
        return None  # the sandbox server cannot say: the source's own rules decide
    if outside_reach(sql, datasource.engine, other_databases=others) is not None:
        return None
    golden = golden_for_copying(datasource)
    sandbox = Sandbox.objects.create(
        datasource=datasource,
        database_name=name,
        golden=golden,
        sampled_tables=golden.sampled_tables,
        for_dry_run=True,
    )
    try:
        copies = copy_of_golden(datasource, golden.database_name, name)
        connector = copy_connector(copies, name, statement_timeout_ms=datasource.statement_timeout_ms)
        watch = watch_changes(copies, connector, name, sql, datasource.engine)
        affected = connector.run_write(statements, datasource.statement_timeout_ms)
        changes = watch.changes()
    except CopyFailed as error:
        raise SandboxUnavailable(f"No copy could be made for the dry-run: {error.message}") from error
    finally:
        # Creating until now: upkeep drops expired copies, and must not drop this one midway.
        move(sandbox, SandboxState.EXPIRED, sources=(SandboxState.CREATING,))
        drop_copy(sandbox)  # if the server does not answer now, upkeep drops the expired copy
    return CopyDryRun(
        affected=affected,
        changes=changes,
        golden_refreshed_at=golden.refreshed_at.isoformat(),
        sampled_tables=golden.sampled_tables,
    )
