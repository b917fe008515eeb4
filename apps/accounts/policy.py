"""Who the user is to the product: the questions about a user alone.

Rights are answered by the app that owns the object asked about, each in a module named
`policy` (or `access` for data sources), and each builds on the questions below:

- `apps.datasources.access`: rights on a data source (group permissions, on active
  sources, for active users) and who administers sources;
- `apps.queries.policy`: runs and their results;
- `apps.approvals.policy`: approval requests, reviews, dry-runs and execution.

Views, templates (through the `policy` template filters), serializers and services ask
those modules; none of them decides on its own. Every answer is computed from the state
*now*, never from what was true when a run was made or a review given: a right revoked, a
user deactivated or a source switched off takes effect at the next question.

An admin (active staff member) administers the product: opens Django admin, sees every
run's metadata and every request. Being an admin grants no right on data: rows and
reviews need group rights like anyone else's (separation of duties). An auditor (an admin,
or a member of a group with the auditor right) reads every user's audit events; anyone
else only their own.
"""

from typing import TypeGuard

from django.contrib.auth.models import User

from querybase.types import AnyUser


def is_active_user(user: AnyUser | None) -> TypeGuard[User]:
    """Signed in and not deactivated: the precondition of every right."""
    return user is not None and user.is_authenticated and user.is_active


def is_admin(user: AnyUser) -> bool:
    """An active staff member: administers the product, holds no right on data by that."""
    return is_active_user(user) and user.is_staff


def may_audit(user: AnyUser) -> bool:
    """Search the audit log and see every user's events: admins, and members of a group
    with the auditor right (GroupRights.can_audit). Others see only their own events."""
    return is_admin(user) or (is_active_user(user) and user.groups.filter(rights__can_audit=True).exists())


def may_share_with_any_group(user: AnyUser) -> bool:
    """Share saved queries with groups the user is not in."""
    return is_admin(user)
