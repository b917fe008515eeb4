"""Use case: export a read in a sandbox as CSV or JSON, from the sandbox's copy.

What is exported is what a read in the sandbox would show: the same checks as a run there
(`execution.plan_in_sandbox`: the owner, or a share for reads; a sandbox of that source,
ready; the wall around the copy), the restricted login (`sandbox_copy_connector`), the source's
row cap and time limit. The streaming itself is the source exports' own
(apps/queries/exports.py `export_read`), so memory stays flat here too.

An export of a run made in a sandbox (`GET /queries/{id}/export`) reads that sandbox
again; if its copy was reset or dropped since, the rows the run read are gone, and it
says so (`SandboxRowsGone`) rather than export anything else.
"""

from contextlib import AbstractContextManager

from django.contrib.auth.models import User

from apps.queries.exports import Export, ExportedRead, export_read
from apps.queries.models import QueryRun
from apps.queries.plan import limits_for
from apps.sandboxes.connectors import sandbox_copy_connector
from apps.sandboxes.exceptions import NotARead, SandboxRowsGone
from apps.sandboxes.execution import SandboxPlan, plan_in_sandbox
from apps.sandboxes.lifecycle import touch
from apps.sandboxes.models import SandboxState
from apps.sqlcore.parameters import Params
from querybase.types import ClientRequest

# States in which a sandbox's copy is gone for good.
_DROPPED_STATES = (SandboxState.EXPIRED, SandboxState.DELETED, SandboxState.FAILED)


def export_in_sandbox(
    user: User,
    *,
    sandbox_id: int,
    datasource_id: int,
    sql: str,
    params: Params,
    export_format: str,
    statement: int | None = None,
    share_token: str = "",
    request: ClientRequest | None = None,
) -> AbstractContextManager[Export]:
    """A context manager giving the export of a read in a sandbox as byte chunks (see
    apps/queries/exports.py `export_read`). Raises unless `user` may read there now;
    SQL that is not a read is refused, as an export on the source refuses it."""
    plan = plan_in_sandbox(
        user, sandbox_id=sandbox_id, datasource_id=datasource_id, sql=sql, params=params, share_token=share_token
    )
    return _export_planned(user, plan, sql, export_format=export_format, statement=statement, request=request)


def _export_planned(
    user: User,
    plan: SandboxPlan,
    sql: str,
    *,
    export_format: str,
    statement: int | None,
    request: ClientRequest | None,
) -> AbstractContextManager[Export]:
    if not plan.classification.is_read:
        raise NotARead(
            "Only a read can be exported: this SQL is not one. Run it in the sandbox, then export a read.",
            details={"classification": plan.classification.as_dict()},
        )
    sandbox, datasource = plan.sandbox, plan.datasource
    connector = sandbox_copy_connector(sandbox)
    read = ExportedRead(
        datasource=datasource,
        sql=sql,
        statements=plan.statements,
        connector=connector,
        limits=limits_for(datasource),
        sandbox_id=sandbox.pk,
    )
    exported = export_read(user, read, export_format=export_format, statement=statement, request=request)
    if plan.is_owner:
        touch(sandbox)  # an export is a use: the sandbox's idle time starts over
    return exported


def export_sandbox_run(
    user: User,
    run: QueryRun,
    *,
    export_format: str,
    statement: int | None = None,
    share_token: str = "",
    request: ClientRequest | None = None,
) -> AbstractContextManager[Export]:
    """The export of `run` (one the caller may see, made in a sandbox) from that sandbox's
    copy, if it still holds what the run read: not dropped, and not reset since."""
    sandbox = run.sandbox
    if sandbox is None or sandbox.state in _DROPPED_STATES:
        raise SandboxRowsGone(
            f"Sandbox #{run.sandbox_id}, where this run read, has been deleted: the rows it read are gone. "
            "Run the query again where you want to read it.",
            details={"sandbox": run.sandbox_id},
        )
    plan = plan_in_sandbox(
        user,
        sandbox_id=sandbox.pk,
        datasource_id=run.datasource_id,
        sql=run.sql,
        params=run.params,
        share_token=share_token,
    )
    # Told only to whoever may read there now (a stranger learns nothing of resets).
    if plan.sandbox.copied_at is not None and plan.sandbox.copied_at > run.created_at:
        raise SandboxRowsGone(
            f"Sandbox #{sandbox.pk}, where this run read, has been reset since: it no longer holds the rows "
            "the run read. Run the query again in the sandbox, then export that run.",
            details={"sandbox": sandbox.pk},
        )
    return _export_planned(user, plan, run.sql, export_format=export_format, statement=statement, request=request)
