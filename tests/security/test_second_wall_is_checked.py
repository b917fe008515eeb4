"""Invariant 9: the second wall is checked, not assumed. The credential audit reports what
each source's read credentials can really do (real PostgreSQL roles, real MariaDB
accounts), and a source with require_least_privilege refuses reads until it is clean."""

import os
from urllib.parse import urlparse

import psycopg
import pytest
from psycopg import sql

from apps.audit.models import AuditEvent
from tests.support.databases import SHOP_TABLES, mysql_root
from tests.support.factories import client_for, make_datasource, make_user, reader

pytestmark = pytest.mark.django_db

NS = os.environ.get("QUERYBASE_TEST_NAMESPACE", "")
AUDIT_DB = f"qb_audit{NS}"


def role(name: str) -> str:
    return f"qb_audit_{name}{NS}"


def password_of(name: str) -> str:
    return f"pw-{name}-Zq7'x\"secret"


# PostgreSQL roles: what each one may do beyond a plain reader's SELECT + CONNECT + USAGE.
PG_ROLES = {
    "reader": [],
    "super": ["ALTER ROLE {role} SUPERUSER"],
    "signal": ["GRANT pg_signal_backend TO {role}"],
    "dblink": [
        "GRANT USAGE ON SCHEMA dblink_ext TO {role}",
        "GRANT EXECUTE ON FUNCTION dblink_ext.dblink_exec(text, text) TO {role}",
    ],
    "insert": ["GRANT INSERT ON customers TO {role}"],
    "create": ["GRANT CREATE ON SCHEMA public TO {role}"],
}


def pg_admin(dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname, autocommit=autocommit)


@pytest.fixture(scope="module")
def pg_roles():
    with pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB} WITH (FORCE)")
        for name in PG_ROLES:
            admin.execute(f"DROP ROLE IF EXISTS {role(name)}")
        admin.execute(f"CREATE DATABASE {AUDIT_DB}")
    with pg_admin(AUDIT_DB) as admin:
        for statement in SHOP_TABLES:
            admin.execute(statement)
        # dblink's functions are EXECUTE for PUBLIC once installed: take that away so only
        # the role given it explicitly has it.
        admin.execute("CREATE SCHEMA dblink_ext")
        admin.execute("CREATE EXTENSION IF NOT EXISTS dblink SCHEMA dblink_ext")
        admin.execute("REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA dblink_ext FROM PUBLIC")
        for name, grants in PG_ROLES.items():
            login = role(name)
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(login), password_of(name)))
            admin.execute(f"GRANT CONNECT ON DATABASE {AUDIT_DB} TO {login}")
            admin.execute(f"GRANT USAGE ON SCHEMA public TO {login}")
            admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {login}")
            for grant in grants:
                admin.execute(grant.format(role=login))
    yield
    with pg_admin() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB} WITH (FORCE)")
        for name in PG_ROLES:
            admin.execute(f"DROP ROLE IF EXISTS {role(name)}")


def pg_source(name: str, **fields):
    """A source whose main credentials are the owner's and whose read credentials are `name`'s."""
    source = make_datasource(
        f"pg-{name}",
        engine="postgresql",
        host="127.0.0.1",
        port=5432,
        database=AUDIT_DB,
        username="postgres",
        read_username=role(name),
        **fields,
    )
    source.set_read_password(password_of(name))
    source.save()
    return source


def audit_of(admin_client, source) -> dict:
    response = admin_client.get(f"/api/v1/datasources/{source.id}/credential-audit")
    assert response.status_code == 200, response.content
    return response.json()


def codes_of(audit: dict, severity: str | None = None) -> set[str]:
    return {finding["code"] for finding in audit["findings"] if severity in (None, finding["severity"])}


def finding(audit: dict, code: str) -> dict:
    return next(item for item in audit["findings"] if item["code"] == code)


# PostgreSQL ------------------------------------------------------------------------------


def test_a_plain_postgresql_reader_has_no_high_or_medium_finding(admin_client, pg_roles):
    audit = audit_of(admin_client, pg_source("reader"))
    assert audit["credentials"] == "read"
    assert audit["login"] == role("reader")
    # PostgreSQL grants TEMPORARY to PUBLIC: reported low, with the REVOKE that removes it.
    assert codes_of(audit) == {"pg_database_temp"}
    assert audit["highest_severity"] == "low"
    assert audit["clean"] is True
    assert finding(audit, "pg_database_temp")["fix"] == f"REVOKE TEMPORARY ON DATABASE {AUDIT_DB} FROM PUBLIC;"


def test_a_superuser_login_is_high(admin_client, pg_roles):
    audit = audit_of(admin_client, pg_source("super"))
    superuser = finding(audit, "pg_superuser")
    assert superuser["severity"] == "high"
    assert superuser["fix"] == f"ALTER ROLE {role('super')} NOSUPERUSER;"
    assert audit["highest_severity"] == "high"
    assert audit["clean"] is False


def test_main_credentials_are_audited_when_there_are_no_read_credentials(admin_client, pg_roles):
    source = make_datasource(
        "pg-main", engine="postgresql", host="127.0.0.1", port=5432, database=AUDIT_DB, username="postgres"
    )
    audit = audit_of(admin_client, source)
    assert audit["credentials"] == "main"
    assert audit["login"] == "postgres"
    assert codes_of(audit, "high") == {"pg_superuser"}


def test_signal_backend_membership_is_high(admin_client, pg_roles):
    audit = audit_of(admin_client, pg_source("signal"))
    signal = finding(audit, "pg_signal_backend_member")
    assert signal["severity"] == "high"
    assert "terminate other sessions" in signal["description"]
    assert signal["fix"] == f"REVOKE pg_signal_backend FROM {role('signal')};"


def test_signal_backend_through_another_role_is_found(admin_client, pg_roles):
    group = role("signalgroup")
    with pg_admin() as admin:
        admin.execute(f"DROP ROLE IF EXISTS {group}")
        admin.execute(f"CREATE ROLE {group} NOLOGIN")
        admin.execute(f"GRANT pg_signal_backend TO {group}")
        admin.execute(f"GRANT {group} TO {role('reader')}")
    try:
        signal = finding(audit_of(admin_client, pg_source("reader")), "pg_signal_backend_member")
    finally:
        with pg_admin() as admin:
            admin.execute(f"DROP ROLE {group}")
    assert signal["severity"] == "high"
    assert f"through {group}" in signal["description"]
    assert signal["fix"].startswith(f"REVOKE {group} FROM {role('reader')};")


def test_execute_on_dblink_is_high(admin_client, pg_roles):
    dblink = finding(audit_of(admin_client, pg_source("dblink")), "pg_dblink_execute")
    assert dblink["severity"] == "high"
    assert "dblink_ext.dblink_exec(text,text)" in dblink["description"]
    assert "outside the read-only transaction" in dblink["description"]
    assert dblink["fix"].startswith(
        f"REVOKE EXECUTE ON FUNCTION dblink_ext.dblink_exec(text,text) FROM {role('dblink')};"
    )


def test_insert_on_a_table_is_high_with_count_and_names(admin_client, pg_roles):
    writes = finding(audit_of(admin_client, pg_source("insert")), "pg_table_write")
    assert writes["severity"] == "high"
    assert "INSERT on 1 table(s): public.customers" in writes["description"]
    assert writes["fix"] == f"REVOKE INSERT ON ALL TABLES IN SCHEMA public FROM {role('insert')};"


def test_create_on_schema_public_is_high(admin_client, pg_roles):
    create = finding(audit_of(admin_client, pg_source("create")), "pg_schema_create")
    assert create["severity"] == "high"
    assert create["fix"] == f"REVOKE CREATE ON SCHEMA public FROM {role('create')};"


def test_no_password_in_any_audit_response(admin_client, pg_roles):
    for name in PG_ROLES:
        source = pg_source(name)
        response = admin_client.get(f"/api/v1/datasources/{source.id}/credential-audit")
        listed = admin_client.get(f"/api/v1/datasources/{source.id}")
        tested = admin_client.post(f"/api/v1/datasources/{source.id}/test")
        for body in (response.content, listed.content, tested.content):
            assert password_of(name).encode() not in body
    details = str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert not any(password_of(name) in details for name in PG_ROLES)


# The read gate -------------------------------------------------------------------------


def read(client, source):
    return client.post(
        "/api/v1/queries", {"datasource": source.id, "sql": "SELECT count(*) FROM customers"}, format="json"
    )


def test_require_least_privilege_refuses_reads_until_the_role_is_fixed_and_reaudited(admin_client, pg_roles):
    source = pg_source("insert", require_least_privilege=True)
    analyst = client_for(reader("ana", source))

    # Never audited: not clean (fail closed).
    refused = read(analyst, source)
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "credentials_not_least_privilege"
    assert "audit" in refused.json()["error"]["message"]

    # Audited, a high finding stands: still refused.
    assert audit_of(admin_client, source)["clean"] is False
    refused = read(analyst, source)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "credentials_not_least_privilege"
    assert "fix the credentials and run the audit again" in refused.json()["error"]["message"]

    # The DBA fixes the role; until the audit runs again, reads stay refused.
    with pg_admin(AUDIT_DB) as admin:
        admin.execute(f"REVOKE INSERT ON customers FROM {role('insert')}")
    try:
        assert read(analyst, source).status_code == 403
        assert audit_of(admin_client, source)["clean"] is True
        allowed = read(analyst, source)
        assert allowed.status_code == 200, allowed.content
        assert allowed.json()["result"]["rows"] == [[2]]

        # New credentials drop the stored audit: refused again until re-audited.
        changed = admin_client.patch(
            f"/api/v1/datasources/{source.id}", {"read_password": password_of("insert")}, format="json"
        )
        assert changed.status_code == 200
        assert changed.json()["credential_audit"]["status"] == "not_audited"
        assert read(analyst, source).status_code == 403
    finally:
        with pg_admin(AUDIT_DB) as admin:
            admin.execute(f"GRANT INSERT ON customers TO {role('insert')}")


def test_without_the_option_a_high_finding_warns_but_does_not_refuse(admin_client, pg_roles):
    source = pg_source("insert")
    analyst = client_for(reader("ana", source))
    audit_of(admin_client, source)
    listed = admin_client.get("/api/v1/datasources").json()
    row = next(item for item in listed["results"] if item["id"] == source.id)
    assert row["credential_audit"]["warning"] is True
    assert row["credential_audit"]["status"] == "high"
    assert read(analyst, source).status_code == 200


# MariaDB -------------------------------------------------------------------------------

MYSQL_USERS = {
    "reader": [],
    "file": ["GRANT FILE ON *.* TO {account}"],
    "process": ["GRANT PROCESS ON *.* TO {account}"],
    "super": ["GRANT SUPER ON *.* TO {account}"],
    "insert": [f"GRANT INSERT ON {AUDIT_DB}.* TO {{account}}"],
}


def account(name: str) -> str:
    return f"'{role(name)}'@'%'"


@pytest.fixture(scope="module")
def mysql_users():
    connection = mysql_root()
    cursor = connection.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB}")
    cursor.execute(f"CREATE DATABASE {AUDIT_DB}")
    cursor.execute(f"USE {AUDIT_DB}")
    for statement in SHOP_TABLES:
        cursor.execute(statement)
    for name, grants in MYSQL_USERS.items():
        cursor.execute(f"DROP USER IF EXISTS {account(name)}")
        # A bound parameter makes % special: the host wildcard is doubled.
        cursor.execute(f"CREATE USER {account(name).replace('%', '%%')} IDENTIFIED BY %s", (password_of(name),))
        cursor.execute(f"GRANT SELECT ON {AUDIT_DB}.* TO {account(name)}")
        for grant in grants:
            cursor.execute(grant.format(account=account(name)))
    connection.commit()
    yield
    for name in MYSQL_USERS:
        cursor.execute(f"DROP USER IF EXISTS {account(name)}")
    cursor.execute(f"DROP DATABASE IF EXISTS {AUDIT_DB}")
    connection.close()


def maria_source(name: str, **fields):
    url = urlparse(os.environ["QUERYBASE_TEST_MYSQL_URL"])
    source = make_datasource(
        f"maria-{name}",
        engine="mysql",
        host=url.hostname,
        port=url.port or 3306,
        database=AUDIT_DB,
        username=url.username or "root",
        password=url.password or "",
        read_username=role(name),
        **fields,
    )
    source.set_read_password(password_of(name))
    source.save()
    return source


def password_hash_of(name: str) -> str:
    cursor = mysql_root().cursor()
    cursor.execute("SELECT authentication_string FROM mysql.user WHERE User = %s", (role(name),))
    return cursor.fetchone()[0]


def test_a_mariadb_reader_with_only_select_is_clean(admin_client, mysql_users):
    audit = audit_of(admin_client, maria_source("reader"))
    assert audit["login"] == f"{role('reader')}@%"
    assert audit["findings"] == []
    assert audit["highest_severity"] is None
    assert audit["clean"] is True


@pytest.mark.parametrize(
    ("name", "code", "severity", "fix"),
    [
        ("file", "mysql_file", "high", "REVOKE FILE ON *.* FROM `{login}`@`%`;"),
        ("process", "mysql_process", "medium", "REVOKE PROCESS ON *.* FROM `{login}`@`%`;"),
        ("super", "mysql_super", "high", "REVOKE SUPER ON *.* FROM `{login}`@`%`;"),
        ("insert", "mysql_write_privileges", "high", f"REVOKE INSERT ON `{AUDIT_DB}`.* FROM `{{login}}`@`%`;"),
    ],
)
def test_mariadb_privileges_beyond_select_are_found(admin_client, mysql_users, name, code, severity, fix):
    source = maria_source(name)
    response = admin_client.get(f"/api/v1/datasources/{source.id}/credential-audit")
    assert response.status_code == 200, response.content
    audit = response.json()
    assert codes_of(audit) == {code}
    assert finding(audit, code)["severity"] == severity
    assert finding(audit, code)["fix"] == fix.format(login=role(name))
    assert audit["clean"] is (severity != "high")
    # SHOW GRANTS carries the password hash: it never leaves the server.
    hash_ = password_hash_of(name)
    assert hash_ and hash_.encode() not in response.content
    assert b"IDENTIFIED" not in response.content
    assert password_of(name).encode() not in response.content
    details = str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert hash_ not in details


def test_mariadb_privileges_through_a_role_are_found(admin_client, mysql_users):
    granted_role = role("filerole")
    cursor = mysql_root().cursor()
    cursor.execute(f"DROP ROLE IF EXISTS {granted_role}")
    cursor.execute(f"CREATE ROLE {granted_role}")
    cursor.execute(f"GRANT FILE ON *.* TO {granted_role}")
    cursor.execute(f"GRANT {granted_role} TO {account('reader')}")
    try:
        audit = audit_of(admin_client, maria_source("reader"))
    finally:
        cursor.execute(f"DROP ROLE {granted_role}")
    file = finding(audit, "mysql_file")
    assert file["severity"] == "high"
    assert f"through role `{granted_role}`" in file["description"]
    assert file["fix"] == f"REVOKE FILE ON *.* FROM `{granted_role}`;"


def test_require_least_privilege_on_mariadb(admin_client, mysql_users):
    source = maria_source("file", require_least_privilege=True)
    analyst = client_for(reader("ana", source))
    audit_of(admin_client, source)
    refused = read(analyst, source)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "credentials_not_least_privilege"
    clean = maria_source("process", require_least_privilege=True)  # medium only: allowed
    analyst = client_for(reader("ben", clean))
    audit_of(admin_client, clean)
    assert read(analyst, clean).status_code == 200


# Who may audit ----------------------------------------------------------------------------


def test_only_admins_may_audit(api_client, pg_roles):
    source = pg_source("super")
    analyst = client_for(reader("ana", source, write=True, approve=True))
    for client in (analyst, client_for(make_user("outsider"))):
        response = client.get(f"/api/v1/datasources/{source.id}/credential-audit")
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
    anonymous = api_client.get(f"/api/v1/datasources/{source.id}/credential-audit")
    assert anonymous.status_code in (401, 403)
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert not AuditEvent.objects.filter(action="datasource.credential_audit").exists()
