"""Running SQL in the caller's sandbox: at once, without approval, within the kinds the
source allows, recorded in history as a sandbox run and audited.

The order is that of a read on the source: the owner and their rights now, then the
classification (fail closed: writes are still classified), the source's allowed kinds
(never DCL), the wall around the copy (apps/sandboxes/guard.py), then the parameters.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from apps.audit.services import record_event
from apps.datasources.connectors.base import BoundStatement, Connector, ConnectorError
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import NEVER_IN_SANDBOXES, DataSource
from apps.queries import result_store
from apps.queries.exceptions import CredentialMaterialRefused, EmptyQuery, QueryError
from apps.queries.locks import run_lock
from apps.queries.models import QueryRun, RunStatus
from apps.queries.plan import bind_statements, limits_for, sha256_of
from apps.queries.run_audit import record_run_end
from apps.queries.run_lifecycle import UNEXPECTED_FAILURE
from apps.queries.state import RUN_STATUS, announce_new_run
from apps.sandboxes.connectors import sandbox_copy_connector
from apps.sandboxes.effects import watch_changes
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.exceptions import (
    NotSandboxOwner,
    SandboxNotReady,
    SandboxOfAnotherSource,
    SandboxWriteRefused,
)
from apps.sandboxes.guard import outside_reach
from apps.sandboxes.lifecycle import sandbox_source, touch
from apps.sandboxes.models import USABLE_STATES, Sandbox, SandboxRunEffect
from apps.sandboxes.sharing import sandbox_to_run_in
from apps.sqlcore.classification import Classification, classify_sql
from apps.sqlcore.credential_reads import credential_material_read
from apps.sqlcore.parameters import Params
from querybase.errors import QueryBaseError
from querybase.logs import get_logger
from querybase.types import ClientRequest

logger = get_logger(__name__)


@dataclass(frozen=True)
class SandboxRun:
    run: QueryRun
    # What the API answers with: the first page of a read's result (its other pages as a
    # source read's are, GET /queries/{id}/results), or a write's whole result.
    result: dict[str, Any]


def run_in_sandbox(
    user: User,
    *,
    sandbox_id: int,
    datasource_id: int,
    sql: str,
    params: Params = None,
    share_token: str = "",
    request: ClientRequest | None = None,
) -> SandboxRun:
    """Run `sql` in the caller's own sandbox and answer with rows (a read: its first page)
    or the rows each statement affected (writes). Someone the owner shared a saved query
    in it with may run reads (apps/sandboxes/sharing.py); raises otherwise."""
    plan = plan_in_sandbox(
        user, sandbox_id=sandbox_id, datasource_id=datasource_id, sql=sql, params=params, share_token=share_token
    )
    run_id = uuid.uuid4()
    # Held while the run is `running`, as a source read's is (apps/queries/locks.py): the
    # sweeper leaves a live run alone, and settles one whose process died
    # (apps/queries/abandoned_runs.py: failed, never handed to the workers, who read sources).
    with run_lock(run_id):
        run = _start_run(user, plan.sandbox, sql, params, plan.classification, request, run_id=run_id)
        answer = _run(run, plan, sql)
    if plan.is_owner:
        touch(plan.sandbox)
    if not plan.classification.is_read:
        _measure(plan.sandbox)
    return SandboxRun(run=run, result=answer)


def _run(run: QueryRun, plan: "SandboxPlan", sql: str) -> dict[str, Any]:
    """Run the planned SQL for `run` in the copy and end the run (succeeded or failed,
    whatever happens); its answer: a read's first page or a write's result."""
    sandbox, datasource, classification = plan.sandbox, plan.datasource, plan.classification
    copies = copies_for(datasource)
    watch = None
    try:
        connector = sandbox_copy_connector(sandbox, copies)
        if classification.is_read:
            stored = _read(run, connector, datasource, plan.statements, classification)
            answer = stored.first_page
        else:
            watch = watch_changes(copies, connector, sandbox.database_name, sql, datasource.engine)
            started = time.monotonic()
            affected = connector.run_write(plan.statements, datasource.statement_timeout_ms)
            answer = write_result(classification, affected, took_ms=(time.monotonic() - started) * 1000)
        if watch is not None:
            answer["changes"] = _keep_effect(run, classification, answer["affected_rows"], watch)
            stored = result_store.store_result(run, answer)
    except ConnectorError as error:  # RowTooLarge too: a read's result is bounded as on the source
        raise _failed(run, error.code, error.message) from error
    except QueryBaseError as error:  # the sandbox's login or server, answered as they are
        raise _failed(run, error.code, error.message) from error
    except Exception:
        # A bug, not the copy: still, the run must not stay `running` for ever (as a read
        # on the source: apps/queries/run_lifecycle.py `attempt`).
        logger.exception("run %s in sandbox %s failed unexpectedly", run.pk, sandbox.pk)
        _finish(run, status=RunStatus.FAILED, error_code="internal_error", error_message=UNEXPECTED_FAILURE)
        raise
    _finish(run, status=RunStatus.SUCCEEDED, stored=stored)
    return answer


@dataclass(frozen=True)
class SandboxPlan:
    """SQL checked to run in a sandbox: by whom it may run there, classified, within the
    sandbox's wall, its parameters bound. Runs and exports (apps/sandboxes/exports.py) alike."""

    sandbox: Sandbox
    is_owner: bool
    datasource: DataSource
    classification: Classification
    statements: list[BoundStatement]


def plan_in_sandbox(
    user: User, *, sandbox_id: int, datasource_id: int, sql: str, params: Params = None, share_token: str = ""
) -> SandboxPlan:
    """The checks of SQL for a sandbox, in the order of a read on the source (the module's
    docstring); raises unless `user` may run `sql` there now."""
    sandbox, is_owner = sandbox_to_run_in(user, sandbox_id, share_token=share_token)
    if sandbox.datasource_id != datasource_id:
        raise SandboxOfAnotherSource("This sandbox is a copy of another data source.")
    datasource = sandbox_source(user, datasource_id)
    if sandbox.state not in USABLE_STATES:
        raise SandboxNotReady(f"The sandbox is {sandbox.state}.")
    classification = classify_sql(sql, datasource.engine)
    if not is_owner and not classification.is_empty and not classification.is_read:
        raise NotSandboxOwner("This sandbox is shared with you to read: only its owner writes in it.")
    _refuse(sandbox, datasource, sql, classification)
    statements = bind_statements(datasource, sql, params, classification)
    return SandboxPlan(sandbox, is_owner, datasource, classification, statements)


def _read(
    run: QueryRun,
    connector: Connector,
    datasource: DataSource,
    statements: list[BoundStatement],
    classification: Classification,
) -> result_store.StoredRows:
    """The read streamed into the result store a page at a time, as a read on the source
    is (result_store.read_into_store): the same row cap and byte bounds, every statement's
    result for SQL of several, and no process holding more than a page of it."""
    limits = limits_for(datasource)
    texts = [statement.text for statement in classification.statements]
    return result_store.read_into_store(run, connector, statements, limits, texts=texts)


def _failed(run: QueryRun, code: str, message: str) -> QueryError:
    """The run ends failed with the error, which the API then answers."""
    _finish(run, status=RunStatus.FAILED, error_code=code, error_message=message)
    return QueryError(code, message, details={"run": str(run.pk)})


def _keep_effect(run: QueryRun, classification: Classification, affected: list[int], watch) -> dict[str, Any]:
    """What the write did, kept with its run for a later promotion; answered too."""
    changes = watch.changes()
    SandboxRunEffect.objects.create(
        run=run,
        statements=[
            {
                "text": statement.text,
                "kind": statement.kind.value,
                "verdict": statement.verdict.value,
                "affected_rows": count,
            }
            for statement, count in zip(classification.statements, affected, strict=False)
        ],
        tables=changes["tables"],
        notes=changes["notes"],
    )
    return changes


def _measure(sandbox: Sandbox) -> None:
    """Keep the size administrators see current after writes (one catalog query)."""
    try:
        size = copies_for(sandbox.datasource).size_bytes(sandbox.database_name)
    except (CopyFailed, CredentialDecryptionError):
        return
    Sandbox.objects.filter(pk=sandbox.pk).update(size_bytes=size)
    sandbox.size_bytes = size


def _refuse(sandbox: Sandbox, datasource: DataSource, sql: str, classification: Classification) -> None:
    if classification.is_empty:
        raise EmptyQuery("The SQL contains no statement.")
    details = {"classification": classification.as_dict(), "allowed_write_kinds": datasource.sandbox_write_kinds}
    allowed = set(datasource.sandbox_write_kinds) - NEVER_IN_SANDBOXES
    refused = sorted(classification.write_kinds - allowed)
    if refused:
        raise SandboxWriteRefused(
            f"This source's sandboxes do not run {', '.join(kind.upper() for kind in refused)} statements.",
            details=details,
        )
    secret = credential_material_read(sql, datasource.engine)
    if secret is not None:
        raise CredentialMaterialRefused(f"QueryBase does not return credential material: {secret}.")
    try:
        others = copies_for(datasource).other_databases(sandbox.database_name)
    except CredentialDecryptionError as error:
        raise QueryError(CredentialDecryptionError.code, str(error)) from error
    except ConnectorError as error:
        raise QueryError(error.code, error.message) from error
    reason = outside_reach(sql, datasource.engine, other_databases=others)
    if reason is not None:
        raise SandboxWriteRefused(f"Refused in a sandbox: {reason}.", details=details)


def write_result(classification: Classification, affected: list[int], *, took_ms: float) -> dict[str, Any]:
    """Writes answer like a read, one row per statement, so a grid shows them as they are:
    one page, the whole of it (a statement's row is a few bytes)."""
    rows = [
        [index, statement.kind.value, count]
        for index, (statement, count) in enumerate(zip(classification.statements, affected, strict=False), start=1)
    ]
    return {
        "columns": [
            {"name": "statement", "type": "integer"},
            {"name": "kind", "type": "text"},
            {"name": "affected_rows", "type": "integer"},
        ],
        "rows": rows,
        "row_count": len(rows),
        "truncated": False,
        "took_ms": round(took_ms, 1),
        "affected_rows": affected,
        "page": 1,
        "page_count": 1,
    }


def _start_run(
    user: User,
    sandbox: Sandbox,
    sql: str,
    params: Params,
    classification: Classification,
    request: ClientRequest | None,
    *,
    run_id: uuid.UUID,
) -> QueryRun:
    run = QueryRun.objects.create(
        id=run_id,
        user=user,
        datasource=sandbox.datasource,
        sandbox=sandbox,
        sql=sql,
        sql_sha256=sha256_of(sql),
        params=params,
        classification=classification.as_dict(),
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        attempts=1,
    )
    record_event(
        "sandbox.query",
        actor=user,
        target=run,
        request=request,
        detail={
            "datasource": sandbox.datasource_id,
            "sandbox": sandbox.pk,
            "sql_sha256": run.sql_sha256,
            "sql": run.sql,
            "verdict": classification.verdict.value,
            "write_kinds": sorted(classification.write_kinds),
        },
    )
    announce_new_run(run)
    return run


def _finish(run: QueryRun, *, status: str, stored: result_store.StoredRows | None = None, **fields) -> None:
    """The run ends in `status`, with where its result is kept (`stored`, already written)."""
    finished = timezone.now()
    fields.update(finished_at=finished, duration_ms=(finished - (run.started_at or finished)).total_seconds() * 1000)
    if stored is not None:
        page = stored.first_page
        fields.update(row_count=page["row_count"], truncated=page["truncated"], result_location=stored.location)
    RUN_STATUS.move(
        run.pk,
        status,
        from_={RunStatus.RUNNING},
        then=lambda: record_run_end(run, status, fields),
        audience=[run.user_id],
        **fields,
    )
    run.status = status
    for name, value in fields.items():
        setattr(run, name, value)
