"""The one place that decides what a user may do on a data source.

Rights come only from groups (DataSourcePermission). Being a Django superuser or staff
member grants the right to *administer* sources, never to read, write or approve on
them: separation of duties holds for admins too. An inactive user or source grants
nothing.
"""

from enum import StrEnum
from typing import TypeGuard

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

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


def user_may(user: AnyUser, action: Action, datasource: DataSource) -> bool:
    """May `user` do `action` on `datasource`?"""
    return _grants(user).filter(datasource=datasource, **{_FLAG[Action(action)]: True}).exists()


def rights_on(user: AnyUser, datasource_id: int) -> tuple[DataSource | None, set[Action]]:
    """The source (if the user has any right on it) and the user's rights there, in one query."""
    datasource, rights = None, set()
    # No ORDER BY: the default ordering would join auth_group only to sort the rows.
    for row in _grants(user).filter(datasource_id=datasource_id).select_related("datasource").order_by():
        datasource = row.datasource
        rights |= _granted(row)
    return (datasource, rights) if rights else (None, set())


def _granted(row: DataSourcePermission) -> set[Action]:
    return {Action(name) for name, granted in row.rights().items() if granted}


def rights_by_datasource(user: AnyUser) -> dict[int, set[Action]]:
    """Every source the user has any right on, with the union of rights over their groups."""
    rights: dict[int, set[Action]] = {}
    for row in _grants(user):
        rights.setdefault(row.datasource_id, set()).update(_granted(row))
    return {datasource_id: actions for datasource_id, actions in rights.items() if actions}


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
