"""Registered databases and the group rights on them."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.dispatch import Signal

from apps.datasources.crypto import decrypt_secret, encrypt_secret
from apps.sqlcore.dialect import Dialect

# A source's engine is its SQL dialect: one enum for both (apps/sqlcore/dialect.py).
ENGINE_CHOICES = [(dialect.value, dialect.label) for dialect in Dialect]


class WriteKind(models.TextChoices):
    """Kinds of write statement a source may allow (see the classifier)."""

    DML = "dml", "Data changes (INSERT/UPDATE/DELETE/MERGE)"
    DDL = "ddl", "Schema changes (CREATE/ALTER/DROP/TRUNCATE)"
    DCL = "dcl", "Access control (GRANT/REVOKE)"
    OTHER = "other", "Other statements (CALL, SET, COPY, …)"


def all_write_kinds() -> list[str]:
    return [kind.value for kind in WriteKind]


def default_sandbox_write_kinds() -> list[str]:
    return [WriteKind.DML.value, WriteKind.DDL.value]


# Sandboxes never run access control: a GRANT there could reach beyond the copy (roles are
# server-wide), so no setting may allow it.
NEVER_IN_SANDBOXES = frozenset({WriteKind.DCL.value})


# Purposes bound into the ciphertext, so secrets cannot be swapped between fields.
PASSWORD_PURPOSE = "datasource.password"  # noqa: S105  (a label, not a secret)
READ_PASSWORD_PURPOSE = "datasource.read_password"  # noqa: S105
SANDBOX_PASSWORD_PURPOSE = "datasource.sandbox_password"  # noqa: S105


# Rows that rights derive from changed in bulk (no post_save is sent): cached rights are
# stale (apps/datasources/signals.py).
rows_changed_in_bulk = Signal()


class RightsQuerySet(models.QuerySet):
    """Bulk changes of sources or permissions say so, as their saves do through post_save."""

    def update(self, **kwargs):
        changed = super().update(**kwargs)
        rows_changed_in_bulk.send(sender=self.model)
        return changed

    def bulk_create(self, *args, **kwargs):
        created = super().bulk_create(*args, **kwargs)
        rows_changed_in_bulk.send(sender=self.model)
        return created

    def bulk_update(self, *args, **kwargs):
        changed = super().bulk_update(*args, **kwargs)
        rows_changed_in_bulk.send(sender=self.model)
        return changed


class DataSource(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    engine = models.CharField(max_length=20, choices=ENGINE_CHOICES)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(65535)])
    database = models.CharField(max_length=500, help_text="Database name; for SQLite, the path of the database file.")
    username = models.CharField(max_length=150, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    # Optional least-privilege credentials used for reads; writes use the main ones.
    read_username = models.CharField(max_length=150, blank=True)
    read_password_encrypted = models.TextField(blank=True, editable=False)

    statement_timeout_ms = models.PositiveIntegerField(
        default=30_000, validators=[MinValueValidator(100), MaxValueValidator(3_600_000)]
    )
    max_rows = models.PositiveIntegerField(
        default=10_000, validators=[MinValueValidator(1), MaxValueValidator(10_000_000)]
    )
    cache_ttl_seconds = models.PositiveIntegerField(default=300, validators=[MaxValueValidator(86_400)])
    approvals_required = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    allowed_write_kinds = models.JSONField(default=all_write_kinds, blank=True)
    dry_run_enabled = models.BooleanField(default=False)
    write_outcome_marker = models.BooleanField(
        default=True,
        help_text=(
            "Approved writes also record, in their own transaction, a row in a small table "
            "querybase_write_outcomes in this database (created on first use), so a write "
            "interrupted by a crash is known to have committed or not. PostgreSQL and MySQL "
            "(InnoDB); skipped where the owner credentials cannot create or write the table."
        ),
    )
    chat_webhook_url = models.URLField(
        max_length=1000,
        blank=True,
        help_text="Google Chat incoming webhook for this source's requests (else the global one).",
    )
    is_active = models.BooleanField(default=True)
    require_least_privilege = models.BooleanField(
        default=False,
        help_text=(
            "Refuse reads until the latest credential audit of this source has no high finding "
            "(a source never audited, or whose credentials changed since, counts as not clean)."
        ),
    )
    # The latest credential audit (apps.datasources.credential_audit), kept so that lists
    # and the read gate need not connect. Cleared whenever the credentials change.
    credential_audit = models.JSONField(null=True, blank=True, editable=False)
    credential_audited_at = models.DateTimeField(null=True, blank=True, editable=False)

    # Sandboxes: private writable copies (apps/sandboxes). Copies live on the source's own
    # server, made with its main credentials, unless a separate sandbox server is set.
    sandbox_enabled = models.BooleanField(default=False)
    sandbox_host = models.CharField(
        max_length=255, blank=True, help_text="Sandbox server; empty: the source's own server and main credentials."
    )
    sandbox_port = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(65535)])
    sandbox_username = models.CharField(max_length=150, blank=True)
    sandbox_password_encrypted = models.TextField(blank=True, editable=False)
    sandbox_max_rows_per_table = models.PositiveIntegerField(
        default=10_000,
        validators=[MinValueValidator(1), MaxValueValidator(100_000_000)],
        help_text="A table with more rows is copied as a sample of this many rows (and marked as a sample).",
    )
    sandbox_idle_ttl_hours = models.PositiveIntegerField(
        default=7 * 24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
        help_text="A sandbox unused this long is dropped.",
    )
    sandbox_pool_size = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(20)], help_text="Ready, unassigned copies kept in advance."
    )
    sandbox_write_kinds = models.JSONField(default=default_sandbox_write_kinds, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # What a credential audit describes: a change to any of these makes it stale.
    CREDENTIAL_FIELDS = (
        "engine",
        "host",
        "port",
        "database",
        "username",
        "password_encrypted",
        "read_username",
        "read_password_encrypted",
    )

    objects = RightsQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # What an approved write connects to. A request keeps this as it was when it was made
    # (apps/approvals/creation.py), and execution refuses to carry the write anywhere else.
    WRITE_TARGET_FIELDS = ("engine", "host", "port", "database", "username")

    def write_target(self) -> dict[str, object]:
        """Where a write on this source lands: engine, server, database and login (not the
        password: rotating it keeps the target)."""
        return {field: getattr(self, field) for field in self.WRITE_TARGET_FIELDS}

    # Credentials: write-only from the outside. Plaintext exists only in memory, when a
    # connector needs it.
    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    @property
    def has_read_credentials(self) -> bool:
        return bool(self.read_username)

    def set_password(self, password: str) -> None:
        self.password_encrypted = encrypt_secret(password, PASSWORD_PURPOSE) if password else ""

    def get_password(self) -> str:
        return decrypt_secret(self.password_encrypted, PASSWORD_PURPOSE) if self.password_encrypted else ""

    def set_read_password(self, password: str) -> None:
        self.read_password_encrypted = encrypt_secret(password, READ_PASSWORD_PURPOSE) if password else ""

    @property
    def has_sandbox_server(self) -> bool:
        """Whether copies live on a separate sandbox server (else on the source's own)."""
        return bool(self.sandbox_host)

    def set_sandbox_password(self, password: str) -> None:
        self.sandbox_password_encrypted = encrypt_secret(password, SANDBOX_PASSWORD_PURPOSE) if password else ""

    def get_sandbox_password(self) -> str:
        if not self.sandbox_password_encrypted:
            return ""
        return decrypt_secret(self.sandbox_password_encrypted, SANDBOX_PASSWORD_PURPOSE)

    def forget_credential_audit(self) -> None:
        """Drop the stored audit: it described credentials (or a server) no longer in use."""
        self.credential_audit = None
        self.credential_audited_at = None

    def get_read_password(self) -> str:
        if not self.read_password_encrypted:
            return ""
        return decrypt_secret(self.read_password_encrypted, READ_PASSWORD_PURPOSE)


class DataSourcePermission(models.Model):
    """What the members of one group may do on one data source."""

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="datasource_permissions")
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="permissions")
    can_read = models.BooleanField(default=False)
    can_write = models.BooleanField(default=False, help_text="May request writes (they still need approval).")
    can_approve = models.BooleanField(default=False)

    objects = RightsQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "datasource"], name="one_permission_per_group_and_source")
        ]
        ordering = ["datasource__name", "group__name"]

    def __str__(self) -> str:
        rights = [name for name, on in self.rights().items() if on]
        return f"{self.group} on {self.datasource}: {', '.join(rights) or 'nothing'}"

    def rights(self) -> dict[str, bool]:
        return {"read": self.can_read, "write": self.can_write, "approve": self.can_approve}
