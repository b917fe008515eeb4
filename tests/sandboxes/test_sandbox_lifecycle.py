"""Sandboxes on real PostgreSQL, MariaDB and SQLite: the pool, claims, expiry, reset, delete."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection as django_connection
from django.utils import timezone

from apps.datasources.connectors.base import QueryLimits
from apps.sandboxes import lifecycle
from apps.sandboxes.connectors import sandbox_connector
from apps.sandboxes.copies import copy_of_golden
from apps.sandboxes.engines import copies_for
from apps.sandboxes.golden import current_golden, golden_for_copying
from apps.sandboxes.models import Sandbox, SandboxRole, SandboxState
from apps.sandboxes.naming import sandbox_name
from apps.sandboxes.upkeep import sandbox_upkeep
from apps.sqlcore.statements import BoundStatement
from tests.support import databases
from tests.support.factories import reader
from tests.support.sandboxes import sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]
ENGINES = ["postgresql", "mysql", "sqlite"]


def rows_in(sandbox: Sandbox, sql: str) -> list[tuple]:
    connector_settings = copies_for(sandbox.datasource).connection_settings(
        sandbox.database_name, statement_timeout_ms=10_000
    )
    result = sandbox_connector(sandbox.datasource.engine, connector_settings).run_read(
        [BoundStatement(sql)], QueryLimits(max_rows=1000, timeout_ms=10_000)
    )
    return [tuple(row) for row in result.rows]


def write_in(sandbox: Sandbox, sql: str) -> None:
    connector_settings = copies_for(sandbox.datasource).connection_settings(
        sandbox.database_name, statement_timeout_ms=10_000
    )
    sandbox_connector(sandbox.datasource.engine, connector_settings).run_write([BoundStatement(sql)], 10_000)


@pytest.mark.parametrize("engine", ENGINES)
def test_upkeep_fills_the_pool_from_a_sampled_golden_copy(engine, request, admin_client):
    source = sandbox_source(engine, request, sandbox_pool_size=2)
    before = source_checksum(source)

    counts = sandbox_upkeep()

    assert counts["pooled"] == 2 and counts["refreshed"] == 1
    pooled = list(Sandbox.objects.filter(datasource=source, state=SandboxState.POOLED))
    assert len(pooled) == 2 and all(sandbox.owner is None for sandbox in pooled)
    copies = copies_for(source)
    assert all(copies.exists(sandbox.database_name) for sandbox in pooled)
    golden = current_golden(source)
    # 30 customers above the bound of 10: a sample; the 20 orders keep those whose customer is in it.
    assert any("customers" in table for table in golden.sampled_tables)
    assert rows_in(pooled[0], "SELECT count(*) FROM customers") == [(10,)]
    assert rows_in(pooled[0], "SELECT count(*) FROM big_orders")[0][0] <= 10
    listed = admin_client.get("/api/v1/sandboxes").json()["results"]
    assert [(entry["state"], entry["owner"]) for entry in listed] == [("pooled", None), ("pooled", None)]
    # A second pass finds the pool full: nothing more is made.
    assert sandbox_upkeep()["pooled"] == 0
    assert source_checksum(source) == before


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_two_users_asking_at_once_for_the_last_pooled_copy_get_two_different_copies(engine, request):
    source = sandbox_source(engine, request, sandbox_pool_size=1)
    sandbox_upkeep()
    assert Sandbox.objects.filter(datasource=source, state=SandboxState.POOLED).count() == 1
    users = [reader(name, source) for name in ("ada", "ben")]
    barrier = threading.Barrier(2)
    results: dict[str, Sandbox | Exception] = {}

    def ask(user) -> None:
        try:
            barrier.wait()
            results[user.username] = lifecycle.sandbox_for(user, source.pk)[0]
        except Exception as error:  # reported by the assertion below
            results[user.username] = error
        finally:
            django_connection.close()

    threads = [threading.Thread(target=ask, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    ada, ben = results["ada"], results["ben"]
    assert isinstance(ada, Sandbox) and isinstance(ben, Sandbox), results
    assert ada.pk != ben.pk and ada.database_name != ben.database_name
    assert {ada.owner.username, ben.owner.username} == {"ada", "ben"}
    assert all(copies_for(source).exists(sandbox.database_name) for sandbox in (ada, ben))
    # One came from the pool, the other was copied on demand.
    assert Sandbox.objects.filter(datasource=source, state=SandboxState.ACTIVE).count() == 2


def test_asking_again_gives_the_same_sandbox(request):
    source = sandbox_source("sqlite", request)
    user = reader("ada", source)
    first, made = lifecycle.sandbox_for(user, source.pk)
    again, made_again = lifecycle.sandbox_for(user, source.pk)
    assert made and not made_again
    assert first.pk == again.pk


@pytest.mark.parametrize("engine", ENGINES)
def test_a_sandbox_unused_for_its_ttl_is_dropped_by_upkeep(engine, request):
    source = sandbox_source(engine, request, sandbox_idle_ttl_hours=24)
    user = reader("ada", source)
    sandbox, _ = lifecycle.sandbox_for(user, source.pk)
    copies = copies_for(source)
    assert copies.exists(sandbox.database_name)

    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):
        sandbox_upkeep()
    sandbox.refresh_from_db()
    assert sandbox.state == SandboxState.IDLE  # unused a while, kept

    with time_machine.travel(timezone.now() + timedelta(hours=25), tick=False):
        sandbox_upkeep()
    sandbox.refresh_from_db()
    assert sandbox.state == SandboxState.DELETED
    assert sandbox.dropped_at is not None
    assert not copies.exists(sandbox.database_name)
    # The user now gets a new one.
    assert lifecycle.sandbox_for(user, source.pk)[0].pk != sandbox.pk


@pytest.mark.parametrize("engine", ENGINES)
def test_reset_brings_back_the_golden_data_and_drops_the_old_copy(engine, request):
    source = sandbox_source(engine, request)
    user = reader("ada", source)
    sandbox, _ = lifecycle.sandbox_for(user, source.pk)
    write_in(sandbox, "DELETE FROM orders")
    assert rows_in(sandbox, "SELECT count(*) FROM orders") == [(0,)]
    old_name = sandbox.database_name

    reset = lifecycle.reset_sandbox(user, sandbox.pk)

    assert reset.pk == sandbox.pk and reset.database_name != old_name
    assert rows_in(reset, "SELECT count(*) FROM orders")[0][0] > 0
    assert not copies_for(source).exists(old_name)


@pytest.mark.parametrize("engine", ENGINES)
def test_delete_drops_the_copy_for_real(engine, request):
    source = sandbox_source(engine, request)
    user = reader("ada", source)
    sandbox, _ = lifecycle.sandbox_for(user, source.pk)
    assert copies_for(source).exists(sandbox.database_name)

    lifecycle.delete_sandbox(user, sandbox.pk)

    sandbox.refresh_from_db()
    assert sandbox.state == SandboxState.DELETED
    assert not copies_for(source).exists(sandbox.database_name)


def test_refreshing_the_golden_copy_replaces_pooled_copies(request):
    source = sandbox_source("postgresql", request, sandbox_pool_size=1)
    sandbox_upkeep()
    old_golden = current_golden(source)
    stale = Sandbox.objects.get(datasource=source, state=SandboxState.POOLED)

    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        counts = sandbox_upkeep()

    assert counts["refreshed"] == 1
    assert current_golden(source).pk != old_golden.pk
    assert not copies_for(source).exists(old_golden.database_name)
    stale.refresh_from_db()
    assert stale.state == SandboxState.DELETED
    fresh = Sandbox.objects.get(datasource=source, state=SandboxState.POOLED)
    assert fresh.golden_id == current_golden(source).pk


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_deleting_a_source_drops_its_copies(engine, request):
    source = sandbox_source(engine, request)
    sandbox, _ = lifecycle.sandbox_for(reader("ada", source), source.pk)
    golden = current_golden(source)
    copies = copies_for(source)

    source.delete()

    assert not copies.exists(sandbox.database_name)
    assert not copies.exists(golden.database_name)


def test_turning_sandboxes_off_drops_pooled_copies_and_the_golden_copy(request):
    source = sandbox_source("sqlite", request, sandbox_pool_size=1)
    sandbox_upkeep()
    pooled = Sandbox.objects.get(datasource=source, state=SandboxState.POOLED)
    golden = current_golden(source)

    source.sandbox_enabled = False
    source.save()
    sandbox_upkeep()

    pooled.refresh_from_db()
    assert pooled.state == SandboxState.DELETED
    assert not copies_for(source).exists(pooled.database_name)
    assert not copies_for(source).exists(golden.database_name)
    assert current_golden(source) is None


@pytest.mark.parametrize(("engine", "routine"), [("postgresql", "run_text"), ("mysql", "touch_source")])
def test_golden_copies_keep_functions_but_leave_out_those_that_reach_beyond_the_copy(engine, routine, request):
    source = sandbox_source(engine, request)
    sandbox, _ = lifecycle.sandbox_for(reader("ada", source), source.pk)

    assert rows_in(sandbox, "SELECT doubled(21)")[0][0] in (42, "42", "42.00")
    assert any(routine in note for note in current_golden(source).notes)
    if engine == "postgresql":
        names = "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
    else:
        names = "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
    assert (routine,) not in rows_in(sandbox, names)


def test_a_deleted_users_sandbox_is_dropped_by_upkeep(request):
    source = sandbox_source("sqlite", request)
    user = reader("ada", source)
    sandbox, _ = lifecycle.sandbox_for(user, source.pk)

    user.delete()
    sandbox_upkeep()

    sandbox.refresh_from_db()
    assert sandbox.state == SandboxState.DELETED
    assert not copies_for(source).exists(sandbox.database_name)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_copy_whose_process_died_is_failed_dropped_and_shown_until_its_ttl(engine, request, client):
    source = sandbox_source(engine, request, sandbox_idle_ttl_hours=24)
    golden = golden_for_copying(source)
    user = reader("ada", source)
    # Two copies a dead process left half made: a user's, and one for the pool.
    left = [
        Sandbox.objects.create(datasource=source, owner=owner, database_name=sandbox_name(source), golden=golden)
        for owner in (user, None)
    ]
    for sandbox in left:
        copy_of_golden(source, golden.database_name, sandbox.database_name)
    client.force_login(user)

    with time_machine.travel(timezone.now() + timedelta(hours=3), tick=False):
        counts = sandbox_upkeep()
    assert counts["dropped"] == 2 and counts["failed_settled"] == 1
    assert not any(copies_for(source).exists(sandbox.database_name) for sandbox in left)
    # Their own logins (MySQL's) went with them.
    assert not SandboxRole.objects.filter(database_name__in=[s.database_name for s in left], dropped_at=None).exists()
    mine, pooled = (Sandbox.objects.get(pk=sandbox.pk) for sandbox in left)
    assert pooled.state == SandboxState.DELETED  # nobody to tell
    # The owner's stays failed, with why, until the source's idle TTL has passed.
    assert mine.state == SandboxState.FAILED and mine.dropped_at is not None
    shown = client.get(f"/api/v1/sandboxes/{mine.pk}").json()
    assert shown["state"] == "failed" and shown["error_message"] == "The process making this copy stopped."

    with time_machine.travel(timezone.now() + timedelta(hours=26), tick=False):
        assert sandbox_upkeep()["failed_settled"] == 1
    assert Sandbox.objects.get(pk=mine.pk).state == SandboxState.DELETED
    assert client.get(f"/api/v1/sandboxes/{mine.pk}").status_code == 404


def test_the_owner_dismisses_a_failed_sandbox_by_deleting_it(request, client):
    source = sandbox_source("sqlite", request)
    user = reader("ada", source)
    failed = Sandbox.objects.create(
        datasource=source,
        owner=user,
        database_name=sandbox_name(source),
        state=SandboxState.FAILED,
        error_message="The sandbox could not be copied: disk full",
    )
    client.force_login(user)
    assert client.get(f"/api/v1/sandboxes/{failed.pk}").json()["state"] == "failed"

    assert client.delete(f"/api/v1/sandboxes/{failed.pk}").status_code == 204

    failed.refresh_from_db()
    assert failed.state == SandboxState.DELETED and failed.dropped_at is not None
    assert client.get("/api/v1/sandboxes").json()["results"] == []


@pytest.fixture
def dates_in_the_mysql_source(mysql_sandbox_server):
    """A table of the MariaDB sandbox source holding dates that are no moment, as old data
    does: a zero date (in a NOT NULL column), a zero month or day, a day its month lacks."""
    connection = databases.mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"USE {mysql_sandbox_server.database}")
    cursor.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
    cursor.execute(
        "CREATE OR REPLACE TABLE dated "
        "(id INT PRIMARY KEY, day DATE NOT NULL, at DATETIME, at6 DATETIME(6), t TIME(2), y YEAR)"
    )
    cursor.execute(
        "INSERT INTO dated VALUES (1, '0000-00-00', '2020-01-00 10:00:00', '0000-00-00 00:00:00', '-838:59:59.5', 0), "
        "(2, '2025-02-30', '2025-02-30 12:00:00', '2025-01-01 00:00:00.5', '100:00:00', 2025)"
    )
    connection.commit()
    yield
    cursor.execute("DROP TABLE dated")
    connection.close()


@pytest.mark.usefixtures("dates_in_the_mysql_source")
def test_a_mariadb_copy_holds_the_dates_of_the_source_that_are_no_moment(request):
    """The driver reads such dates as NULL: copied through it, a zero date became NULL, or
    failed the whole copy on a NOT NULL column. They are copied as the source's text."""
    source = sandbox_source("mysql", request)
    sandbox, _ = lifecycle.sandbox_for(reader("ada", source), source.pk)

    assert rows_in(sandbox, "SELECT * FROM dated ORDER BY id") == [
        (1, "0000-00-00", "2020-01-00 10:00:00", "0000-00-00 00:00:00.000000", "-838:59:59.50", "0000"),
        (2, "2025-02-30", "2025-02-30 12:00:00", "2025-01-01T00:00:00.500000", "100:00:00.00", "2025"),
    ]
