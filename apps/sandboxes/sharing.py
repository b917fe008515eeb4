"""Who may run SQL in a sandbox: its owner, anything they allow there; and someone its
owner shared a saved query in it with (by group or by link), reads only. Reading the
source is required all the same (apps.sandboxes.lifecycle.sandbox_source)."""

from django.contrib.auth.models import User

from apps.queries.models import SavedQuery
from apps.sandboxes.exceptions import SandboxNotFound
from apps.sandboxes.models import Sandbox, SandboxState
from apps.sandboxes.selectors import refusal_for_non_owner


def sandbox_to_run_in(user: User, sandbox_id: int, *, share_token: str = "") -> tuple[Sandbox, bool]:
    """The sandbox and whether `user` owns it; raises unless they own it or it is shared with them."""
    sandbox = Sandbox.objects.select_related("datasource").filter(pk=sandbox_id).first()
    if sandbox is None or sandbox.state == SandboxState.DELETED:
        raise SandboxNotFound("No sandbox with this id.")
    if sandbox.owner_id is not None and sandbox.owner_id == user.pk:
        return sandbox, True
    if sandbox.owner_id is None or not shared_with(user, sandbox, share_token):
        raise refusal_for_non_owner(
            user, sandbox, "Only the owner of a sandbox may use it, unless they share a query in it with you."
        )
    return sandbox, False


def shared_with(user: User, sandbox: Sandbox, share_token: str = "") -> bool:
    """Whether the owner shared a saved query in `sandbox` with `user`: with one of their
    groups, or by the link whose token the caller holds."""
    queries = SavedQuery.objects.filter(sandbox=sandbox, owner_id=sandbox.owner_id)
    if share_token and queries.filter(share_token=share_token).exists():
        return True
    return queries.filter(shared_with_groups__in=user.groups.all()).exists()
