"""The statement plan, one for reads and write requests alike: the user's rights on the
source first, then the classification (fail closed, with the source's own function
catalog), then the parameters bound in the driver's style. This order is the security
design (docs/architecture.md §2): nothing about the SQL is looked at, cached or run
before the rights are known, and nothing runs that was not classified."""

import hashlib
import json
from dataclasses import dataclass

from django.contrib.auth.models import User

from apps.datasources.access import Action, rights_on
from apps.datasources.connectors import connector_class
from apps.datasources.connectors.base import (
    ConnectorError,
    QueryLimits,
)
from apps.datasources.credential_audit import refuse_reads_unless_least_privilege
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource
from apps.queries import function_catalog
from apps.queries.exceptions import (
    ApprovalRequired,
    CredentialMaterialRefused,
    DataSourceNotFound,
    EmptyQuery,
    InvalidParameters,
    QueryError,
)
from apps.sqlcore.classification import Classification, classify_sql
from apps.sqlcore.credential_reads import credential_material_read
from apps.sqlcore.errors import SqlCoreError
from apps.sqlcore.parameters import Params, bind
from apps.sqlcore.statements import BoundStatement
from querybase.errors import NotAllowed


@dataclass(frozen=True)
class PreparedRead:
    datasource: DataSource
    sql: str
    params: Params
    classification: Classification
    statements: list[BoundStatement]


def source_to_query(user: User, datasource_id: int) -> tuple[DataSource, bool, bool]:
    """The source, and whether `user` may read it and request writes on it; raises unless either."""
    datasource, rights = rights_on(user, datasource_id)
    if datasource is None:
        raise DataSourceNotFound("No data source with this id, or you have no rights on it.")
    may_read, may_write = Action.READ in rights, Action.WRITE in rights
    if not may_read and not may_write:
        raise NotAllowed("You may not run queries on this data source.")
    return datasource, may_read, may_write


def prepare_read(user: User, *, datasource_id: int, sql: str, params: Params) -> PreparedRead:
    """Rights, classification and parameters, in that order; raises unless this is a read `user` may run."""
    datasource, may_read, may_write = source_to_query(user, datasource_id)
    classification = classify_for_source(datasource, sql)
    if classification.is_empty:
        raise EmptyQuery("The SQL contains no statement.")
    if not classification.is_read:
        _refuse_write(classification, may_write, sandbox=_sandbox_offer(datasource, classification, may_read))
    if not may_read:
        raise NotAllowed("You may not read this data source.")
    refuse_reads_unless_least_privilege(datasource)
    secret = credential_material_read(sql, datasource.engine)
    if secret is not None:
        raise CredentialMaterialRefused(f"QueryBase does not return credential material: {secret}.")
    statements = bind_statements(datasource, sql, params, classification)
    return PreparedRead(datasource, sql, params, classification, statements)


def classify_for_source(datasource: DataSource, sql: str) -> Classification:
    """The classifier's verdict, with the source's own catalog asked about the functions a
    read calls and the views it reads (see apps/queries/function_catalog.py): writes and requests use this too,
    so a read the catalog turns into a write can become an approval request."""
    classification = classify_sql(sql, datasource.engine)
    if not classification.is_read:
        return classification
    try:
        unsafe = function_catalog.unsafe_functions(
            datasource, classification.called_functions, classification.attribute_names
        )
        hidden = {f"view:{name}": why for name, why in function_catalog.unsafe_views(datasource, sql).items()}
        hidden.update(function_catalog.hidden_callers(datasource, sql))
    except ConnectorError as error:
        raise QueryError.of_connector(error) from error
    except CredentialDecryptionError as error:
        raise QueryError(CredentialDecryptionError.code, str(error)) from error
    if not unsafe and not hidden:
        return classification
    return classify_sql(sql, datasource.engine, unsafe_functions=unsafe, hidden_calls=hidden)


def _sandbox_offer(datasource: DataSource, classification: Classification, may_read: bool) -> dict | None:
    """The one-click path: where the caller could run this write in their own sandbox of
    the source at once (sandboxes on, the caller may read, kinds the sandboxes run)."""
    allowed = set(datasource.sandbox_write_kinds) - NEVER_IN_SANDBOXES
    if not (datasource.sandbox_enabled and may_read) or classification.write_kinds - allowed:
        return None
    return {"datasource": datasource.pk, "url": f"/api/v1/datasources/{datasource.pk}/sandbox"}


def _refuse_write(classification: Classification, may_write: bool, *, sandbox: dict | None) -> None:
    details: dict = {"classification": classification.as_dict()}
    if sandbox is not None:
        details["sandbox"] = sandbox
    if not may_write:
        # "Not a read", not "writes": side-effecting calls (pg_sleep, nextval, locks) land here too.
        raise NotAllowed(
            "This SQL is not a read (it writes, or calls something with side effects), and you may not "
            "request writes on this data source.",
            details=details,
        )
    raise ApprovalRequired("This SQL is not a read: it needs an approval request before it can run.", details=details)


def bind_statements(
    datasource: DataSource, sql: str, params: Params, classification: Classification
) -> list[BoundStatement]:
    """The statements to run, with `params` bound in the driver's style; raises
    InvalidParameters when they do not fit the placeholders."""
    try:
        return _bound(datasource, sql, params, classification)
    except SqlCoreError as error:
        raise InvalidParameters(error.message, details=error.details) from error


def _bound(datasource: DataSource, sql: str, params: Params, classification: Classification) -> list[BoundStatement]:
    style = connector_class(datasource.engine).param_style
    if len(classification.statements) == 1:
        return [bind(sql, params, dialect=datasource.engine, style=style)]
    if params:
        raise InvalidParameters("Parameters can only be used with a single statement.")
    # The classifier already cut the script into exact statement texts: running those
    # runs exactly what was classified, and a second split would cost as much again
    # (about 2 s for 100,000 statements). A statement without `$` or `:` cannot hold a
    # placeholder, so it needs no second scan to be bound.
    return [
        bind(statement.text, None, dialect=datasource.engine, style=style)
        if "$" in statement.text or ":" in statement.text
        else BoundStatement(statement.text)
        for statement in classification.statements
    ]


def sha256_of(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def params_sha256_of(params: Params) -> str:
    """SHA-256 of parameters in one spelling (sorted keys, no spaces, ASCII): the digest
    of what an approval binds. Take it of the parameters as the database gives them back
    (jsonb reorders keys and respells numbers), so that execution, which reads them back
    too, computes the same."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def limits_for(datasource: DataSource) -> QueryLimits:
    return QueryLimits(max_rows=datasource.max_rows, timeout_ms=datasource.statement_timeout_ms)
