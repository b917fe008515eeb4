"""The one place that decides what a user may do on a data source.

Rights come only from groups (DataSourcePermission). Being a Django superuser or staff
member grants the right to *administer* sources, never to read, write or approve on
them: separation of duties holds for admins too. An inactive user or source grants
nothing.

The rights of one user (`user_may`, `rights_on`, `rights_by_datasource`) come from the
user's rights map in the cache (apps/datasources/rights_cache.py): on a warm cache,
deciding them costs no SQL query. Listings that filter sources in SQL read the tables.
"""

from enum import StrEnum
from typing import TypeGuard

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from apps.datasources import rights_cache
from apps.datasources.models import DataSource, DataSourcePermission
from querybase.types import AnyUser


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    APPROVE = "approve"


_FLAG = {Action.READ: "can_read", Action.WRITE: "can_write", Action.APPROVE: "can_approve"}


def _active(user: AnyUser | None) -> TypeGuard[User]:
    return user is not None and user.is_authenticated and user.is_active


def _grants(user: AnyUser) -> QuerySet[DataSourcePermission]:
    """The permission rows that apply to `user`: their groups, on active sources."""
    if not _active(user):
        return DataSourcePermission.objects.none()
    return DataSourcePermission.objects.filter(group__user=user, datasource__is_active=True)


def _rights_map(user: AnyUser) -> rights_cache.RightsMap | None:
    if not _active(user):
        return None
    found = rights_cache.rights_of(user)
    # The map was read from the row: a user deactivated since this object was loaded has none.
    return found if found is not None and found.user["is_active"] else None


def user_may(user: AnyUser, action: Action, datasource: DataSource) -> bool:
    """May `user` do `action` on `datasource`?"""
    found = _rights_map(user)
    return found is not None and Action(action).value in found.on(datasource.pk)


def rights_on(user: AnyUser, datasource_id: int) -> tuple[DataSource | None, set[Action]]:
    """The source (if the user has any right on it) and the user's rights there; no SQL
    query on a warm cache."""
    found = _rights_map(user)
    rights = {Action(name) for name in found.on(datasource_id)} if found is not None else set()
    datasource = rights_cache.datasource(datasource_id, found.epoch) if found is not None and rights else None
    return (datasource, rights) if datasource is not None else (None, set())


def rights_by_datasource(user: AnyUser) -> dict[int, set[Action]]:
    """Every source the user has any right on, with the union of rights over their groups."""
    found = _rights_map(user)
    if found is None:
        return {}
    return {datasource_id: {Action(name) for name in actions} for datasource_id, actions in found.rights.items()}


def datasources_user_may(user: AnyUser, action: Action) -> QuerySet[DataSource]:
    """The active sources on which `user` may do `action`."""
    source_ids = _grants(user).filter(**{_FLAG[Action(action)]: True}).values("datasource_id")
    return DataSource.objects.filter(id__in=source_ids)


def datasources_visible_to(user: AnyUser) -> QuerySet[DataSource]:
    """Sources a user may see at all: any right on them."""
    any_right = Q(can_read=True) | Q(can_write=True) | Q(can_approve=True)
    return DataSource.objects.filter(id__in=_grants(user).filter(any_right).values("datasource_id"))


# Administration of sources ------------------------------------------------------------------


def may_administer_sources(user: AnyUser) -> bool:
    """Create, change and grant rights on data sources (a Django model permission)."""
    return _active(user) and user.has_perm("datasources.change_datasource")


def source_administrators() -> QuerySet:
    """Who grants rights on data sources: the people to ask for access. Superusers hold every
    permission; others hold the change permission through themselves or a group."""
    change = {"codename": "change_datasource", "content_type__app_label": "datasources"}
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(**{f"user_permissions__{name}": value for name, value in change.items()})
            | Q(**{f"groups__permissions__{name}": value for name, value in change.items()})
        )
        .distinct()
        .order_by("username")
    )
