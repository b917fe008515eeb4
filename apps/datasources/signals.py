"""Whatever rights derive from changed: every cached rights map is stale at once
(apps/datasources/rights_cache.py). Rights come from users (active or not), groups,
memberships, permissions and sources (active or not)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from apps.datasources import rights_cache
from apps.datasources.models import DataSource, DataSourcePermission, rows_changed_in_bulk

User = get_user_model()
# Saving only these fields of a user changes nothing a right depends on (a login).
_NOT_RIGHTS = frozenset({"last_login"})


@receiver(post_save, sender=User, dispatch_uid="rights_cache.user_saved")
def user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= _NOT_RIGHTS:
        return
    rights_cache.forget_all()


@receiver(post_save, sender=Group, dispatch_uid="rights_cache.group_saved")
@receiver(post_save, sender=DataSourcePermission, dispatch_uid="rights_cache.permission_saved")
@receiver(post_save, sender=DataSource, dispatch_uid="rights_cache.source_saved")
@receiver(post_delete, sender=User, dispatch_uid="rights_cache.user_deleted")
@receiver(post_delete, sender=Group, dispatch_uid="rights_cache.group_deleted")
@receiver(post_delete, sender=DataSourcePermission, dispatch_uid="rights_cache.permission_deleted")
@receiver(post_delete, sender=DataSource, dispatch_uid="rights_cache.source_deleted")
@receiver(rows_changed_in_bulk, dispatch_uid="rights_cache.bulk_change")
def rights_changed(sender, **kwargs) -> None:
    rights_cache.forget_all()


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="rights_cache.membership_changed")
def membership_changed(sender, action: str, **kwargs) -> None:
    # Either side may change it: user.groups.add(...) or group.user_set.remove(...).
    if action in ("post_add", "post_remove", "post_clear"):
        rights_cache.forget_all()
