import pytest

from tests.support.factories import make_datasource


@pytest.fixture
def shop(transactional_db, shop_sqlite_path):
    """The demo shop as a SQLite source (committed: servers in other processes read it)."""
    return make_datasource("shop", database=str(shop_sqlite_path))
