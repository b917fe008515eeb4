"""Query runs (the history), stored large results, and saved queries."""

import secrets
import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

from apps.datasources.models import DataSource


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)

# The only moves a run can make; services change the status through
# apps.queries.state.RUN_STATUS, which checks this table in one conditional UPDATE.
# running → queued: a read handed back to the queue (inline budget spent, source
# unreachable, or its process gone): a read is safe to repeat.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset({RunStatus.QUEUED, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
}


class ResultLocation(models.TextChoices):
    NONE = "", "No result"
    CACHE = "cache", "Cache (small results)"
    DATABASE = "database", "Database (large results)"


class QueryRun(models.Model):
    """One execution of SQL by a user on a source, or one answer served from the cache."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (user, -created_at) and (datasource, -created_at) below, which serve every
    # lookup by the key alone too: a row is written on every read, so each index costs.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="query_runs", db_index=False
    )
    # History outlives configuration: a source with runs is deactivated, never deleted.
    datasource = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="runs", db_index=False)
    sql = models.TextField()
    sql_sha256 = models.CharField(max_length=64)
    params = models.JSONField(null=True, blank=True)
    classification = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cache_key = models.CharField(max_length=64, blank=True)
    from_cache = models.BooleanField(default=False)
    # For a cache hit, the run that computed the result, and when.
    source_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    computed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    truncated = models.BooleanField(default=False)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    result_location = models.CharField(max_length=16, choices=ResultLocation.choices, blank=True)
    # Server-side session of the running query, so a cancel can reach the database.
    backend_id = models.CharField(max_length=64, blank=True)
    # When the run was last handed back to the queue (null: only when it was created), so
    # the sweeper can send again a queued run whose message a dead worker took with it.
    queued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A submission too long to classify in the API process is classified by the worker; if
    # it turns out not to be a read, these say whether it becomes an approval request (and
    # why), and which one it became.
    request_approval = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    approval_request = models.ForeignKey(
        "approvals.ApprovalRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A run in the user's sandbox (apps/sandboxes), not on the source itself. Sandbox rows
    # stay as history when their copies are dropped; one deleted anyway must not turn its
    # runs into runs on the source.
    sandbox = models.ForeignKey(
        "sandboxes.Sandbox", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["datasource", "-created_at"]),
            # The sweeper looks for runs still queued or running; finished runs (nearly
            # all, and every cache hit from birth) are not in this index at all.
            models.Index(
                fields=["status"],
                name="queries_run_unfinished_idx",
                condition=models.Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.id} ({self.status})"

    @property
    def audit_label(self) -> str:
        """The run's name in the audit log: no status, which changes after the event."""
        return f"run {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class StoredResult(models.Model):
    """A result too large for the cache: its description here, its rows in ResultPage rows,
    written page by page as they are read (apps/queries/result_store.py), so no process
    ever holds the whole of it."""

    run = models.OneToOneField(QueryRun, on_delete=models.CASCADE, primary_key=True, related_name="stored_result")
    columns = models.JSONField(default=list)
    row_count = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    took_ms = models.FloatField(default=0.0)
    page_rows = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(default=0)
    # SQL of several statements: each one's result (the earlier ones with their first page
    # of rows, the last one's rows being these pages), as result_store.store_rows keeps them.
    statements = models.JSONField(default=list, blank=True)
    # Bytes of the pages' JSON, for the store's size bound (QUERYBASE_RESULT_STORE_MAX_BYTES).
    size_bytes = models.BigIntegerField(default=0)
    # Null while the pages are still being written: an unfinished result is never read.
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"result of run {self.run_id}"


class ResultPage(models.Model):
    """Rows `(number - 1) * page_rows + 1` onwards of a stored result, as one JSON array (the
    rows as the API writes them), kept as text: a page goes out without being rebuilt."""

    result = models.ForeignKey(StoredResult, on_delete=models.CASCADE, related_name="pages")
    number = models.PositiveIntegerField()
    rows = models.TextField()
    row_count = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["result", "number"], name="result_page_number_unique")]

    def __str__(self) -> str:
        return f"page {self.number} of the result of run {self.result_id}"


def new_share_token() -> str:
    return secrets.token_urlsafe(24)


class SavedQuery(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queries")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    datasource = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="saved_queries")
    sql = models.TextField()
    default_params = models.JSONField(null=True, blank=True)
    # How the workspace charts its result: {"type": "bar", "x": column, "y": [columns]}
    # (checked by ChartSerializer); null when it has no chart.
    chart = models.JSONField(null=True, blank=True)
    shared_with_groups = models.ManyToManyField(Group, blank=True, related_name="shared_queries")
    # Runs in the owner's sandbox of `datasource` instead of the source; those it is shared
    # with may run reads there (apps/sandboxes/sharing.py), never writes.
    sandbox = models.ForeignKey(
        "sandboxes.Sandbox", null=True, blank=True, on_delete=models.SET_NULL, related_name="saved_queries"
    )
    # Anyone logged in who has the link may open it (running it still needs read rights).
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_query_name_unique_per_owner")]

    def __str__(self) -> str:
        return self.name
