"""Sandboxes (private writable copies of a source) and the golden copies they are made from."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.datasources.crypto import decrypt_secret, encrypt_secret
from apps.datasources.models import DataSource

ROLE_PASSWORD_PURPOSE = "sandboxes.role_password"  # noqa: S105  (a label, not a secret)


class SandboxState(models.TextChoices):
    CREATING = "creating", "Being copied"
    POOLED = "pooled", "Ready, unassigned"
    ACTIVE = "active", "In use"
    IDLE = "idle", "Idle (not used lately)"
    EXPIRED = "expired", "To be dropped"
    DELETED = "deleted", "Dropped"
    FAILED = "failed", "Copy failed"


# The moves a sandbox can make; apps.sandboxes.state applies them with conditional updates.
TRANSITIONS: dict[str, frozenset[str]] = {
    # creating → expired: a dry-run copy, dropped as soon as the dry-run is over.
    SandboxState.CREATING: frozenset(
        {SandboxState.POOLED, SandboxState.ACTIVE, SandboxState.FAILED, SandboxState.EXPIRED}
    ),
    SandboxState.POOLED: frozenset({SandboxState.ACTIVE, SandboxState.EXPIRED}),
    SandboxState.ACTIVE: frozenset({SandboxState.ACTIVE, SandboxState.IDLE, SandboxState.EXPIRED}),
    SandboxState.IDLE: frozenset({SandboxState.ACTIVE, SandboxState.EXPIRED}),
    SandboxState.EXPIRED: frozenset({SandboxState.DELETED}),
    # failed → deleted: the failed sandbox is kept, with its reason, for its owner to see,
    # until its owner deletes it or upkeep settles it (apps.sandboxes.upkeep.settle_failed).
    SandboxState.FAILED: frozenset({SandboxState.DELETED}),
    SandboxState.DELETED: frozenset(),
}
# A user's sandbox on a source: at most one in these states.
OWNED_STATES = (SandboxState.CREATING, SandboxState.ACTIVE, SandboxState.IDLE)
# States whose copy may be used to run SQL.
USABLE_STATES = (SandboxState.ACTIVE, SandboxState.IDLE)


class GoldenCopy(models.Model):
    """The copy of a source that sandboxes are copied from, refreshed from the source.

    Only one per source is current; a replaced one is dropped once no copy is being made
    from it (`dropped_at`)."""

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="golden_copies")
    database_name = models.CharField(max_length=200, unique=True)
    is_current = models.BooleanField(default=True)
    sampled_tables = models.JSONField(default=list, blank=True)
    notes = models.JSONField(default=list, blank=True, help_text="What could not be copied, in words.")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    refreshed_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-refreshed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["datasource"], condition=Q(is_current=True), name="one_current_golden_copy_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"golden copy {self.database_name}"


class SandboxRole(models.Model):
    """A least-privileged login that runs users' SQL in one copy of a source on its sandbox
    server (apps/sandboxes/roles.py): `database_name` names that copy. The copy-making
    credentials create it and make the copy, which only it may reach: a login shared by a
    source's copies would open every user's sandbox to whoever learns its password (every
    login may change its own), and on MySQL to any SQL naming another sandbox's schema.

    A row with no `database_name` is the login that served all of a source's copies before
    each had its own; upkeep gives those copies their own and drops it.

    Its password is random, encrypted at rest like the sources' and never serialised."""

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="sandbox_roles")
    # Where the role lives: "host:port" of the sandbox server (a source may move its copies).
    server = models.CharField(max_length=300)
    name = models.CharField(max_length=63, unique=True)
    # The one copy (database, schema) this login may reach; empty for an older login of all the source's copies.
    database_name = models.CharField(max_length=200, blank=True, default="")
    password_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["datasource", "server"],
                condition=Q(dropped_at=None, database_name=""),
                name="one_sandbox_role_per_source_server",
            ),
            models.UniqueConstraint(
                fields=["database_name"],
                condition=Q(dropped_at=None) & ~Q(database_name=""),
                name="one_sandbox_login_per_copy",
            ),
        ]

    def __str__(self) -> str:
        return f"sandbox role {self.name}"

    def set_password(self, password: str) -> None:
        self.password_encrypted = encrypt_secret(password, ROLE_PASSWORD_PURPOSE)

    def get_password(self) -> str:
        return decrypt_secret(self.password_encrypted, ROLE_PASSWORD_PURPOSE)


class Sandbox(models.Model):
    """One private writable copy of a source, pooled (no owner yet) or a user's.

    Runs made in it are QueryRuns pointing here (`QueryRun.sandbox`); those created after
    `copied_at`, in order, are what the sandbox did since it was last made or reset —
    the writes a promotion to an approval request would replay.
    """

    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="sandboxes")
    # SET_NULL: a deleted user's sandbox keeps its row, so upkeep still drops the copy.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sandboxes"
    )
    state = models.CharField(max_length=16, choices=SandboxState.choices, default=SandboxState.CREATING)
    # The database, schema or file on the sandbox server; a reset makes a new one.
    database_name = models.CharField(max_length=200, unique=True)
    golden = models.ForeignKey(GoldenCopy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sampled_tables = models.JSONField(default=list, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    # A copy made to dry-run an approval request (apps/sandboxes/dry_runs.py): never
    # pooled or assigned; it has a row so that upkeep drops it if its process dies.
    for_dry_run = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    copied_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    dropped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "datasource"],
                condition=Q(state__in=[state.value for state in OWNED_STATES]),
                name="one_sandbox_per_user_and_source",
            )
        ]
        indexes = [models.Index(fields=["datasource", "state"])]

    def __str__(self) -> str:
        return f"sandbox {self.pk} of {self.datasource} ({self.state})"


class SandboxRunEffect(models.Model):
    """What a write run in a sandbox did there, captured when it ran
    (apps/sandboxes/effects.py): rows affected per statement, and per table the counts and
    a before/after sample of changed rows. A promotion copies it into the approval request."""

    run = models.OneToOneField("queries.QueryRun", on_delete=models.CASCADE, related_name="sandbox_effect")
    statements = models.JSONField(default=list)
    tables = models.JSONField(default=list)
    notes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"effect of run {self.run_id}"
