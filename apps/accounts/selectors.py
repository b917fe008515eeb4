"""Read-side questions about a user."""

from typing import Any

from django.contrib.auth.models import User

from apps.accounts import policy
from apps.datasources.access import rights_by_datasource
from apps.datasources.models import DataSource


def user_profile(user: User) -> dict[str, Any]:
    """The user, their groups and their effective rights on each data source."""
    rights = rights_by_datasource(user)
    sources = DataSource.objects.filter(id__in=rights.keys()).order_by("name")
    return {
        "id": user.id,
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_admin": policy.is_admin(user),
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "datasources": [
            {
                "id": source.id,
                "name": source.name,
                "engine": source.engine,
                "can_read": "read" in rights[source.id],
                "can_write": "write" in rights[source.id],
                "can_approve": "approve" in rights[source.id],
            }
            for source in sources
        ],
    }
