"""Use case: a user asks for a write. Rights first, then the classification and the
source's rules on write kinds, then the parameters; then the approvers are told."""

from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.approvals.exceptions import DuplicateRequest, NotAWrite, ReasonRequired, WriteKindForbidden
from apps.approvals.models import OPEN_STATUSES, ApprovalRequest
from apps.approvals.notify import notify_new_request
from apps.approvals.selectors import eligible_approvers
from apps.approvals.state import audience
from apps.audit.services import record_event
from apps.datasources.access import Action, rights_on
from apps.datasources.models import DataSource
from apps.queries.exceptions import DataSourceNotFound, EmptyQuery
from apps.queries.plan import bind_statements, classify_for_source, params_sha256_of, sha256_of
from apps.sqlcore.classification import Classification
from apps.sqlcore.parameters import Params
from querybase.errors import NotAllowed
from querybase.live_bus import publish_on_commit
from querybase.logs import bind_context
from querybase.types import ClientRequest


def create_request(
    user: User,
    *,
    datasource_id: int,
    sql: str,
    params: Params = None,
    reason: str = "",
    request: ClientRequest | None = None,
    sandbox_evidence: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """A write request for approval: rights first, then classification and the source's
    rules on write kinds, then the reason (required), then the parameters. `sandbox_evidence`:
    what the same writes did in the requester's sandbox, when the request is promoted from one."""
    datasource, rights = rights_on(user, datasource_id)
    if datasource is None:
        raise DataSourceNotFound("No data source with this id, or you have no rights on it.")
    if Action.WRITE not in rights:
        raise NotAllowed("You may not request writes on this data source.")
    classification = classify_for_source(datasource, sql)
    if classification.is_empty:
        raise EmptyQuery("The SQL contains no statement.")
    if classification.is_read:
        raise NotAWrite("This SQL only reads: run it directly, no approval is needed.")
    _check_write_kinds(datasource, classification)
    if not reason.strip():
        raise ReasonRequired(
            "Say why this change is needed: the reason is required for a write request.",
            details={"reason": ["This field is required for a write."]},
        )
    bind_statements(datasource, sql, params, classification)  # refuses bad parameters now, not at execution
    try:
        return _create(user, datasource, sql, params, reason, classification, request, sandbox_evidence)
    except IntegrityError as error:
        if "one_open_request_per_text" not in str(error):
            raise
        raise _duplicate_of(user, datasource, sql) from error


def _duplicate_of(user: User, datasource: DataSource, sql: str) -> DuplicateRequest:
    open_ = ApprovalRequest.objects.filter(
        requester=user, datasource=datasource, sql_sha256=sha256_of(sql), status__in=OPEN_STATUSES
    ).order_by("pk")
    return DuplicateRequest(
        "You already asked for this change (same SQL and parameters on this source) and it has not "
        "ended yet: follow that request, or cancel it first.",
        details={"request": open_.values_list("pk", flat=True).first()},
    )


def _create(
    user: User,
    datasource: DataSource,
    sql: str,
    params: Params,
    reason: str,
    classification: Classification,
    request: ClientRequest | None,
    sandbox_evidence: dict[str, Any] | None,
) -> ApprovalRequest:
    with transaction.atomic():
        approval = ApprovalRequest.objects.create(
            datasource=datasource,
            requester=user,
            sql=sql,
            sql_sha256=sha256_of(sql),
            params=params,
            reason=reason,
            write_target=datasource.write_target(),
            classification=classification.as_dict(),
            risk=classification.risk.value,
            write_kinds=sorted(classification.write_kinds),
            required_approvals=datasource.approvals_required,
            expires_at=timezone.now() + timedelta(hours=settings.QUERYBASE_APPROVAL_TTL_HOURS),
            sandbox_evidence=sandbox_evidence,
        )
        # The digest of the parameters as stored, read back (see params_sha256_of).
        stored_params = ApprovalRequest.objects.filter(pk=approval.pk).values_list("params", flat=True).get()
        approval.params_sha256 = params_sha256_of(stored_params)
        ApprovalRequest.objects.filter(pk=approval.pk).update(params_sha256=approval.params_sha256)
        bind_context(approval_id=approval.pk)
        record_event(
            "approval.create",
            actor=user,
            target=approval,
            request=request,
            detail={
                "datasource": datasource.pk,
                "risk": approval.risk,
                "write_kinds": approval.write_kinds,
                "sql": approval.sql,
                "sql_sha256": approval.sql_sha256,
                "params_sha256": approval.params_sha256,
                "reason": approval.reason,
                **({"from_sandbox": sandbox_evidence.get("sandbox")} if sandbox_evidence else {}),
            },
        )
        notify_new_request(approval, eligible_approvers(approval))
        publish_on_commit(
            partial(audience, approval), "approval.created", {"request": approval.pk, "status": "pending"}
        )
    return approval


def _check_write_kinds(datasource: DataSource, classification: Classification) -> None:
    forbidden = sorted(classification.write_kinds - set(datasource.allowed_write_kinds))
    if forbidden:
        raise WriteKindForbidden(
            f"This data source does not accept {', '.join(kind.upper() for kind in forbidden)} statements.",
            details={"forbidden_kinds": forbidden, "allowed_kinds": datasource.allowed_write_kinds},
        )
