"""Dry-runs: DML run in a transaction that is rolled back, affected rows reported."""

import pytest

from tests.support.approvals import Team, ledger
from tests.support.databases import SOURCE_DB, mysql_root
from tests.support.factories import client_for, source_from_server

pytestmark = pytest.mark.django_db(transaction=True)


def dry_run(team, request_id, user=None):
    return client_for(user or team.approver).post(f"/api/v1/approvals/{request_id}/dry-run")


def test_postgresql_dry_run_reports_rows_and_changes_nothing(team, postgres_server):
    request_id = team.request_write("UPDATE ledger SET amount = 0 WHERE id <= 2; DELETE FROM ledger WHERE id = 5")["id"]
    body = dry_run(team, request_id).json()
    assert body["dry_run_result"]["ok"] is True
    assert [row["affected_rows"] for row in body["dry_run_result"]["statements"]] == [2, 1]
    assert body["status"] == "pending"
    assert ledger(postgres_server) == (5, 50)


def test_dry_run_rules(team):
    assert (
        dry_run(team, team.request_write("DELETE FROM ledger WHERE id = 1")["id"], user=team.analyst).status_code == 403
    )
    ddl = team.request_write("ALTER TABLE ledger ADD COLUMN note text")["id"]
    response = dry_run(team, ddl)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "dry_run_not_allowed"
    team.source.dry_run_enabled = False
    team.source.save()
    assert dry_run(team, team.request_write("DELETE FROM ledger WHERE id = 2")["id"]).status_code == 400


def test_mariadb_dry_run_on_innodb_and_refusal_on_myisam(mysql_server):
    root = mysql_root()
    cursor = root.cursor()
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {SOURCE_DB}.stock (id INT PRIMARY KEY, qty INT) ENGINE=InnoDB")
    cursor.execute(f"REPLACE INTO {SOURCE_DB}.stock VALUES (1, 5), (2, 7)")
    root.commit()
    team = Team(source_from_server("maria", "mysql", mysql_server, dry_run_enabled=True))
    request_id = team.request_write("UPDATE stock SET qty = 0")["id"]
    body = dry_run(team, request_id).json()
    assert body["dry_run_result"]["statements"][0]["affected_rows"] == 2
    cursor.execute(f"SELECT sum(qty) FROM {SOURCE_DB}.stock")
    assert cursor.fetchone()[0] == 12

    # A MyISAM table elsewhere in the database does not matter; one the statement names does.
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {SOURCE_DB}.legacy (id INT) ENGINE=MyISAM")
    unrelated = dry_run(team, request_id)
    touching = dry_run(team, team.request_write("UPDATE stock JOIN legacy ON legacy.id = stock.id SET qty = 0")["id"])
    cursor.execute(f"DROP TABLE {SOURCE_DB}.legacy")
    root.close()
    assert unrelated.status_code == 200
    assert unrelated.json()["dry_run_result"]["ok"] is True
    assert touching.status_code == 400
    assert touching.json()["error"]["code"] == "dry_run_unsafe"
    assert f"{SOURCE_DB}.legacy (MyISAM)" in touching.json()["error"]["message"]
