"""Copies outlive nothing: when a source is deleted, its sandbox rows go with it (CASCADE),
so its copies on the sandbox server are dropped first, then its restricted roles; and the
roles' passwords are re-encrypted when the encryption key rotates. Receivers rather than
calls in apps.datasources, which must not depend on the sandboxes built on it."""

import logging

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.datasources.crypto import CredentialDecryptionError, needs_rotation
from apps.datasources.models import DataSource
from apps.datasources.services import keys_rotating
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole, SandboxState
from apps.sandboxes.roles import drop_all_roles

logger = logging.getLogger(__name__)


@receiver(pre_delete, sender=DataSource, dispatch_uid="sandboxes.drop_copies_of_deleted_source")
def drop_copies_of_deleted_source(sender, instance: DataSource, **kwargs) -> None:
    names = list(
        Sandbox.objects.filter(datasource=instance)
        .exclude(state=SandboxState.DELETED)
        .values_list("database_name", flat=True)
    )
    names += GoldenCopy.objects.filter(datasource=instance, dropped_at=None).values_list("database_name", flat=True)
    if not names:
        drop_all_roles(instance)
        return
    try:
        copies = copies_for(instance)
    except CredentialDecryptionError as error:
        logger.warning("copies of deleted source %s left on the server: %s (%s)", instance.pk, names, error)
        return
    for name in names:
        try:
            copies.drop(name)
        except CopyFailed as error:
            logger.warning("copy %s of deleted source %s left on the server: %s", name, instance.pk, error.message)
    drop_all_roles(instance)


@receiver(keys_rotating, dispatch_uid="sandboxes.rotate_role_passwords")
def rotate_role_passwords(sender, **kwargs) -> int:
    """The restricted logins' passwords are re-encrypted with the sources' credentials."""
    rotated = 0
    for role in SandboxRole.objects.select_for_update().filter(dropped_at=None).order_by("pk"):
        if needs_rotation(role.password_encrypted):
            role.set_password(role.get_password())
            role.save(update_fields=["password_encrypted"])
            rotated += 1
    return rotated
