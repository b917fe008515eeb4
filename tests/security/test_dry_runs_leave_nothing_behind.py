"""Invariant 10: a dry-run leaves nothing behind. It runs only what a rollback undoes in
full; anything else is refused with a 400 and its reasons, and the database is as before.

Each case here was seen to keep its effect through a "dry" run: functions whose effect
outlives the transaction (sequences, dblink, large objects), MyISAM tables in another
schema or reached through a trigger, sequences behind serial columns, and dry-runs of
requests that had already expired."""

from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from apps.approvals.models import ApprovalRequest
from apps.audit.models import AuditEvent
from tests.support.approvals import Team
from tests.support.databases import MYSQL_USER, SOURCE_DB, mysql_root
from tests.support.factories import client_for, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_DB = f"{SOURCE_DB}_other"


def dry_run(team: Team, request_id: int):
    return client_for(team.approver).post(f"/api/v1/approvals/{request_id}/dry-run")


def assert_refused(response, *fragments: str, code: str = "dry_run_unsafe") -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"]["code"] == code
    for fragment in fragments:
        assert fragment in body["error"]["message"]


# PostgreSQL ------------------------------------------------------------------------------------


def pg(postgres_server, sql: str, params=None):
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB, autocommit=True
    ) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchone() if cursor.description else None


@pytest.fixture
def pg_team(postgres_server, transactional_db):
    for statement in (
        "DROP TABLE IF EXISTS items, numbered, audited, audit_trail CASCADE",
        "DROP SEQUENCE IF EXISTS s1",
        "DROP FUNCTION IF EXISTS audit_items() CASCADE",
        "CREATE EXTENSION IF NOT EXISTS dblink",
        "CREATE SEQUENCE s1",
        "CREATE TABLE items (id int PRIMARY KEY, price int NOT NULL)",
        "INSERT INTO items VALUES (1, 10), (2, 20)",
        "CREATE TABLE numbered (id serial PRIMARY KEY, note text)",
        "CREATE TABLE audited (id int PRIMARY KEY, v int)",
        "INSERT INTO audited VALUES (1, 0)",
        "CREATE TABLE audit_trail (id bigint GENERATED ALWAYS AS IDENTITY, note text)",
        "CREATE FUNCTION audit_items() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO audit_trail (note) VALUES ('changed'); RETURN NEW; END $$",
        "CREATE TRIGGER audited_trail AFTER UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION audit_items()",
    ):
        pg(postgres_server, statement)
    pg(postgres_server, "SELECT setval('s1', 7)")
    team = Team(source_from_server("pg-dry", "postgresql", postgres_server, dry_run_enabled=True))
    return team


def sequence_value(postgres_server, name: str) -> int:
    return pg(postgres_server, f"SELECT last_value FROM {name}")[0]


@pytest.mark.parametrize(
    "condition",
    [
        "setval('s1', 500) > 0",
        "nextval('s1') > 0",
        "NEXTVAL('s1') > 0",
        "pg_catalog.setval('s1', 500) > 0",
        "(SELECT setval('s1', 500)) > 0",
    ],
)
def test_sequence_functions_are_refused_and_the_sequence_keeps_its_value(pg_team, postgres_server, condition):
    request_id = pg_team.request_write(f"UPDATE items SET price = price WHERE id = 1 AND {condition}")["id"]
    response = dry_run(pg_team, request_id)
    assert_refused(response, "rollback")
    assert sequence_value(postgres_server, "s1") == 7
    assert ApprovalRequest.objects.get(pk=request_id).dry_run_result is None
    assert AuditEvent.objects.filter(action="approval.dry_run_refused", object_id=str(request_id)).exists()


def test_dblink_is_refused_and_the_other_session_writes_nothing(pg_team, postgres_server):
    sql = (
        "UPDATE items SET price = price WHERE id = 1 AND "
        f"dblink_exec('dbname={SOURCE_DB}', 'UPDATE items SET price = 999 WHERE id = 2') = 'UPDATE 1'"
    )
    response = dry_run(pg_team, pg_team.request_write(sql)["id"])
    assert_refused(response, "dblink_exec")
    assert pg(postgres_server, "SELECT price FROM items WHERE id = 2") == (20,)


@pytest.mark.parametrize("call", ["lo_create(4242)", "lo_from_bytea(4243, 'x'::bytea)"])
def test_large_object_functions_are_refused_and_no_object_is_created(pg_team, postgres_server, call):
    before = pg(postgres_server, "SELECT count(*) FROM pg_largeobject_metadata")
    response = dry_run(pg_team, pg_team.request_write(f"UPDATE items SET price = price WHERE {call} > 0")["id"])
    assert_refused(response, call.split("(")[0])
    assert pg(postgres_server, "SELECT count(*) FROM pg_largeobject_metadata") == before


def test_insert_into_a_serial_column_is_refused_and_the_sequence_does_not_move(pg_team, postgres_server):
    before = pg(postgres_server, "SELECT last_value, is_called FROM numbered_id_seq")
    response = dry_run(pg_team, pg_team.request_write("INSERT INTO numbered (note) VALUES ('x')")["id"])
    assert_refused(response, "numbered.id", "nextval")
    assert pg(postgres_server, "SELECT last_value, is_called FROM numbered_id_seq") == before


def test_a_trigger_that_takes_an_identity_number_is_refused(pg_team, postgres_server):
    before = pg(postgres_server, "SELECT count(*) FROM audit_trail")
    response = dry_run(pg_team, pg_team.request_write("UPDATE audited SET v = v + 1 WHERE id = 1")["id"])
    assert_refused(response, "audit_trail", "identity")
    assert pg(postgres_server, "SELECT count(*) FROM audit_trail") == before


def test_an_unknown_table_is_refused(pg_team):
    # A name the catalog cannot resolve cannot be checked: refuse rather than guess.
    request_id = pg_team.request_write("UPDATE items SET price = 1 WHERE id IN (SELECT id FROM nowhere_to_be_found)")
    assert_refused(dry_run(pg_team, request_id["id"]), "nowhere_to_be_found")


def test_a_plain_update_still_dry_runs_and_changes_nothing(pg_team, postgres_server):
    response = dry_run(pg_team, pg_team.request_write("UPDATE items SET price = price * 2")["id"])
    assert response.status_code == 200, response.content
    assert response.json()["dry_run_result"]["statements"][0]["affected_rows"] == 2
    assert pg(postgres_server, "SELECT sum(price) FROM items") == (30,)


def test_an_expired_request_cannot_be_dry_run(pg_team, postgres_server):
    request_id = pg_team.request_write("UPDATE items SET price = 0")["id"]
    ApprovalRequest.objects.filter(pk=request_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = dry_run(pg_team, request_id)
    assert_refused(response, "expired", code="dry_run_not_allowed")
    assert ApprovalRequest.objects.get(pk=request_id).dry_run_result is None


def test_a_decided_request_cannot_be_dry_run(pg_team):
    request_id = pg_team.request_write("UPDATE items SET price = 0")["id"]
    ApprovalRequest.objects.filter(pk=request_id).update(status="rejected")
    assert_refused(dry_run(pg_team, request_id), "rejected", code="dry_run_not_allowed")


# MariaDB -------------------------------------------------------------------------------------


@pytest.fixture
def maria_team(mysql_server, transactional_db):
    root = mysql_root()
    cursor = root.cursor()
    for statement in (
        f"CREATE DATABASE IF NOT EXISTS {OTHER_DB}",
        f"GRANT ALL ON {OTHER_DB}.* TO '{MYSQL_USER}'@'%'",
        f"DROP TABLE IF EXISTS {OTHER_DB}.counter, {SOURCE_DB}.stock, {SOURCE_DB}.log_myisam, {SOURCE_DB}.tally",
        f"CREATE TABLE {OTHER_DB}.counter (id INT PRIMARY KEY, v INT) ENGINE=MyISAM",
        f"INSERT INTO {OTHER_DB}.counter VALUES (1, 0)",
        f"CREATE TABLE {SOURCE_DB}.stock (id INT PRIMARY KEY, qty INT) ENGINE=InnoDB",
        f"INSERT INTO {SOURCE_DB}.stock VALUES (1, 5), (2, 7)",
        f"CREATE TABLE {SOURCE_DB}.log_myisam (n INT) ENGINE=MyISAM",
        f"CREATE TABLE {SOURCE_DB}.tally (id INT PRIMARY KEY, n INT) ENGINE=InnoDB",
        f"INSERT INTO {SOURCE_DB}.tally VALUES (1, 0)",
        f"CREATE TRIGGER {SOURCE_DB}.tally_log AFTER UPDATE ON {SOURCE_DB}.tally "
        f"FOR EACH ROW INSERT INTO {OTHER_DB}.counter (id, v) VALUES (2, 1)",
    ):
        cursor.execute(statement)
    root.commit()
    team = Team(source_from_server("maria-dry", "mysql", mysql_server, dry_run_enabled=True))
    yield team
    cursor.execute(f"DROP DATABASE IF EXISTS {OTHER_DB}")
    cursor.execute(f"DROP TABLE IF EXISTS {SOURCE_DB}.stock, {SOURCE_DB}.log_myisam, {SOURCE_DB}.tally")
    root.close()


def maria(sql: str):
    root = mysql_root()
    try:
        cursor = root.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        root.close()


def counter() -> tuple:
    return maria(f"SELECT id, v FROM {OTHER_DB}.counter ORDER BY id")


def test_myisam_table_in_another_schema_is_refused_and_keeps_its_value(maria_team):
    response = dry_run(maria_team, maria_team.request_write(f"UPDATE {OTHER_DB}.counter SET v = v + 1")["id"])
    assert_refused(response, f"{OTHER_DB}.counter (MyISAM)")
    assert counter() == ((1, 0),)


def test_multi_table_update_reaching_a_myisam_table_is_refused(maria_team):
    sql = f"UPDATE stock s, {OTHER_DB}.counter c SET s.qty = s.qty + 1, c.v = c.v + 1 WHERE s.id = c.id"
    response = dry_run(maria_team, maria_team.request_write(sql)["id"])
    assert_refused(response, f"{OTHER_DB}.counter (MyISAM)")
    assert counter() == ((1, 0),)
    assert maria(f"SELECT sum(qty) FROM {SOURCE_DB}.stock") == ((12,),)


def test_multi_table_delete_reaching_a_myisam_table_is_refused(maria_team):
    sql = f"DELETE s, c FROM stock s JOIN {OTHER_DB}.counter c ON c.id = s.id"
    response = dry_run(maria_team, maria_team.request_write(sql)["id"])
    assert_refused(response, f"{OTHER_DB}.counter (MyISAM)")
    assert counter() == ((1, 0),)


def test_a_trigger_writing_to_a_myisam_table_is_refused(maria_team):
    response = dry_run(maria_team, maria_team.request_write("UPDATE tally SET n = n + 1 WHERE id = 1")["id"])
    assert_refused(response, "trigger", f"{OTHER_DB}.counter (MyISAM)")
    assert counter() == ((1, 0),)


def test_an_unresolvable_table_is_refused(maria_team):
    response = dry_run(maria_team, maria_team.request_write("UPDATE stock JOIN ghost ON 1 = 1 SET qty = 0")["id"])
    assert_refused(response, "ghost")


def test_innodb_only_dry_run_still_works_and_changes_nothing(maria_team):
    response = dry_run(maria_team, maria_team.request_write("UPDATE stock SET qty = 0")["id"])
    assert response.status_code == 200, response.content
    assert response.json()["dry_run_result"]["statements"][0]["affected_rows"] == 2
    assert maria(f"SELECT sum(qty) FROM {SOURCE_DB}.stock") == ((12,),)
