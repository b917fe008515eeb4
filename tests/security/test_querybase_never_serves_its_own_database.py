"""QueryBase never serves its own database as a data source: it holds users' password
hashes, session keys, refresh tokens, API key digests and every source's encrypted
credentials.

Found by an outside attack on the shipped server: an admin registered the metadata
database as a PostgreSQL source (through 127.0.0.1, as any host name of the server
would do) and granted a group read on it; its members then read `auth_user`'s password
hashes, `django_session` and the outstanding refresh tokens. SQLite sources were already
kept out (QUERYBASE_SQLITE_ROOTS); PostgreSQL ones are now recognised by what the server
says it is.
"""

import pytest
from django.conf import settings

from tests.support.databases import Server
from tests.support.factories import client_for, make_user, reader, source_from_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_source():
    """The metadata database, registered by an admin under another spelling of its host."""
    own = settings.DATABASES["default"]
    host = "localhost" if own["HOST"] in ("127.0.0.1", "::1") else own["HOST"]
    server = Server(host, int(own["PORT"] or 5432), own["USER"], own["PASSWORD"], own["NAME"])
    return source_from_server("reporting", "postgresql", server)


def test_reading_querybase_s_own_database_is_refused(own_source):
    client = client_for(reader("ana", own_source))
    for sql in ("SELECT username, password FROM auth_user", "SELECT session_data FROM django_session", "SELECT 1"):
        response = client.post("/api/v1/queries", {"datasource": own_source.pk, "sql": sql}, format="json")
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "querybase_database"
        assert b"pbkdf2" not in response.content and b"md5$" not in response.content


def test_its_schema_and_exports_are_refused_too(own_source):
    client = client_for(reader("ana", own_source))
    schema = client.get(f"/api/v1/datasources/{own_source.pk}/schema")
    assert schema.status_code == 403, schema.content
    export = client.post(
        "/api/v1/queries/export", {"datasource": own_source.pk, "sql": "SELECT * FROM auth_user"}, format="json"
    )
    assert export.status_code == 403


def test_the_connection_test_says_why(own_source):
    admin = client_for(make_user("root", is_admin=True))
    tested = admin.post(f"/api/v1/datasources/{own_source.pk}/test")
    assert "QueryBase's own database" in tested.content.decode()


def test_another_database_on_the_same_server_is_served(postgres_server):
    # The same server (cluster), another database: an ordinary source.
    source = source_from_server("shop", "postgresql", postgres_server)
    response = client_for(reader("ana", source)).post(
        "/api/v1/queries", {"datasource": source.pk, "sql": "SELECT count(*) FROM customers"}, format="json"
    )
    assert response.status_code == 200, response.content
