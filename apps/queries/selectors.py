"""Read-side queries: history and saved queries a user may see."""

import django_filters
from django.db.models import Q, QuerySet

from apps.accounts import policy
from apps.queries.models import QueryRun, RunStatus, SavedQuery


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


def history_for(user) -> QuerySet[QueryRun]:
    """A user's own runs; admins see everyone's (and may filter by user)."""
    return policy.runs_visible_to(user).select_related("datasource").order_by("-created_at")


def saved_queries_for(user) -> QuerySet[SavedQuery]:
    """Queries the user owns or that are shared with one of their groups."""
    shared = Q(shared_with_groups__in=user.groups.all())
    return (
        SavedQuery.objects.filter(Q(owner=user) | shared)
        .distinct()
        .select_related("owner", "datasource")
        .prefetch_related("shared_with_groups")
    )
