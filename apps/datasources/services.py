"""Use cases that change data sources and their permissions. Every one is audited."""

from typing import Any, cast

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.dispatch import Signal

from apps.audit.services import record_event
from apps.datasources.access import Action, user_may
from apps.datasources.connectors import (
    ConnectionTestResult,
    ConnectorError,
    CredentialRole,
    QueryBaseOwnDatabase,
    Table,
    connector_class,
    connector_for,
)
from apps.datasources.crypto import (
    CredentialDecryptionError,
    decrypt_secret,
    encrypt_secret,
    needs_rotation,
)
from apps.datasources.exceptions import DataSourceHasHistory, DataSourceUnavailable
from apps.datasources.models import (
    NEVER_IN_SANDBOXES,
    PASSWORD_PURPOSE,
    READ_PASSWORD_PURPOSE,
    SANDBOX_PASSWORD_PURPOSE,
    DataSource,
    DataSourcePermission,
)
from apps.notifications.chat import webhook_refusal
from querybase.errors import NotAllowed
from querybase.types import ClientRequest

# Fields that hold secrets: set through the model's setters, never stored as given.
SECRET_FIELDS = {
    "password": DataSource.set_password,
    "read_password": DataSource.set_read_password,
    "sandbox_password": DataSource.set_sandbox_password,
}
SCHEMA_CACHE_SECONDS = 60
# Fields (as the services take them) whose change makes the stored credential audit stale.
AUDITED_FIELDS = {"engine", "host", "port", "database", "username", "password", "read_username", "read_password"}


def config_errors(
    *, engine: str | None, host: str, port: int | None, database: str, chat_webhook_url: str
) -> dict[str, str]:
    """Field errors of a source's configuration, shared by the API and Django admin."""
    errors = {}
    if engine:
        errors.update(connector_class(engine).validate_config(host=host, port=port, database=database))
    refusal = webhook_refusal(chat_webhook_url) if chat_webhook_url else None
    if refusal is not None:
        errors["chat_webhook_url"] = refusal
    return errors


def sandbox_config_errors(*, engine: str | None, sandbox_host: str, sandbox_write_kinds: list[str]) -> dict[str, str]:
    """Field errors of a source's sandbox settings, shared by the API and Django admin."""
    errors = {}
    refused = NEVER_IN_SANDBOXES.intersection(sandbox_write_kinds or [])
    if refused:
        errors["sandbox_write_kinds"] = f"Sandboxes never allow {', '.join(sorted(refused))} statements."
    if sandbox_host and engine and not connector_class(engine).network:
        errors["sandbox_host"] = "This engine's sandboxes are files on the QueryBase server: no sandbox server."
    return errors


def _apply(datasource: DataSource, fields: dict[str, Any]) -> list[str]:
    """Set fields (secrets through their setters); return the names that changed."""
    changed = []
    for name, value in fields.items():
        if name in SECRET_FIELDS:
            SECRET_FIELDS[name](datasource, value or "")
            changed.append(name)
        elif getattr(datasource, name) != value:
            setattr(datasource, name, value)
            changed.append(name)
    return changed


@transaction.atomic
def create_datasource(
    *,
    actor: User | None,
    fields: dict[str, Any],
    request: ClientRequest | None = None,
    datasource: DataSource | None = None,
) -> DataSource:
    """Create a source from `fields`; `datasource` is an unsaved instance to start from (admin form)."""
    if datasource is None:
        datasource = DataSource(created_by=actor)
    _apply(datasource, fields)
    datasource.save()
    record_event(
        "datasource.create",
        actor=actor,
        target=datasource,
        request=request,
        detail={"engine": datasource.engine, "fields": sorted(fields)},
    )
    return datasource


@transaction.atomic
def update_datasource(
    datasource: DataSource, *, actor: User | None, fields: dict[str, Any], request: ClientRequest | None = None
) -> DataSource:
    changed = _apply(datasource, fields)
    if AUDITED_FIELDS.intersection(changed):
        # The stored credential audit described other credentials: fail closed until re-run.
        datasource.forget_credential_audit()
        datasource.save()
    elif changed:
        # Leave the stored audit as the audit wrote it: this copy of it may be older.
        datasource.save(update_fields=_columns_but_audit())
    # Field names only: values may be secrets, and the row itself holds the current ones.
    record_event("datasource.update", actor=actor, target=datasource, request=request, detail={"changed": changed})
    return datasource


def _columns_but_audit() -> list[str]:
    kept = {"id", "credential_audit", "credential_audited_at"}
    return [field.name for field in DataSource._meta.concrete_fields if field.name not in kept]


@transaction.atomic
def delete_datasource(datasource: DataSource, *, actor: User | None, request: ClientRequest | None = None) -> None:
    """Delete a source that was never used. One with runs or approval requests keeps them:
    those are the record of what was read and written, so the source is deactivated instead."""
    runs, requests = datasource.runs.count(), datasource.approval_requests.count()
    if runs or requests:
        raise DataSourceHasHistory(
            f"{datasource.name} has {runs} query run(s) and {requests} approval request(s), which are kept as "
            "history: deactivate the source instead (PATCH is_active=false).",
            details={"query_runs": runs, "approval_requests": requests},
        )
    record_event("datasource.delete", actor=actor, target=datasource, request=request, detail={"name": datasource.name})
    datasource.delete()


def test_datasource(
    datasource: DataSource, *, actor: User | None, request: ClientRequest | None = None
) -> ConnectionTestResult:
    """Really connect with the owner credentials (and the read ones, if separate)."""
    result = _connection_test(datasource)
    record_event(
        "datasource.test",
        actor=actor,
        target=datasource,
        request=request,
        detail={"ok": result.ok, "error_code": result.error_code, "took_ms": result.took_ms},
    )
    return result


def test_unsaved_settings(
    settings_to_try: DataSource,
    *,
    stored: DataSource | None,
    actor: User | None,
    request: ClientRequest | None = None,
) -> ConnectionTestResult:
    """Connect with settings not saved yet (the admin form's "Test connection"): nothing is
    stored, not even the credential audit, which belongs to saved credentials. The event
    names the stored source being edited, if any; never the settings' secrets."""
    result = _connection_test(settings_to_try)
    record_event(
        "datasource.test",
        actor=actor,
        target=stored,
        request=request,
        detail={
            "ok": result.ok,
            "error_code": result.error_code,
            "took_ms": result.took_ms,
            "unsaved": True,
            "engine": settings_to_try.engine,
            "host": settings_to_try.host,
        },
    )
    return result


def _connection_test(datasource: DataSource) -> ConnectionTestResult:
    try:
        result = connector_for(datasource, CredentialRole.OWNER).test_connection()
        if result.ok and datasource.has_read_credentials:
            read_result = connector_for(datasource, CredentialRole.READ).test_connection()
            if not read_result.ok:
                result = ConnectionTestResult(
                    ok=False,
                    took_ms=result.took_ms + read_result.took_ms,
                    error_code=read_result.error_code,
                    message=f"Read-only credentials: {read_result.message}",
                )
    except CredentialDecryptionError as error:
        result = ConnectionTestResult(
            ok=False, took_ms=0.0, error_code=CredentialDecryptionError.code, message=str(error)
        )
    return result


def datasource_schema(datasource: DataSource, *, user: User) -> list[Table]:
    """Tables and columns, for users who may read the source.

    The permission check comes before the cache, so a cache never answers someone
    without the right. The key carries updated_at: editing the source drops it.
    """
    if not user_may(user, Action.READ, datasource):
        raise NotAllowed("You may not read this data source.")
    # v2: tables carry their indexes; entries cached before them are not read back.
    key = f"datasource-schema-v2:{datasource.pk}:{datasource.updated_at.timestamp()}"
    tables = cache.get(key)
    if tables is None:
        try:
            tables = connector_for(datasource, CredentialRole.READ).schema()
        except QueryBaseOwnDatabase:
            raise
        except ConnectorError as error:
            raise DataSourceUnavailable(error.message, details={"reason": error.code}) from error
        cache.set(key, tables, SCHEMA_CACHE_SECONDS)
    return tables


@transaction.atomic
def set_permissions(
    datasource: DataSource, *, actor: User | None, grants: list[dict[str, Any]], request: ClientRequest | None = None
) -> list[DataSourcePermission]:
    """Replace the group rights on a source by `grants` ({group, can_read, can_write, can_approve})."""
    before = _describe_permissions(datasource)
    DataSourcePermission.objects.filter(datasource=datasource).delete()
    rows = [
        DataSourcePermission(
            datasource=datasource,
            group=grant["group"],
            can_read=grant.get("can_read", False),
            can_write=grant.get("can_write", False),
            can_approve=grant.get("can_approve", False),
        )
        for grant in grants
    ]
    DataSourcePermission.objects.bulk_create(rows)
    after = _describe_permissions(datasource)
    record_event(
        "datasource.permissions_change",
        actor=actor,
        target=datasource,
        request=request,
        detail={"before": before, "after": after},
    )
    return list(datasource.permissions.select_related("group"))


def record_permission_change(
    permission: DataSourcePermission, *, actor: User | None, request: ClientRequest | None = None, deleted: bool = False
) -> None:
    """Audit a single row changed from Django admin (the API goes through set_permissions)."""
    record_event(
        "datasource.permissions_change",
        actor=actor,
        target=permission.datasource,
        request=request,
        detail={"group": permission.group.name, "rights": {} if deleted else permission.rights()},
    )


def _describe_permissions(datasource: DataSource) -> dict[str, dict[str, bool]]:
    return {row.group.name: row.rights() for row in datasource.permissions.select_related("group")}


# Apps above this one keep secrets of their own under the same keys (the sandboxes'
# restricted logins): they re-encrypt them when this is sent, inside the rotation's
# transaction, and answer how many they re-encrypted.
keys_rotating = Signal()


def rotate_encryption_keys() -> int:
    """Re-encrypt every stored credential that is not under the current key. Returns how many."""
    rotated = 0
    with transaction.atomic():
        # django-stubs types a receiver's answer as str | None; ours answer counts.
        rotated += sum(cast(int, count) for _, count in keys_rotating.send(sender=DataSource))
        for datasource in DataSource.objects.select_for_update().order_by("pk"):
            changed = []
            for field, purpose in (
                ("password_encrypted", PASSWORD_PURPOSE),
                ("read_password_encrypted", READ_PASSWORD_PURPOSE),
                ("sandbox_password_encrypted", SANDBOX_PASSWORD_PURPOSE),
            ):
                stored = getattr(datasource, field)
                if stored and needs_rotation(stored):
                    setattr(datasource, field, encrypt_secret(decrypt_secret(stored, purpose), purpose))
                    changed.append(field)
            if changed:
                datasource.save(update_fields=changed)
                rotated += len(changed)
    if rotated:
        record_event("datasource.keys_rotated", detail={"secrets": rotated})
    return rotated
