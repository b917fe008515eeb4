"""A sandbox's schema with its indexes, and "+ index": CREATE INDEX built from names the
copy's own catalog holds, run in the owner's sandbox like any of their SQL (classified as
DDL, limited to the source's sandbox kinds, audited, in history, promotable)."""

import re

from django.contrib.auth.models import User

from apps.audit.services import record_event
from apps.datasources.connectors.base import ConnectorError, Table
from apps.queries.exceptions import QueryError
from apps.sandboxes.connectors import sandbox_copy_connector
from apps.sandboxes.engines import copies_for
from apps.sandboxes.exceptions import SandboxNotReady
from apps.sandboxes.execution import SandboxRun, run_in_sandbox
from apps.sandboxes.lifecycle import owned_sandbox, sandbox_source
from apps.sandboxes.models import USABLE_STATES, Sandbox
from apps.sandboxes.sharing import sandbox_to_run_in
from querybase.errors import InvalidInput
from querybase.types import ClientRequest

# A name a user may give an index: plain, so it reads the same quoted or not, on every engine.
INDEX_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_INDEX_COLUMNS = 16


def sandbox_schema(user: User, sandbox_id: int, *, share_token: str = "") -> list[Table]:
    """Tables, columns and indexes of the copy, for its owner or those it is shared with."""
    sandbox, _ = sandbox_to_run_in(user, sandbox_id, share_token=share_token)
    sandbox_source(user, sandbox.datasource_id)
    return copy_catalog(sandbox)


def copy_catalog(sandbox: Sandbox) -> list[Table]:
    if sandbox.state not in USABLE_STATES:
        raise SandboxNotReady(f"The sandbox is {sandbox.state}.")
    connector = sandbox_copy_connector(sandbox)
    try:
        return connector.schema()
    except ConnectorError as error:
        raise QueryError(error.code, error.message) from error


def create_index(
    user: User,
    sandbox_id: int,
    *,
    table: str,
    columns: list[str],
    unique: bool = False,
    name: str = "",
    schema: str = "",
    request: ClientRequest | None = None,
) -> SandboxRun:
    """CREATE [UNIQUE] INDEX on `table` (`columns` in order) in the owner's sandbox."""
    sandbox = owned_sandbox(user, sandbox_id)
    sandbox_source(user, sandbox.datasource_id)
    catalog = copy_catalog(sandbox)
    target = _table(catalog, table, schema)
    _check_columns(target, columns)
    # PostgreSQL names indexes per schema, not per table.
    existing = {index.name.lower() for other in catalog if other.schema == target.schema for index in other.indexes}
    if name:
        if not INDEX_NAME.match(name):
            raise InvalidInput(
                "An index name is letters, digits and underscores, at most 63, not starting with a digit.",
                details={"name": ["Not a plain name."]},
            )
        if name.lower() in existing:
            raise InvalidInput("An index of this name exists already.", details={"name": ["Already used."]})
    else:
        name = _generated_name(target.name, columns, existing)
    copies = copies_for(sandbox.datasource)
    sql = (
        f"CREATE {'UNIQUE ' if unique else ''}INDEX {copies.quote_name(name)} "
        f"ON {copies.quote_table(target.schema, target.name)} ({', '.join(copies.quote_name(c) for c in columns)})"
    )
    outcome = run_in_sandbox(user, sandbox_id=sandbox.pk, datasource_id=sandbox.datasource_id, sql=sql, request=request)
    record_event(
        "sandbox.create_index",
        actor=user,
        target=sandbox,
        request=request,
        detail={"table": target.name, "index": name, "columns": columns, "unique": unique, "run": str(outcome.run.pk)},
    )
    return outcome


def _table(catalog: list[Table], name: str, schema: str) -> Table:
    found = [table for table in catalog if table.name == name and (not schema or table.schema == schema)]
    if not found:
        raise InvalidInput("The sandbox has no table of this name.", details={"table": ["No such table."]})
    if len(found) > 1:
        raise InvalidInput("Tables of this name are in several schemas: say which.", details={"schema": ["Required."]})
    if found[0].kind != "table":
        raise InvalidInput("Only a table can have an index.", details={"table": ["Not a table."]})
    return found[0]


def _check_columns(table: Table, columns: list[str]) -> None:
    if not columns or len(columns) > MAX_INDEX_COLUMNS:
        raise InvalidInput(
            f"An index has 1 to {MAX_INDEX_COLUMNS} columns.", details={"columns": ["Wrong number of columns."]}
        )
    if len(set(columns)) != len(columns):
        raise InvalidInput("A column is named twice.", details={"columns": ["Repeated."]})
    known = {column.name for column in table.columns}
    unknown = [column for column in columns if column not in known]
    if unknown:
        raise InvalidInput(f"{table.name} has no column {', '.join(unknown)}.", details={"columns": unknown})


def _generated_name(table: str, columns: list[str], existing: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", f"{table}_{'_'.join(columns)}").strip("_") or "index"
    stem = ("i_" + stem if stem[0].isdigit() else stem)[:55]
    name, number = f"{stem}_idx", 1
    while name.lower() in existing:
        number += 1
        name = f"{stem}_idx{number}"
    return name
