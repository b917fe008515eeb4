"""Write requests, their reviews, and the one state machine that governs them."""

from django.conf import settings
from django.db import models

from apps.datasources.models import DataSource


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# The only moves a request can make. Services change the status through
# apps.approvals.state.transition, which checks this table and the current status in
# one conditional UPDATE.
TRANSITIONS: dict[str, frozenset[str]] = {
    ApprovalStatus.PENDING: frozenset(
        {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.CANCELLED, ApprovalStatus.EXPIRED}
    ),
    # approved → failed: refused just before execution (source switched off, approvals
    # withdrawn); it never ran and is never re-run.
    ApprovalStatus.APPROVED: frozenset({ApprovalStatus.EXECUTING, ApprovalStatus.FAILED}),
    ApprovalStatus.EXECUTING: frozenset({ApprovalStatus.SUCCEEDED, ApprovalStatus.FAILED}),
}

# Statuses in which a request may still run.
OPEN_STATUSES = [ApprovalStatus.PENDING, ApprovalStatus.APPROVED, ApprovalStatus.EXECUTING]


class ApprovalRequest(models.Model):
    datasource = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="approval_requests")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Exactly what will run, and its hashes: execution refuses text or parameters whose
    # hash differs (apps/approvals/execution.py).
    sql = models.TextField()
    sql_sha256 = models.CharField(max_length=64)
    params = models.JSONField(null=True, blank=True)
    params_sha256 = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    # Where the write was asked for and reviewed: the source's `write_target()` then.
    # Execution refuses a source since pointed elsewhere (apps/approvals/policy.py).
    write_target = models.JSONField(default=dict)
    classification = models.JSONField(default=dict)
    risk = models.CharField(max_length=16)
    write_kinds = models.JSONField(default=list)
    required_approvals = models.PositiveSmallIntegerField(default=1)

    status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    statement_results = models.JSONField(default=list, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    # Where this execution's outcome marker is kept in the target database (its schema);
    # blank: the write ran without one, so a crash leaves its outcome unknown.
    outcome_marker_schema = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)

    # Set when the request was promoted from a sandbox: the runs it replays and what each
    # did there (apps/approvals/promotion.py), shown to the approver beside the SQL.
    sandbox_evidence = models.JSONField(null=True, blank=True)

    dry_run_result = models.JSONField(null=True, blank=True)
    dry_run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A double click, a retried call or a second tab must not make two requests that
            # two approvals would run twice: one open request per requester, source, text and
            # parameters. Once it has ended, the same change may be asked for again.
            models.UniqueConstraint(
                fields=["requester", "datasource", "sql_sha256", "params_sha256"],
                condition=models.Q(status__in=OPEN_STATUSES),
                name="one_open_request_per_text",
            )
        ]

    def __str__(self) -> str:
        return f"request #{self.pk} on {self.datasource} ({self.status})"

    @property
    def audit_label(self) -> str:
        """The request's name in the audit log: no status, which changes after the event."""
        return f"request #{self.pk} on {self.datasource}"


class Decision(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"

    @property
    def past_tense(self) -> str:
        return {"approve": "approved", "reject": "rejected"}[self.value]


class ApprovalReview(models.Model):
    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["request", "reviewer"], name="one_review_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision_in_past_tense} #{self.request_id}"

    @property
    def decision_in_past_tense(self) -> str:
        return Decision(self.decision).past_tense
