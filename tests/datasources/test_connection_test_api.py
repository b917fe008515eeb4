"""POST /api/v1/datasources/{id}/test really connects, and says clearly why it could not."""

import pytest

from apps.audit.models import AuditEvent
from tests.support import databases
from tests.support.factories import make_datasource

pytestmark = pytest.mark.django_db


def run_test(admin_client, source) -> dict:
    response = admin_client.post(f"/api/v1/datasources/{source.id}/test")
    assert response.status_code == 200, response.content
    return response.json()


def test_postgresql_connects(admin_client, postgres_server):
    source = make_datasource(
        "pg",
        engine="postgresql",
        host=postgres_server.host,
        port=postgres_server.port,
        database=postgres_server.database,
        username=postgres_server.username,
    )
    result = run_test(admin_client, source)
    assert result["ok"] is True
    assert result["server_version"].split(".")[0].isdigit()
    assert result["error_code"] == ""


def test_mariadb_connects_with_its_password(admin_client, mysql_server):
    source = make_datasource(
        "maria",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username=mysql_server.username,
        password=mysql_server.password,
    )
    result = run_test(admin_client, source)
    assert result["ok"] is True
    assert "MariaDB" in result["server_version"]


def test_mariadb_wrong_password_is_an_authentication_error(admin_client, mysql_server):
    source = make_datasource(
        "maria",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username=mysql_server.username,
        password="not-the-password",
    )
    result = run_test(admin_client, source)
    assert result["ok"] is False
    assert result["error_code"] == "datasource_authentication_failed"
    assert "Access denied" in result["message"]
    assert "not-the-password" not in str(result)


def test_postgresql_wrong_password_is_an_authentication_error(admin_client):
    with databases.password_protected_postgres("the-right-one") as server:
        right = make_datasource(
            "pg-right",
            engine="postgresql",
            host=server.host,
            port=server.port,
            database=server.database,
            username=server.username,
            password=server.password,
        )
        wrong = make_datasource(
            "pg-wrong",
            engine="postgresql",
            host=server.host,
            port=server.port,
            database=server.database,
            username=server.username,
            password="the-wrong-one",
        )
        assert run_test(admin_client, right)["ok"] is True
        result = run_test(admin_client, wrong)
    assert result["ok"] is False
    assert result["error_code"] == "datasource_authentication_failed"
    assert "password authentication failed" in result["message"]
    assert "the-wrong-one" not in str(result)


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_refused_port_is_a_connection_error(admin_client, engine):
    source = make_datasource(
        f"nowhere-{engine}",
        engine=engine,
        host="127.0.0.1",
        port=databases.free_port(),
        database="x",
        username="x",
        password="pw",
    )
    result = run_test(admin_client, source)
    assert result["ok"] is False
    # Refused at once: a "connection_failed", not a wait for the connect timeout.
    assert result["error_code"] == "connection_failed"


@pytest.mark.parametrize("engine", ["postgresql", "mysql"])
def test_silent_server_times_out_within_the_connect_timeout(admin_client, settings, engine):
    settings.QUERYBASE_CONNECT_TIMEOUT = 2
    with databases.silent_server() as port:
        source = make_datasource(
            f"silent-{engine}", engine=engine, host="127.0.0.1", port=port, database="x", username="x", password="pw"
        )
        result = run_test(admin_client, source)
    assert result["ok"] is False
    assert result["error_code"] == "connection_timeout"
    # The configured timeout is the one applied (a hang would end in pytest's own timeout).
    assert "within 2s" in result["message"]


def test_sqlite_connects_and_missing_file_is_clear(admin_client, shop_sqlite_path):
    present = make_datasource("shop", database=str(shop_sqlite_path))
    assert run_test(admin_client, present)["ok"] is True
    missing = make_datasource("gone", database=str(shop_sqlite_path.parent / "missing.sqlite3"))
    result = run_test(admin_client, missing)
    assert result == {**result, "ok": False, "error_code": "connection_failed"}
    assert "does not exist" in result["message"]


def test_separate_read_credentials_are_tested_too(admin_client, mysql_server):
    source = make_datasource(
        "maria",
        engine="mysql",
        host=mysql_server.host,
        port=mysql_server.port,
        database=mysql_server.database,
        username=mysql_server.username,
        password=mysql_server.password,
        read_username=mysql_server.username,
    )
    source.set_read_password("wrong-read-password")
    source.save()
    result = run_test(admin_client, source)
    assert result["ok"] is False
    assert result["error_code"] == "datasource_authentication_failed"
    assert result["message"].startswith("Read-only credentials:")


def test_each_test_is_audited(admin_client, admin_user, shop_sqlite_path):
    source = make_datasource("shop", database=str(shop_sqlite_path))
    run_test(admin_client, source)
    event = AuditEvent.objects.get(action="datasource.test", object_id=str(source.id))
    assert event.actor == admin_user
    assert event.detail["ok"] is True


def test_only_admins_may_test(api_client, shop_sqlite_path):
    from tests.support.factories import client_for, grant, make_group, make_user

    source = make_datasource("shop", database=str(shop_sqlite_path))
    group = make_group("analysts")
    grant(group, source, read=True, write=True, approve=True)
    response = client_for(make_user("ana", groups=(group,))).post(f"/api/v1/datasources/{source.id}/test")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
