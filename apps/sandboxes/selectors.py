"""Read-side queries of sandboxes."""

from django.db.models import QuerySet

from apps.accounts.policy import is_active_user
from apps.datasources import access
from apps.sandboxes.models import Sandbox, SandboxState
from querybase.types import AnyUser


def sandboxes_visible_to(user: AnyUser) -> QuerySet[Sandbox]:
    """A user's own sandboxes; an administrator sees every one, pooled copies included."""
    sandboxes = Sandbox.objects.select_related("datasource", "owner").exclude(state=SandboxState.DELETED)
    if access.may_administer_sources(user):
        return sandboxes
    if not is_active_user(user):
        return sandboxes.none()
    return sandboxes.filter(owner=user)
