"""Small builders for the objects tests arrange; explicit arguments, no magic."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from apps.datasources.models import DataSource, DataSourcePermission

DEFAULT_PASSWORD = "correct-horse-battery-staple"


def make_user(
    username: str, *, groups: tuple[Group, ...] = (), is_admin: bool = False, password: str = DEFAULT_PASSWORD
):
    user = get_user_model().objects.create_user(
        username=username, password=password, is_staff=is_admin, is_superuser=is_admin
    )
    user.groups.add(*groups)
    return user


def make_group(name: str) -> Group:
    return Group.objects.get_or_create(name=name)[0]


def grant(group: Group, datasource: DataSource, *, read: bool = False, write: bool = False, approve: bool = False):
    return DataSourcePermission.objects.create(
        group=group, datasource=datasource, can_read=read, can_write=write, can_approve=approve
    )


def make_datasource(name: str = "shop", *, engine: str = "sqlite", password: str = "", **fields) -> DataSource:
    datasource = DataSource(name=name, engine=engine, **fields)
    datasource.set_password(password)
    datasource.save()
    return datasource


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def source_from_server(name: str, engine: str, server, **fields) -> DataSource:
    """A data source pointing at one of the real test servers (tests/support/databases.py)."""
    return make_datasource(
        name,
        engine=engine,
        host=server.host,
        port=server.port,
        database=server.database,
        username=server.username,
        password=server.password,
        **fields,
    )


def reader(name: str, *sources: DataSource, write: bool = False, approve: bool = False):
    """A user in a group of their own that may read (and optionally write/approve) `sources`."""
    group = make_group(f"group-of-{name}")
    for source in sources:
        grant(group, source, read=True, write=write, approve=approve)
    return make_user(name, groups=(group,))


def postgres_payload(**overrides) -> dict:
    """The API body of a PostgreSQL data source, as an admin would send it."""
    return {
        "name": "warehouse",
        "engine": "postgresql",
        "host": "db.internal",
        "port": 5432,
        "database": "dwh",
        "username": "qb",
        "password": "pw-1",
        **overrides,
    }
