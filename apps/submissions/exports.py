"""Use case: export a read, from where it is read. With a sandbox, its copy's rows
(apps/sandboxes/exports.py); without, the source's (apps/queries/exports.py). An
export of a run reads where the run read, never the source in a sandbox's stead."""

from contextlib import AbstractContextManager

from django.contrib.auth.models import User

from apps.queries import exports, runs
from apps.sandboxes.exports import export_in_sandbox, export_sandbox_run
from apps.sqlcore.parameters import Params
from querybase.types import ClientRequest


def export_sql(
    user: User,
    *,
    datasource_id: int,
    sql: str,
    params: Params,
    export_format: str,
    statement: int | None = None,
    sandbox_id: int | None = None,
    share_token: str = "",
    request: ClientRequest | None = None,
) -> AbstractContextManager[exports.Export]:
    """The export of `sql` on the source, or with `sandbox_id` in that sandbox, under the
    rules of a read there."""
    if sandbox_id is not None:
        return export_in_sandbox(
            user,
            sandbox_id=sandbox_id,
            datasource_id=datasource_id,
            sql=sql,
            params=params,
            export_format=export_format,
            statement=statement,
            share_token=share_token,
            request=request,
        )
    return exports.export_stream(
        user,
        datasource_id=datasource_id,
        sql=sql,
        params=params,
        export_format=export_format,
        statement=statement,
        request=request,
    )


def export_run(
    user: User,
    run_id,
    *,
    export_format: str,
    statement: int | None = None,
    share_token: str = "",
    request: ClientRequest | None = None,
) -> AbstractContextManager[exports.Export]:
    """The export of a run the caller may see, read again where the run read: its source,
    or its sandbox (which must still hold what the run read). Its rows are the source's: who
    may see the run but not read the source now is refused as the run's own answer refuses them."""
    run = runs.get_run_with_result(user, run_id)
    if run.sandbox_id is not None:
        return export_sandbox_run(
            user, run, export_format=export_format, statement=statement, share_token=share_token, request=request
        )
    return exports.export_stream(
        user,
        datasource_id=run.datasource_id,
        sql=run.sql,
        params=run.params,
        export_format=export_format,
        statement=statement,
        request=request,
    )
