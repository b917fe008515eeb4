"""Seeding the embedded demo: users, groups, a SQLite shop source and its permissions."""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apps.datasources.models import DataSource, DataSourcePermission
from apps.datasources.services import create_datasource
from apps.demo.shop import build_shop_database
from apps.sqlcore.dialect import Dialect

DEMO_SOURCE_NAME = "Demo shop (SQLite)"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    groups: tuple[str, ...]
    is_admin: bool = False


DEMO_USERS = (
    DemoUser("admin", "admin", ("Analysts",), is_admin=True),
    DemoUser("analyst", "analyst", ("Analysts",)),
    DemoUser("approver", "approver", ("Approvers",)),
)
DEMO_GRANTS = {
    "Analysts": {"can_read": True, "can_write": True, "can_approve": False},
    "Approvers": {"can_read": True, "can_write": False, "can_approve": True},
}


def demo_database_path() -> Path:
    return settings.QUERYBASE_SQLITE_ROOTS[0] / "demo_shop.sqlite3"


@transaction.atomic
def seed_demo() -> DataSource:
    """Create what is missing; never overwrite what exists (safe to run at every start)."""
    path = demo_database_path()
    if not path.exists():
        build_shop_database(path)
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in DEMO_GRANTS}
    user_model = get_user_model()
    for demo in DEMO_USERS:
        user = user_model.objects.filter(username=demo.username).first()
        if user is None:
            user = user_model(username=demo.username, is_staff=demo.is_admin, is_superuser=demo.is_admin)
            user.set_password(demo.password)
            user.save()
        user.groups.add(*(groups[name] for name in demo.groups))
    datasource = DataSource.objects.filter(name=DEMO_SOURCE_NAME).first()
    if datasource is None:
        datasource = create_datasource(
            actor=None,
            fields={
                "name": DEMO_SOURCE_NAME,
                "description": "A coffee shop: customers, products, orders and order items.",
                "engine": Dialect.SQLITE,
                "database": str(path),
                "dry_run_enabled": True,
                # The demo shows the writable copies: analysts try writes at once in their own.
                "sandbox_enabled": True,
            },
        )
    for name, rights in DEMO_GRANTS.items():
        DataSourcePermission.objects.get_or_create(group=groups[name], datasource=datasource, defaults=rights)
    return datasource
