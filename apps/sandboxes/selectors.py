"""Read-side queries of sandboxes."""

from django.db.models import QuerySet

from apps.datasources import access
from apps.sandboxes.models import Sandbox, SandboxState


def sandboxes_visible_to(user) -> QuerySet[Sandbox]:
    """A user's own sandboxes; an administrator sees every one, pooled copies included."""
    sandboxes = Sandbox.objects.select_related("datasource", "owner").exclude(state=SandboxState.DELETED)
    if access.may_administer_sources(user):
        return sandboxes
    return sandboxes.filter(owner=user)
