"""Deleting a user deletes their runs (their history goes with them; the audit log keeps
what they did). A result cached from one of those runs would then answer the next reader
with a run that no longer exists: the cached reads of the sources they read are dropped."""

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from apps.queries import result_store
from apps.queries.models import QueryRun


@receiver(pre_delete, sender=User, dispatch_uid="queries.forget_results_of_deleted_user")
def forget_results_of_deleted_user(sender, instance: User, **kwargs) -> None:
    sources = set(
        QueryRun.objects.filter(user=instance, datasource__isnull=False)
        .values_list("datasource_id", flat=True)
        .distinct()
    )

    def forget() -> None:
        for datasource_id in sources:
            result_store.forget_results_of(datasource_id)

    # Now, so that nothing cached from these runs is served while they are being deleted,
    # and after the commit, so that nothing cached meanwhile outlives them.
    forget()
    transaction.on_commit(forget)
