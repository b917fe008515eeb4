"""The audit search's test pieces shared by the API, CLI and page tests."""

from collections.abc import Iterator
from contextlib import contextmanager

from apps.accounts.models import GroupRights
from apps.audit_search.search_store import SearchStore, get_store
from tests.support.factories import make_group, make_user


@contextmanager
def emptied_store() -> Iterator[SearchStore]:
    """The search store, empty before and after: it is not the test database, so nothing
    rolls it back."""
    store = get_store()
    store.clear()
    yield store
    store.clear()


def make_auditor(username: str = "audrey"):
    """A user whose group holds the auditor right."""
    group = make_group("auditors")
    GroupRights.objects.create(group=group, can_audit=True)
    return make_user(username, groups=(group,))
