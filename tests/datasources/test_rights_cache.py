"""Rights come from a per-user map in Redis: a warm cache decides them without SQL, and
every change to groups, memberships, permissions, users or sources is seen at once."""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.datasources.models import DataSourcePermission
from apps.datasources.rights_cache import RIGHTS_TTL_SECONDS
from tests.support.factories import grant, make_datasource, make_group, make_user

pytestmark = pytest.mark.django_db

SQL = "SELECT id, name FROM customers ORDER BY id LIMIT 2"
# Tables whose rows decide who a user is and what they may do.
RIGHTS_TABLES = ("auth_user", "auth_group", "auth_user_groups", "datasources_datasourcepermission")


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


@pytest.fixture
def analysts(shop):
    group = make_group("analysts")
    grant(group, shop, read=True)
    return group


def jwt_client(user) -> APIClient:
    """A client as the CLI or a script is: a bearer token, not a session."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def read(client, source):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": SQL}, format="json")


def queries_on_rights_tables(captured) -> list[str]:
    return [query["sql"] for query in captured if any(f'"{table}"' in query["sql"] for table in RIGHTS_TABLES)]


def test_a_warm_cache_decides_rights_without_sql(shop, analysts):
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200  # warms the map (and the result cache)

    with CaptureQueriesContext(connection) as warm:
        response = read(client, shop)
    assert response.status_code == 200, response.content
    assert response.json()["cached"] is True
    assert queries_on_rights_tables(warm.captured_queries) == []


def test_the_map_is_kept_for_fifteen_minutes(shop, analysts):
    user = make_user("ana", groups=(analysts,))
    assert read(jwt_client(user), shop).status_code == 200
    assert RIGHTS_TTL_SECONDS == 15 * 60
    redis_client = redis.Redis.from_url(settings.QUERYBASE_CACHE_URL)
    assert 0 < redis_client.ttl(cache.make_key(f"rights:v4:{user.pk}")) <= RIGHTS_TTL_SECONDS


def test_a_revoked_permission_is_refused_at_once(shop, analysts):
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200

    DataSourcePermission.objects.filter(group=analysts, datasource=shop).delete()
    assert read(client, shop).status_code == 404


def test_permissions_replaced_through_the_api_apply_at_once(shop, analysts, admin_client):
    outsiders = make_group("outsiders")
    client = jwt_client(make_user("olga", groups=(outsiders,)))
    assert read(client, shop).status_code == 404  # no right yet: the map says so, and is kept

    response = admin_client.put(
        f"/api/v1/datasources/{shop.id}/permissions",
        {"permissions": [{"group": outsiders.id, "can_read": True}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert read(client, shop).status_code == 200

    admin_client.put(f"/api/v1/datasources/{shop.id}/permissions", {"permissions": []}, format="json")
    assert read(client, shop).status_code == 404


def test_a_changed_permission_applies_at_once(shop, analysts):
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200

    permission = DataSourcePermission.objects.get(group=analysts, datasource=shop)
    permission.can_read, permission.can_write = False, True
    permission.save()
    # Still a right on the source (may request writes), but no longer to read it.
    assert read(client, shop).status_code == 403


@pytest.mark.parametrize("side", ["user", "group"])
def test_leaving_and_joining_a_group_apply_at_once(shop, analysts, side):
    user = make_user("ana", groups=(analysts,))
    client = jwt_client(user)
    assert read(client, shop).status_code == 200

    if side == "user":
        user.groups.remove(analysts)
    else:
        analysts.user_set.remove(user)
    assert read(client, shop).status_code == 404

    if side == "user":
        user.groups.add(analysts)
    else:
        analysts.user_set.add(user)
    assert read(client, shop).status_code == 200


def test_a_deleted_group_takes_its_rights_with_it(shop, analysts):
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200
    analysts.delete()
    assert read(client, shop).status_code == 404


def test_a_deactivated_source_is_refused_at_once(shop, analysts):
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200
    shop.is_active = False
    shop.save()
    assert read(client, shop).status_code == 404


def test_a_deactivated_user_is_refused_at_once(shop, analysts):
    user = make_user("ana", groups=(analysts,))
    client = jwt_client(user)
    assert read(client, shop).status_code == 200
    user.is_active = False
    user.save()
    response = client.post("/api/v1/queries", {"datasource": shop.id, "sql": SQL}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_an_edited_source_is_read_again(shop, analysts):
    """The process keeps source rows per rights epoch: an edit is seen on the next read."""
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).json()["cached"] is False
    shop.max_rows = 1
    shop.save()
    body = read(client, shop).json()
    # A changed source is a new cache key (its updated_at) and a new row cap.
    assert body["cached"] is False
    assert body["result"]["row_count"] == 1 and body["result"]["truncated"] is True


def test_a_bulk_update_of_permissions_applies_at_once(shop, analysts):
    """QuerySet.update sends no post_save: the permissions' queryset says so itself."""
    client = jwt_client(make_user("ana", groups=(analysts,)))
    assert read(client, shop).status_code == 200
    DataSourcePermission.objects.filter(group=analysts).update(can_read=False)
    assert read(client, shop).status_code == 404
