"""Invariant 4 (part): permission checks run before any cache lookup, so a cached result
never reaches someone without the right to read it."""

import pytest

from apps.datasources.models import DataSourcePermission
from tests.support.factories import client_for, grant, make_datasource, make_group, make_user, reader

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

SQL = "SELECT name, email FROM customers ORDER BY id LIMIT 5"


def submit(client, source):
    return client.post("/api/v1/queries", {"datasource": source.id, "sql": SQL}, format="json")


def test_cached_result_is_refused_to_users_without_read(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    assert submit(client_for(reader("ana", shop)), shop).status_code == 200  # now cached
    approvers = make_group("approvers")
    grant(approvers, shop, approve=True)
    writers = make_group("writers")
    grant(writers, shop, write=True)
    for user in (
        make_user("no-rights"),
        make_user("approver", groups=(approvers,)),
        make_user("writer", groups=(writers,)),
    ):
        response = submit(client_for(user), shop)
        assert response.status_code in (403, 404), user.username
        assert "email" not in response.content.decode()


def test_revoked_reader_gets_no_cached_answer(shop_sqlite_path):
    shop = make_datasource("shop", database=str(shop_sqlite_path))
    ana = reader("ana", shop)
    client = client_for(ana)
    assert submit(client, shop).status_code == 200
    DataSourcePermission.objects.filter(group__user=ana).update(can_read=False)
    response = submit(client, shop)
    assert response.status_code == 404  # no right left at all: the source is not even visible
    assert "email" not in response.content.decode()


def test_cache_is_keyed_by_database_credentials(shop_sqlite_path):
    from apps.datasources.models import DataSource
    from apps.queries import result_store

    shop = make_datasource("shop", database=str(shop_sqlite_path), username="owner")
    key_before = result_store.cache_key_for(shop, SQL, None)
    shop.read_username = "reader"
    shop.save()
    shop = DataSource.objects.get(pk=shop.pk)
    assert result_store.cache_key_for(shop, SQL, None) != key_before
