"""Read-side queries: history and saved queries a user may see, and what the workspace opens."""

import uuid
from dataclasses import dataclass, field
from typing import Any

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from apps.accounts.policy import is_admin
from apps.datasources import access
from apps.datasources.access import Action, rights_on
from apps.datasources.models import DataSource
from apps.queries import policy, saved_queries
from apps.queries.exceptions import SavedQueryNotFound, SharedQueryNotReadable
from apps.queries.models import QueryRun, RunStatus, SavedQuery
from querybase.types import AnyUser


class HistoryFilter(django_filters.FilterSet):
    datasource = django_filters.NumberFilter(field_name="datasource_id")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    cached = django_filters.BooleanFilter(field_name="from_cache")
    user = django_filters.CharFilter(field_name="user__username", help_text="Admins only: another user's runs.")

    class Meta:
        model = QueryRun
        fields = ["datasource", "status", "created_after", "created_before", "cached", "user"]


def history_for(user: AnyUser) -> QuerySet[QueryRun]:
    """A user's own runs; admins see everyone's (and may filter by user)."""
    return policy.runs_visible_to(user).select_related("datasource", "user").order_by("-created_at")


def usernames_in_history(viewer: AnyUser) -> list[str]:
    """Whose runs the viewer may pick in the history's user filter: everyone who ran
    something, for an admin; nobody else filters by user."""
    if not is_admin(viewer):
        return []
    return list(
        get_user_model()
        .objects.filter(query_runs__isnull=False)
        .distinct()
        .order_by("username")
        .values_list("username", flat=True)[:1000]
    )


def saved_queries_for(user: AnyUser) -> QuerySet[SavedQuery]:
    """Queries the user owns, and those shared with one of their groups on a source they may
    read now: sharing with a group gives the text only to its members who may read the
    source, as a share link does (`saved_queries.shared_query`)."""
    shared = Q(
        shared_with_groups__in=user.groups.all(),
        datasource__in=access.datasources_user_may(user, Action.READ).values("pk"),
    )
    return (
        SavedQuery.objects.filter(Q(owner=user) | shared)
        .distinct()
        .select_related("owner", "datasource")
        .prefetch_related("shared_with_groups")
    )


@dataclass(frozen=True)
class SourceAccess:
    """What a user may do with one source's SQL in the workspace, and whom to ask for more."""

    datasource: DataSource
    may_read: bool
    # In the workspace's source picker: may read, or may request writes.
    may_query: bool
    administrators: list = field(default_factory=list)

    @property
    def administrator_emails(self) -> str:
        """For one mailto: link to all of them."""
        return ",".join(admin.email for admin in self.administrators if admin.email)


def source_access(user: AnyUser, datasource: DataSource) -> SourceAccess:
    _, rights = rights_on(user, datasource.pk)
    may_read = Action.READ in rights
    return SourceAccess(
        datasource=datasource,
        may_read=may_read,
        may_query=bool({Action.READ, Action.WRITE} & rights),
        # Only asked when someone needs them: the page says whom to ask for access.
        administrators=[] if may_read else list(access.source_administrators()),
    )


@dataclass(frozen=True)
class QueryToOpen:
    """What the workspace opens from a link: a past run (re-run), a saved query, or a query
    shared by link. When it cannot be opened, `missing` or `access` says why, so the page
    never falls back to the default query silently."""

    initial: dict[str, Any] | None = None
    access: SourceAccess | None = None
    missing: str = ""


def query_to_open(user: AnyUser, *, run_id: str | None, saved_id: str | None, share_token: str | None) -> QueryToOpen:
    if run_id:
        run = history_for(user).filter(pk=run_id).first() if _is_uuid(run_id) else None
        if run is None:
            return QueryToOpen(missing="This run is not in your history.")
        return opening_of(user, run.datasource, {"sql": run.sql, "params": run.params})
    if saved_id:
        query = saved_queries_for(user).filter(pk=saved_id).first() if saved_id.isdigit() else None
        if query is None:
            return QueryToOpen(missing="This saved query does not exist or is not shared with you.")
        return opening_of(user, query.datasource, _saved(query, user))
    if share_token:
        try:
            query = saved_queries.shared_query(user, share_token)
        except SavedQueryNotFound as error:
            return QueryToOpen(missing=error.message)
        except SharedQueryNotReadable as error:
            return QueryToOpen(access=source_access(user, error.datasource))
        return opening_of(user, query.datasource, _saved(query, user, share_token=share_token))
    return QueryToOpen()


def _saved(query: SavedQuery, user: AnyUser, *, share_token: str = "") -> dict[str, Any]:
    # The workspace opens it as a document: its id and whether Save may update it.
    fields: dict[str, Any] = {
        "sql": query.sql,
        "params": query.default_params,
        "name": query.name,
        "saved_id": query.pk,
        "mine": query.owner_id == user.pk,
        "chart": query.chart,
    }
    if query.sandbox is not None and query.sandbox.state not in ("expired", "deleted", "failed"):
        # Runs in the owner's sandbox; someone else runs reads there with the link's token.
        fields["sandbox"] = {
            "id": query.sandbox_id,
            "owner": query.owner.username,
            "mine": query.sandbox.owner_id == user.pk,
            "share_token": share_token,
        }
    return fields


def opening_of(user: AnyUser, datasource: DataSource, fields: dict[str, Any]) -> QueryToOpen:
    """What the workspace opens: `fields` (SQL, parameters…) on `datasource`, if the user
    may query it now, and what they may do there."""
    access = source_access(user, datasource)
    # SQL for a source that is not in the picker stays out of the editor: it would run on
    # whichever source the picker shows.
    initial = {"datasource": datasource.pk, **fields} if access.may_query else None
    return QueryToOpen(initial=initial, access=access)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
