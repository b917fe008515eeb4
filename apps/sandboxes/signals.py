"""Copies outlive nothing: when a source is deleted, its sandbox rows go with it (CASCADE),
so its copies on the sandbox server are dropped first. A receiver rather than a call in
apps.datasources, which must not depend on the sandboxes built on it."""

import logging

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxState

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
