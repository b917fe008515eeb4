"""Security invariant: two users' sandboxes of one MySQL/MariaDB source are kept apart by
the database, not only by the lexical guard. Every schema of a MySQL server is one
qualified name away, so each copy runs as a login of its own, granted that schema alone;
with the guard switched off, one user's SQL naming another's sandbox is refused by the
server. Those logins live exactly as long as their copy: creating, resetting, deleting,
pooling and upkeep leave none behind, a copy that fails half-way leaves none, and a copy
without its login runs nothing. Copies made when one login served the whole source are
given their own by upkeep, keeping what is in them."""

import MySQLdb
import pytest
from django.utils import timezone

from apps.sandboxes.engines import copies_for
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole, SandboxState
from apps.sandboxes.roles import make_copy_login
from apps.sandboxes.upkeep import sandbox_upkeep
from tests.support import databases
from tests.support.factories import client_for, reader
from tests.support.sandboxes import ROLE_PREFIX, sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

# What ada types, naming ben's sandbox schema; each is refused by the server itself.
REACHING_INTO_ANOTHER_SANDBOX = [
    "SELECT * FROM {other}.customers",
    "UPDATE {other}.customers SET name = 'from ada'",
    "DELETE FROM `{other}`.orders",
    "DROP TABLE {other}.orders",
    "CREATE TABLE stolen AS SELECT * FROM {other}.customers",
    "CREATE VIEW peek AS SELECT * FROM {other}.customers",
    "CREATE TABLE {other}.planted (a INT)",
    "DROP DATABASE {other}",
]


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


def rows(client, source, sandbox_id, sql):
    answer = run(client, source, sandbox_id, sql)
    assert answer.status_code == 200, answer.content
    return answer.json()["result"]["rows"]


def logins_on_server(source) -> set[str]:
    """The source's sandbox logins that exist on the MariaDB server (mysql.user)."""
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute("SELECT User FROM mysql.user WHERE User LIKE %s", [f"{ROLE_PREFIX}{source.pk}\\_%"])
        return {row[0] for row in cursor.fetchall()}
    finally:
        root.close()


def write(client, source, sandbox_id, sql) -> int:
    """Rows the write affected."""
    return rows(client, source, sandbox_id, sql)[0][2]


def live_logins(source) -> set[str]:
    return set(SandboxRole.objects.filter(datasource=source, dropped_at=None).values_list("name", flat=True))


def two_users_with_sandboxes(request, **fields):
    source = sandbox_source("mysql", request, sandbox_write_kinds=["dml", "ddl", "other"], **fields)
    ada, ben = client_for(reader("ada", source)), client_for(reader("ben", source))
    mine = ada.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    theirs = ben.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    return source, (ada, mine), (ben, theirs)


@pytest.mark.parametrize("sql", REACHING_INTO_ANOTHER_SANDBOX)
def test_with_the_guard_off_the_server_refuses_sql_naming_another_users_sandbox(sql, request, monkeypatch):
    monkeypatch.setattr("apps.sandboxes.execution.outside_reach", lambda *args, **kwargs: None)
    source, (ada, mine), (ben, theirs) = two_users_with_sandboxes(request)
    other = Sandbox.objects.get(pk=theirs).database_name
    assert write(ben, source, theirs, "UPDATE customers SET name = 'ben was here' WHERE id = 1") == 1
    before = source_checksum(source)

    answer = run(ada, source, mine, sql.format(other=other))

    assert 400 <= answer.status_code < 500, answer.content
    assert "denied" in answer.json()["error"]["message"].lower()
    # Ben's sandbox is as he left it, and ada's still works.
    assert rows(ben, source, theirs, "SELECT name FROM customers WHERE id = 1") == [["ben was here"]]
    assert rows(ben, source, theirs, "SELECT count(*) FROM orders") == [[10]]
    assert rows(ada, source, mine, "SELECT count(*) FROM customers WHERE name = 'ben was here'") == [[0]]
    assert source_checksum(source) == before


def test_with_the_guard_on_it_refuses_first(request):
    source, (ada, mine), (_, theirs) = two_users_with_sandboxes(request)
    other = Sandbox.objects.get(pk=theirs).database_name

    answer = run(ada, source, mine, f"SELECT * FROM {other}.customers")

    assert answer.status_code == 403, answer.content
    assert answer.json()["error"]["code"] == "sandbox_write_refused"


def test_each_sandbox_runs_as_its_own_login_granted_its_own_schema_only(request):
    source, (ada, mine), (ben, theirs) = two_users_with_sandboxes(request)

    ada_user = rows(ada, source, mine, "SELECT CURRENT_USER()")[0][0].split("@")[0]
    ben_user = rows(ben, source, theirs, "SELECT CURRENT_USER()")[0][0].split("@")[0]
    ada_sees = {row[0] for row in rows(ada, source, mine, "SHOW DATABASES")}

    assert ada_user != ben_user and ada_user != source.username
    assert SandboxRole.objects.get(name=ada_user).database_name == Sandbox.objects.get(pk=mine).database_name
    assert SandboxRole.objects.get(name=ben_user).database_name == Sandbox.objects.get(pk=theirs).database_name
    assert ada_sees == {"information_schema", Sandbox.objects.get(pk=mine).database_name}
    assert all(len(name) <= 32 for name in live_logins(source))  # MySQL's limit on user names
    # No login shared by the source's copies.
    assert not SandboxRole.objects.filter(datasource=source, database_name="").exists()


def test_create_reset_delete_pool_and_upkeep_leave_no_login_behind(request):
    source = sandbox_source("mysql", request, sandbox_pool_size=1)
    client = client_for(reader("ada", source))

    assert sandbox_upkeep()["pooled"] == 1  # a pooled copy comes with its login
    pooled = Sandbox.objects.get(datasource=source, state=SandboxState.POOLED)
    assert logins_on_server(source) == live_logins(source) and len(live_logins(source)) == 1

    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert sandbox_id == pooled.pk
    first = live_logins(source)

    assert client.post(f"/api/v1/sandboxes/{sandbox_id}/reset").status_code == 200
    after_reset = live_logins(source)
    assert len(after_reset) == 1 and after_reset.isdisjoint(first)  # the old copy's login went with it
    assert logins_on_server(source) == after_reset
    assert rows(client, source, sandbox_id, "SELECT count(*) FROM orders") == [[10]]

    assert client.delete(f"/api/v1/sandboxes/{sandbox_id}").status_code == 204
    assert logins_on_server(source) == set() and live_logins(source) == set()

    source.sandbox_enabled = False
    source.save()
    sandbox_upkeep()  # the pool the upkeep refilled meanwhile, if any, goes too
    assert logins_on_server(source) == set()
    assert live_logins(source) == set()
    assert not Sandbox.objects.filter(datasource=source).exclude(state=SandboxState.DELETED).exists()


def test_a_copy_that_fails_half_way_leaves_no_login(request):
    source = sandbox_source("mysql", request)
    client = client_for(reader("ada", source))
    assert client.post(f"/api/v1/datasources/{source.pk}/sandbox").status_code == 201
    # The golden copy vanishes behind QueryBase's back: the next copy fails after its login was made.
    golden = GoldenCopy.objects.get(datasource=source, is_current=True)
    copies_for(source).drop(golden.database_name)
    ben = client_for(reader("ben", source))
    logins_before = live_logins(source)

    answer = ben.post(f"/api/v1/datasources/{source.pk}/sandbox")

    assert answer.status_code == 502, answer.content
    assert answer.json()["error"]["code"] == "sandbox_unavailable"
    failed = Sandbox.objects.get(datasource=source, owner__username="ben")
    assert failed.state == SandboxState.FAILED
    assert live_logins(source) == logins_before  # ada's only
    assert logins_on_server(source) == logins_before


def test_a_login_left_by_a_dead_process_is_dropped_by_upkeep(request, settings):
    """A process that dies between making a copy's login and recording its copy (a reset)
    leaves a row naming a copy no sandbox has: upkeep drops that login."""
    source = sandbox_source("mysql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    make_copy_login(source, f"{Sandbox.objects.get(pk=sandbox_id).database_name}_never_made")
    assert len(logins_on_server(source)) == 2
    settings.QUERYBASE_SANDBOX_STALE_CREATING_MINUTES = 0

    assert sandbox_upkeep()["stray_logins_dropped"] == 1

    assert logins_on_server(source) == live_logins(source) and len(live_logins(source)) == 1
    assert rows(client, source, sandbox_id, "SELECT count(*) FROM customers") == [[10]]


def test_a_sandbox_without_its_login_runs_nothing_and_says_why(request):
    source = sandbox_source("mysql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    SandboxRole.objects.filter(datasource=source).update(dropped_at=timezone.now())

    answer = run(client, source, sandbox_id, "SELECT count(*) FROM customers")

    assert answer.status_code == 502, answer.content
    error = answer.json()["error"]
    assert error["code"] == "sandbox_unavailable"
    assert "no restricted login" in error["message"] and "reset" in error["message"]


def test_upkeep_gives_a_copy_made_with_the_shared_login_its_own_and_keeps_its_content(request):
    """Before each copy had its own login, one login per source had ALL on each of its
    sandbox schemas and defined their views and routines. Such a copy runs nothing until
    upkeep gives it its own login; then it works as before, with what its owner put in it,
    its views, routines and triggers defined by the new login, and the shared login is
    dropped."""
    source = sandbox_source("mysql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert write(client, source, sandbox_id, "UPDATE customers SET name = 'kept' WHERE id = 1") == 1
    schema = Sandbox.objects.get(pk=sandbox_id).database_name
    shared = make_it_a_copy_of_the_shared_login(source, schema)

    refused = run(client, source, sandbox_id, "SELECT count(*) FROM customers")
    assert refused.status_code == 502 and "no restricted login" in refused.json()["error"]["message"]

    assert sandbox_upkeep()["copies_adopted"] == 1

    own = SandboxRole.objects.get(datasource=source, database_name=schema, dropped_at=None)
    assert rows(client, source, sandbox_id, "SELECT name FROM customers WHERE id = 1") == [["kept"]]
    assert rows(client, source, sandbox_id, "SELECT count(*) FROM big_orders")[0][0] >= 0
    assert rows(client, source, sandbox_id, "SELECT doubled(2)") == [["4.00"]]
    assert write(client, source, sandbox_id, "INSERT INTO customers (name) VALUES ('quiet')") == 1
    assert rows(client, source, sandbox_id, "SELECT count(*) FROM customers WHERE name = 'QUIET'") == [[1]]
    assert rows(client, source, sandbox_id, "SELECT CURRENT_USER()")[0][0].split("@")[0] == own.name
    assert definers_in(schema) == {f"{own.name}@%"}
    assert shared not in logins_on_server(source)
    assert SandboxRole.objects.get(name=shared).dropped_at is not None
    assert logins_on_server(source) == {own.name}


def make_it_a_copy_of_the_shared_login(source, schema: str) -> str:
    """Turn a copy into one made the old way: a login of the whole source granted ALL on
    its schema, defining its views, routines and triggers; the copy's own login gone."""
    shared = f"{ROLE_PREFIX}{source.pk}_shared"
    role = SandboxRole(datasource=source, server=copies_for(source).server.key, name=shared)
    role.set_password("shared-login-password")
    role.save()
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'shared-login-password'", [shared])
        cursor.execute(f"GRANT ALL PRIVILEGES ON `{schema}`.* TO %s@'%%'", [shared])
        own = SandboxRole.objects.get(datasource=source, database_name=schema, dropped_at=None)
        cursor.execute("DROP USER %s@'%%'", [own.name])
        SandboxRole.objects.filter(pk=own.pk).update(dropped_at=timezone.now())
    finally:
        root.close()
    as_shared = MySQLdb.connect(
        host="127.0.0.1", port=3306, user=shared, password="shared-login-password", database=schema
    )
    try:
        cursor = as_shared.cursor()
        cursor.execute("CREATE OR REPLACE VIEW big_orders AS SELECT * FROM orders WHERE total > 100")
        cursor.execute("DROP FUNCTION doubled")
        cursor.execute("CREATE FUNCTION doubled(x DECIMAL(10,2)) RETURNS DECIMAL(12,2) DETERMINISTIC RETURN x * 2")
        cursor.execute("CREATE TRIGGER shout BEFORE INSERT ON customers FOR EACH ROW SET NEW.name = UPPER(NEW.name)")
    finally:
        as_shared.close()
    assert definers_in(schema) == {f"{shared}@%"}
    return shared


def definers_in(schema: str) -> set[str]:
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute(
            "SELECT DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s UNION "
            "SELECT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s UNION "
            "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
            [schema, schema, schema],
        )
        return {row[0] for row in cursor.fetchall()}
    finally:
        root.close()
