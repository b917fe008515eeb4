"""Read-side queries of sandboxes."""

from django.db.models import QuerySet

from apps.accounts.policy import is_active_user
from apps.datasources import access
from apps.sandboxes.exceptions import NotSandboxOwner, SandboxError, SandboxNotFound
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


def refusal_for_non_owner(user: AnyUser, sandbox: Sandbox, message: str) -> SandboxError:
    """What someone who may not use `sandbox` is told. Who may see it (an administrator) is
    told that only its owner may; anyone else gets what an unknown id gets, so the answer
    does not confirm that another user's sandbox exists."""
    if sandboxes_visible_to(user).filter(pk=sandbox.pk).exists():
        return NotSandboxOwner(message)
    return SandboxNotFound("No sandbox with this id.")
