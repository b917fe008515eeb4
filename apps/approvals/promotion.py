"""Use case: "Request this on the real source". The writes run in a sandbox since it was
made or last reset, in order, become one approval request, made by the approvals'
own use case (rights to request writes, classification, the source's write kinds,
parameters, SHA-256 freeze, notifications). What they did in the sandbox goes with it.
"""

from typing import Any

from django.contrib.auth.models import User

from apps.approvals.creation import create_request
from apps.approvals.models import ApprovalRequest
from apps.queries.models import QueryRun, RunStatus
from apps.sandboxes.exceptions import NothingToPromote, PromotionRefused
from apps.sandboxes.lifecycle import owned_sandbox
from apps.sandboxes.models import Sandbox, SandboxRunEffect
from apps.sqlcore.classification import classify_sql
from querybase.types import ClientRequest


def promote(
    user: User,
    sandbox_id: int,
    *,
    run_ids: list[str] | None = None,
    reason: str = "",
    request: ClientRequest | None = None,
) -> ApprovalRequest:
    """One approval request on the source for the sandbox's writes (all since the copy was
    made, or the runs named in `run_ids`, kept in the order they ran). Only the owner may."""
    sandbox = owned_sandbox(user, sandbox_id)
    runs = promotable_runs(sandbox)
    if run_ids is not None:
        wanted = {str(run_id) for run_id in run_ids}
        unknown = wanted - {str(run.pk) for run in runs}
        if unknown:
            raise PromotionRefused(
                "Some runs are not writes that succeeded in this sandbox since it was made or reset.",
                details={"runs": sorted(unknown)},
            )
        runs = [run for run in runs if str(run.pk) in wanted]
    if not runs:
        raise NothingToPromote("This sandbox has no successful writes to request on the source.")
    with_params = [str(run.pk) for run in runs if run.params]
    if with_params:
        raise PromotionRefused(
            "Writes run with parameters cannot be joined into one request: request them one by one.",
            details={"runs": with_params},
        )
    statements = [statement for run in runs for statement in _written_statements(run)]
    sql = joined(statements, sandbox.datasource.engine)
    return create_request(
        user,
        datasource_id=sandbox.datasource_id,
        sql=sql,
        reason=reason,
        request=request,
        sandbox_evidence=evidence(sandbox, runs),
    )


def promotable_runs(sandbox: Sandbox) -> list[QueryRun]:
    """The sandbox's successful writes since its copy was made, oldest first."""
    runs = QueryRun.objects.filter(sandbox=sandbox, status=RunStatus.SUCCEEDED).order_by("created_at", "pk")
    if sandbox.copied_at is not None:
        runs = runs.filter(created_at__gte=sandbox.copied_at)
    return [run for run in runs if (run.classification or {}).get("verdict") != "read"]


def _written_statements(run: QueryRun) -> list[str]:
    """The run's write statements, as classified when it ran (reads it held are left out)."""
    return [
        statement["text"]
        for statement in (run.classification or {}).get("statements", [])
        if statement.get("verdict") != "read"
    ]


def joined(statements: list[str], engine: str) -> str:
    """One script of `statements`, each ended by a semicolon on its own terms. A statement
    ending in a line comment gets its semicolon on the next line. The script is classified
    again to check it splits back into exactly these statements; if not, refuse rather
    than ask for something else."""
    parts = []
    for text in statements:
        text = text.strip().rstrip(";").rstrip()
        last_line = text.rsplit("\n", 1)[-1]
        parts.append(text + ("\n;" if "--" in last_line or "#" in last_line else ";"))
    sql = "\n".join(parts)
    again = [statement.text.strip().rstrip(";").rstrip() for statement in classify_sql(sql, engine).statements]
    if again != [text.strip().rstrip(";").rstrip() for text in statements]:
        raise PromotionRefused("These writes cannot be joined into one script that runs exactly them.")
    return sql


def evidence(sandbox: Sandbox, runs: list[QueryRun]) -> dict[str, Any]:
    """What the approver sees beside the SQL: per run, the rows each statement affected in
    the sandbox and a before/after sample of the rows it changed."""
    effects = {effect.run_id: effect for effect in SandboxRunEffect.objects.filter(run__in=runs)}
    return {
        "sandbox": sandbox.pk,
        "golden_refreshed_at": sandbox.golden.refreshed_at.isoformat() if sandbox.golden else None,
        "sampled_tables": sandbox.sampled_tables,
        "runs": [_run_evidence(run, effects.get(run.pk)) for run in runs],
    }


def _run_evidence(run: QueryRun, effect: SandboxRunEffect | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"run": str(run.pk), "ran_at": run.created_at.isoformat()}
    if effect is None:  # a write from before effects were kept
        entry.update(statements=[], tables=[], notes=["what this run changed was not recorded"])
        return entry
    entry.update(
        statements=[statement for statement in effect.statements if statement.get("verdict") != "read"],
        tables=effect.tables,
        notes=effect.notes,
    )
    return entry
