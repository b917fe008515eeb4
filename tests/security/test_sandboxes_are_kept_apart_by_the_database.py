"""Security invariant: two users' sandboxes of one source are kept apart by the database,
not only by the lexical guard. Each copy runs as a login of its own that can reach that
copy alone: on MySQL/MariaDB every schema of a server is one qualified name away, and on
every engine a login may change its own password, so a login shared by a source's copies
would open every user's sandbox to one who learns it. With the guard switched off, one
user's SQL naming another's sandbox is refused by the server, and a password changed from
inside a sandbox opens that sandbox and no other. Those logins live exactly as long as
their copy: creating, resetting, deleting, pooling and upkeep leave none behind, a copy
that fails half-way leaves none, and a copy without its login runs nothing. Copies made
when one login served the whole source are given their own by upkeep, keeping what is in
them, and the shared login is dropped."""

from contextlib import contextmanager

import MySQLdb
import psycopg
import pytest
from django.utils import timezone

from apps.datasources.models import DataSource
from apps.sandboxes.engines import copies_for
from apps.sandboxes.engines.base import LOGIN_CONNECTION_LIMIT
from apps.sandboxes.models import GoldenCopy, Sandbox, SandboxRole, SandboxState
from apps.sandboxes.roles import make_copy_login
from apps.sandboxes.upkeep import sandbox_upkeep
from tests.support import databases
from tests.support.factories import client_for, reader
from tests.support.sandboxes import PREFIX, ROLE_PREFIX, sandbox_source, source_checksum

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("drop_copies_after")]

ENGINES = ["postgresql", "mysql"]

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
# On PostgreSQL a statement cannot name another database's objects: what ada could try is
# to act on ben's database or his login, which only their owner or an administrator may.
POSTGRES_REACHING_INTO_ANOTHER_SANDBOX = [
    "DROP DATABASE {other}",
    'ALTER DATABASE {other} RENAME TO "stolen"',
    "ALTER DATABASE {other} SET search_path = nowhere",
    "ALTER ROLE {other_login} PASSWORD 'stolen'",
    "ALTER ROLE {other_login} SET search_path = nowhere",
    "GRANT {other_login} TO CURRENT_USER",
    "SET ROLE {other_login}",
    "REASSIGN OWNED BY {other_login} TO CURRENT_USER",
    "DROP OWNED BY {other_login}",
]
# Changing the login's own password: every login may, on both servers.
CHANGE_OWN_PASSWORD = {
    "postgresql": "ALTER ROLE CURRENT_USER PASSWORD 'known-to-ada'",
    "mysql": "SET PASSWORD = PASSWORD('known-to-ada')",
}


def run(client, source, sandbox_id, sql):
    return client.post("/api/v1/queries", {"datasource": source.pk, "sandbox": sandbox_id, "sql": sql}, format="json")


def rows(client, source, sandbox_id, sql):
    answer = run(client, source, sandbox_id, sql)
    assert answer.status_code == 200, answer.content
    return answer.json()["result"]["rows"]


def logins_on_server(source) -> set[str]:
    """The source's sandbox logins that exist on its sandbox server."""
    pattern = f"{ROLE_PREFIX}{source.pk}\\_%"
    if source.engine == "postgresql":
        with psycopg.connect(**admin_of(source)) as connection:
            found = connection.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [pattern]).fetchall()
        return {row[0] for row in found}
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute("SELECT User FROM mysql.user WHERE User LIKE %s", [pattern])
        return {row[0] for row in cursor.fetchall()}
    finally:
        root.close()


def admin_of(source, database: str = "postgres") -> dict:
    """How the copy-maker connects to a PostgreSQL source's sandbox server."""
    server = copies_for(source).server
    return {
        "host": server.host,
        "port": server.port or 5432,
        "user": server.username,
        "password": server.password,
        "dbname": database,
        "autocommit": True,
    }


def write(client, source, sandbox_id, sql) -> int:
    """Rows the write affected."""
    return rows(client, source, sandbox_id, sql)[0][2]


def live_logins(source) -> set[str]:
    return set(SandboxRole.objects.filter(datasource=source, dropped_at=None).values_list("name", flat=True))


def login_of(sandbox_id: int) -> SandboxRole:
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    return SandboxRole.objects.get(datasource=sandbox.datasource, database_name=sandbox.database_name, dropped_at=None)


def two_users_with_sandboxes(request, engine="mysql", sandbox_password="", **fields):
    source = sandbox_source(engine, request, sandbox_write_kinds=["dml", "ddl", "other"], **fields)
    if sandbox_password:
        source.set_sandbox_password(sandbox_password)
        source.save()
    ada, ben = client_for(reader("ada", source)), client_for(reader("ben", source))
    mine = ada.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    theirs = ben.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    return source, (ada, mine), (ben, theirs)


@pytest.fixture
def first_wall_off(monkeypatch):
    """The lexical guard lets everything through, DCL included: what is refused now, the
    database refuses. Call it with the source whose sandboxes run every kind."""
    monkeypatch.setattr("apps.sandboxes.execution.outside_reach", lambda *args, **kwargs: None)
    monkeypatch.setattr("apps.sandboxes.execution.NEVER_IN_SANDBOXES", frozenset())

    def every_kind(source: DataSource) -> None:
        # Past the model's validation, which refuses DCL in sandboxes.
        DataSource.objects.filter(pk=source.pk).update(sandbox_write_kinds=["dml", "ddl", "dcl", "other"])

    return every_kind


@contextmanager
def connected_as(source, user: str, password: str, database: str):
    """A plain connection to the sandbox server, as someone holding `user`'s password would open one."""
    server = copies_for(source).server
    if source.engine == "postgresql":
        with psycopg.connect(
            host=server.host, port=server.port or 5432, user=user, password=password, dbname=database
        ) as connection:
            yield connection
        return
    connection = MySQLdb.connect(host=server.host, port=server.port, user=user, password=password, database=database)
    try:
        yield connection
    finally:
        connection.close()


CONNECTION_REFUSED = (psycopg.OperationalError, MySQLdb.OperationalError)


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


@pytest.mark.parametrize("sql", POSTGRES_REACHING_INTO_ANOTHER_SANDBOX)
def test_with_the_guard_off_postgresql_refuses_acting_on_another_users_sandbox_or_login(sql, request, first_wall_off):
    source, (ada, mine), (ben, theirs) = two_users_with_sandboxes(request, "postgresql")
    first_wall_off(source)
    other, other_login = Sandbox.objects.get(pk=theirs).database_name, login_of(theirs)
    assert write(ben, source, theirs, "UPDATE customers SET name = 'ben was here' WHERE id = 1") == 1
    before = source_checksum(source)

    answer = run(ada, source, mine, sql.format(other=f'"{other}"', other_login=f'"{other_login.name}"'))

    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "query_failed"
    assert rows(ben, source, theirs, "SELECT name FROM customers WHERE id = 1") == [["ben was here"]]
    assert rows(ben, source, theirs, "SELECT current_user, current_database()") == [[other_login.name, other]]
    with connected_as(source, other_login.name, other_login.get_password(), other) as connection:
        assert connection.execute("SELECT count(*) FROM orders").fetchone() == (10,)
    assert source_checksum(source) == before


@pytest.mark.parametrize("engine", ENGINES)
def test_a_password_changed_from_inside_a_sandbox_opens_that_sandbox_and_no_other(
    engine, request, first_wall_off, sandbox_server_with_passwords
):
    """Were the guard to let ada change her sandbox login's password, she would know a
    password that opens her own copy, straight on the server, and nothing else: ben's
    copy refuses it. QueryBase's own connections to her copy then fail with an error that
    says so, and a reset gives her a fresh copy with a new login."""
    server = sandbox_server_with_passwords(engine)
    source, (ada, mine), (ben, theirs) = two_users_with_sandboxes(request, engine, **server)
    first_wall_off(source)
    own, other = Sandbox.objects.get(pk=mine).database_name, Sandbox.objects.get(pk=theirs).database_name
    assert write(ben, source, theirs, "UPDATE customers SET name = 'ben was here' WHERE id = 1") == 1
    ada_login = login_of(mine).name

    changed = run(ada, source, mine, CHANGE_OWN_PASSWORD[engine])

    assert changed.status_code == 200, changed.content
    with pytest.raises(CONNECTION_REFUSED, match=r"(?i)denied"), connected_as(source, ada_login, "known-to-ada", other):
        pass
    with connected_as(source, ada_login, "known-to-ada", own) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM customers")
        assert cursor.fetchone()[0] == 10
    # QueryBase's password for her login is wrong now: a clear error, never a 500 …
    refused = run(ada, source, mine, "SELECT count(*) FROM customers")
    assert refused.status_code == 502, refused.content
    assert refused.json()["error"]["code"] == "sandbox_unavailable"
    assert "reset the sandbox" in refused.json()["error"]["message"]
    # … ben's sandbox never noticed …
    assert rows(ben, source, theirs, "SELECT name FROM customers WHERE id = 1") == [["ben was here"]]
    # … and a reset makes her a new copy with a new login; the old login is gone.
    assert ada.post(f"/api/v1/sandboxes/{mine}/reset").status_code == 200
    assert rows(ada, source, mine, "SELECT count(*) FROM customers") == [[10]]
    assert ada_login not in logins_on_server(source)
    assert ada.delete(f"/api/v1/sandboxes/{mine}").status_code == 204
    assert logins_on_server(source) == live_logins(source) == {login_of(theirs).name}


@pytest.fixture
def sandbox_server_with_passwords():
    """Sandbox server fields for a source whose copies live on a server that checks
    passwords: the machine's PostgreSQL trusts every local connection (a changed password
    would change nothing there), so PostgreSQL copies go to a throwaway cluster; MariaDB
    checks passwords already. Torn down before drop_copies_after: the source is pointed
    back at its own server, and the cluster goes with what was made there."""
    clusters = []

    def fields(engine: str) -> dict:
        if engine != "postgresql":
            return {}
        cluster = databases.password_protected_postgres("copy-maker-password")
        server = cluster.__enter__()
        clusters.append(cluster)
        return {
            "sandbox_host": server.host,
            "sandbox_port": server.port,
            "sandbox_username": server.username,
            "sandbox_password": server.password,
        }

    yield fields
    # The copies and logins go with the cluster; drop_copies_after then finds none left.
    DataSource.objects.exclude(sandbox_host="").update(
        sandbox_host="", sandbox_port=None, sandbox_username="", sandbox_password_encrypted=""
    )
    for cluster in clusters:
        cluster.__exit__(None, None, None)


def test_with_the_guard_on_it_refuses_first(request):
    source, (ada, mine), (_, theirs) = two_users_with_sandboxes(request)
    other = Sandbox.objects.get(pk=theirs).database_name

    answer = run(ada, source, mine, f"SELECT * FROM {other}.customers")

    assert answer.status_code == 403, answer.content
    assert answer.json()["error"]["code"] == "sandbox_write_refused"


@pytest.mark.parametrize("engine", ENGINES)
def test_with_the_guard_on_a_sandbox_may_not_change_its_logins_password(engine, request):
    source, (ada, mine), _ = two_users_with_sandboxes(request, engine)

    answer = run(ada, source, mine, CHANGE_OWN_PASSWORD[engine])

    assert answer.status_code == 403, answer.content
    assert answer.json()["error"]["code"] == "sandbox_write_refused"
    assert rows(ada, source, mine, "SELECT count(*) FROM customers") == [[10]]


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
    root = databases.mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute(
            "SELECT DISTINCT max_user_connections FROM mysql.user WHERE User IN (%s, %s)", [ada_user, ben_user]
        )
        assert cursor.fetchall() == ((LOGIN_CONNECTION_LIMIT,),)
    finally:
        root.close()


def test_each_postgresql_sandbox_runs_as_its_own_login_let_into_its_own_database_only(request):
    source, (ada, mine), (ben, theirs) = two_users_with_sandboxes(request, "postgresql")
    own, other = Sandbox.objects.get(pk=mine).database_name, Sandbox.objects.get(pk=theirs).database_name

    ada_user = rows(ada, source, mine, "SELECT current_user")[0][0]
    ben_user = rows(ben, source, theirs, "SELECT current_user")[0][0]
    owners = rows(
        ada,
        source,
        mine,
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relname IN "
        "('customers', 'orders', 'big_orders', 'customers_id_seq')",
    )

    assert ada_user != ben_user and ada_user != source.username
    assert login_of(mine).name == ada_user and login_of(theirs).name == ben_user
    assert owners == [[ada_user]]
    assert not SandboxRole.objects.filter(datasource=source, database_name="").exists()
    # Her own credentials, as QueryBase holds them, do not open ben's database.
    with (
        pytest.raises(psycopg.OperationalError, match="permission denied for database"),
        connected_as(source, ada_user, login_of(mine).get_password(), other),
    ):
        pass
    with psycopg.connect(**admin_of(source)) as admin:
        let_in = admin.execute(
            "SELECT datname, array_agg(DISTINCT pg_get_userbyid(acl.grantee) ORDER BY pg_get_userbyid(acl.grantee)) "
            "FROM pg_database, aclexplode(datacl) acl WHERE datname IN (%s, %s) GROUP BY datname",
            [own, other],
        ).fetchall()
        limits = admin.execute(
            "SELECT DISTINCT rolconnlimit, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
            "FROM pg_roles WHERE rolname IN (%s, %s)",
            [ada_user, ben_user],
        ).fetchall()
    maker = copies_for(source).server.username
    assert dict(let_in) == {own: sorted([maker, ada_user]), other: sorted([maker, ben_user])}  # not PUBLIC
    assert limits == [(LOGIN_CONNECTION_LIMIT, False, False, False, False, False)]


@pytest.mark.parametrize("engine", ENGINES)
def test_create_reset_delete_pool_and_upkeep_leave_no_login_behind(engine, request):
    source = sandbox_source(engine, request, sandbox_pool_size=1)
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


@pytest.mark.parametrize("engine", ENGINES)
def test_a_copy_that_fails_half_way_leaves_no_login(engine, request):
    source = sandbox_source(engine, request)
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


@pytest.mark.parametrize("engine", ENGINES)
def test_a_login_left_by_a_dead_process_is_dropped_by_upkeep(engine, request, settings):
    """A process that dies between making a copy's login and recording its copy (a reset)
    leaves a row naming a copy no sandbox has: upkeep drops that login."""
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]

    make_copy_login(source, f"{Sandbox.objects.get(pk=sandbox_id).database_name}_never_made")
    assert len(logins_on_server(source)) == 2
    settings.QUERYBASE_SANDBOX_STALE_CREATING_MINUTES = 0

    assert sandbox_upkeep()["stray_logins_dropped"] == 1

    assert logins_on_server(source) == live_logins(source) and len(live_logins(source)) == 1
    assert rows(client, source, sandbox_id, "SELECT count(*) FROM customers") == [[10]]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_sandbox_without_its_login_runs_nothing_and_says_why(engine, request):
    source = sandbox_source(engine, request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    SandboxRole.objects.filter(datasource=source).update(dropped_at=timezone.now())

    answer = run(client, source, sandbox_id, "SELECT count(*) FROM customers")

    assert answer.status_code == 502, answer.content
    error = answer.json()["error"]
    assert error["code"] == "sandbox_unavailable"
    assert "no restricted login" in error["message"] and "reset" in error["message"]


@pytest.mark.parametrize("maker", ["root", "restricted"])
def test_upkeep_gives_a_mysql_copy_made_with_the_shared_login_its_own_and_keeps_its_content(
    maker, request, mysql_copy_maker
):
    """Before each copy had its own login, one login per source had ALL on each of its
    sandbox schemas and defined their views, routines, triggers and events. Such a copy
    runs nothing until upkeep gives it its own login; then it works as before, with what
    its owner put in it, every one of those defined by the new login (one left to the
    shared login would run with its rights), and the shared login is dropped. A
    copy-maker with rights on the sandbox schemas only (README) may not read the bodies of
    routines it did not define: the shared login, which did, reads them."""
    source = sandbox_source("mysql", request)
    if maker == "restricted":
        mysql_copy_maker(source)
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


def test_a_mysql_copy_whose_routines_nobody_may_read_is_not_adopted(request, mysql_copy_maker):
    """Fail closed: a routine the copy-maker may not read, and the shared login no longer
    can (its password was changed from inside a sandbox), cannot be defined again by the
    copy's own login. The copy is not adopted (it runs nothing, saying so) rather than
    keep a routine that runs with the shared login's rights; the shared login stays."""
    source = sandbox_source("mysql", request)
    mysql_copy_maker(source)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    schema = Sandbox.objects.get(pk=sandbox_id).database_name
    shared = make_it_a_copy_of_the_shared_login(source, schema)
    root = databases.mysql_root()
    try:
        root.cursor().execute("ALTER USER %s@'%%' IDENTIFIED BY 'changed-inside'", [shared])
    finally:
        root.close()

    assert sandbox_upkeep()["copies_adopted"] == 0

    refused = run(client, source, sandbox_id, "SELECT count(*) FROM customers")
    assert refused.status_code == 502 and "no restricted login" in refused.json()["error"]["message"]
    assert definers_in(schema) == {f"{shared}@%"}
    assert logins_on_server(source) == {shared}
    assert SandboxRole.objects.get(name=shared).dropped_at is None


@pytest.fixture
def mysql_copy_maker():
    """Moves a MySQL source's copies to a copy-maker with the rights the README asks for:
    CREATE USER, and ALL on the copies' names WITH GRANT OPTION; no SELECT on mysql.proc.
    Torn down before drop_copies_after, which then drops what it made as root."""
    made = []

    def move(source) -> None:
        name = f"{ROLE_PREFIX}maker_{source.pk}"
        root = databases.mysql_root()
        try:
            cursor = root.cursor()
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY 'maker-password'", [name])
            cursor.execute(
                f"GRANT ALL PRIVILEGES ON `{PREFIX.replace('_', chr(92) + '_')}%%`.* TO %s@'%%' WITH GRANT OPTION",
                [name],
            )
            cursor.execute("GRANT CREATE USER ON *.* TO %s@'%%'", [name])
        finally:
            root.close()
        made.append(name)
        source.sandbox_host, source.sandbox_port, source.sandbox_username = "127.0.0.1", 3306, name
        source.set_sandbox_password("maker-password")
        source.save()

    yield move
    DataSource.objects.filter(sandbox_username__in=made).update(
        sandbox_host="", sandbox_port=None, sandbox_username="", sandbox_password_encrypted=""
    )
    root = databases.mysql_root()
    try:
        for name in made:
            root.cursor().execute("DROP USER IF EXISTS %s@'%%'", [name])
    finally:
        root.close()


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
        cursor.execute("CREATE EVENT tidy ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM orders WHERE total < 0")
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
            "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s UNION "
            "SELECT DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s",
            [schema, schema, schema, schema],
        )
        return {row[0] for row in cursor.fetchall()}
    finally:
        root.close()


def test_upkeep_gives_a_postgresql_copy_made_with_the_shared_role_its_own_and_keeps_its_content(request):
    """Before each copy had its own login, one role per source owned the objects of the
    golden copy and so of every sandbox, and could connect to all of them. Such a copy runs
    nothing until upkeep gives it its own login; then it works as before, with what its
    owner put in it, all of it owned by the new login; the golden copy is taken back by
    the copy-maker, and the shared role is dropped."""
    source = sandbox_source("postgresql", request)
    client = client_for(reader("ada", source))
    sandbox_id = client.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert write(client, source, sandbox_id, "UPDATE customers SET name = 'kept' WHERE id = 1") == 1
    copy = Sandbox.objects.get(pk=sandbox_id).database_name
    golden = GoldenCopy.objects.get(datasource=source, is_current=True).database_name
    shared = make_it_a_postgresql_copy_of_the_shared_role(source, copy, golden)

    refused = run(client, source, sandbox_id, "SELECT count(*) FROM customers")
    assert refused.status_code == 502 and "no restricted login" in refused.json()["error"]["message"]

    assert sandbox_upkeep()["copies_adopted"] == 1

    own = login_of(sandbox_id).name
    assert rows(client, source, sandbox_id, "SELECT current_user") == [[own]]
    assert rows(client, source, sandbox_id, "SELECT name FROM customers WHERE id = 1") == [["kept"]]
    assert rows(client, source, sandbox_id, "SELECT body FROM notes") == [["made with the shared role"]]
    assert write(client, source, sandbox_id, "INSERT INTO notes (body) VALUES ('after')") == 1
    assert owners_in(source, copy) == {own}
    assert owners_in(source, golden) == {copies_for(source).server.username}
    assert logins_on_server(source) == {own}
    assert SandboxRole.objects.get(name=shared).dropped_at is not None
    # A sandbox made now from that golden copy is its own login's, as any other.
    ben = client_for(reader("ben", source))
    theirs = ben.post(f"/api/v1/datasources/{source.pk}/sandbox").json()["id"]
    assert owners_in(source, Sandbox.objects.get(pk=theirs).database_name) == {login_of(theirs).name}


def make_it_a_postgresql_copy_of_the_shared_role(source, copy: str, golden: str) -> str:
    """Turn a copy into one made the old way: a role of the whole source owning the golden
    copy's objects and the copy's, allowed into the copy, with something of its own made
    there (a table, default privileges); the copy's own login gone."""
    shared = f"{ROLE_PREFIX}{source.pk}_shared"
    role = SandboxRole(datasource=source, server=copies_for(source).server.key, name=shared)
    role.set_password("shared-login-password")
    role.save()
    own = SandboxRole.objects.get(datasource=source, database_name=copy, dropped_at=None)
    with psycopg.connect(**admin_of(source)) as admin:
        admin.execute(f"CREATE ROLE {shared} LOGIN PASSWORD 'shared-login-password' NOINHERIT")
    with psycopg.connect(**admin_of(source, golden)) as admin:
        for table in ("customers", "orders", "big_orders"):
            admin.execute(f"ALTER TABLE {table} OWNER TO {shared}")
    with psycopg.connect(**admin_of(source, copy)) as admin:
        admin.execute(f'REASSIGN OWNED BY "{own.name}" TO {shared}')
        admin.execute(f'DROP OWNED BY "{own.name}"')
        admin.execute(f'GRANT CONNECT, TEMPORARY, CREATE ON DATABASE "{copy}" TO {shared}')
        admin.execute(f'DROP ROLE "{own.name}"')
    SandboxRole.objects.filter(pk=own.pk).update(dropped_at=timezone.now())
    with connected_as(source, shared, "shared-login-password", copy) as as_shared:
        as_shared.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text)")
        as_shared.execute("INSERT INTO notes (body) VALUES ('made with the shared role')")
        as_shared.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC")
        as_shared.commit()
    assert owners_in(source, copy) == {shared}
    return shared


def owners_in(source, database: str) -> set[str]:
    """Who owns the tables, views, sequences and types of `database`'s public schema."""
    with psycopg.connect(**admin_of(source, database)) as connection:
        found = connection.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'S', 'c')"
        ).fetchall()
    return {row[0] for row in found}
