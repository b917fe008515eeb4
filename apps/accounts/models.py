"""Per-user API keys for scripts, and the product's own rights of a group. Users and groups
are Django's own."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class ApiKey(models.Model):
    """A long random secret shown once; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, help_text="Shown to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class GroupRights(models.Model):
    """Rights a group gives its members beyond data sources (those are
    DataSourcePermission). `can_audit`: read every user's audit events and reports."""

    group = models.OneToOneField(Group, on_delete=models.CASCADE, related_name="rights")
    can_audit = models.BooleanField(
        default=False, help_text="Members may search the audit log and see every user's events."
    )

    class Meta:
        verbose_name = "group rights"
        verbose_name_plural = "group rights"

    def __str__(self) -> str:
        return f"rights of {self.group}"
