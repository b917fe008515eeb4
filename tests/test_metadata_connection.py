"""The metadata database's persistent connections (querybase/db/postgresql): checked
before each request's first query without a round trip while well, and replaced when
the server has ended them, so a request after a restart or failover is still answered."""

import pytest
import requests
from django.db import connection

from tests.support.databases import end_other_sessions_on
from tests.support.servers import shipped_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_request_after_the_server_ended_the_connection_is_answered(tmp_path):
    # One thread: every request uses the same persistent connection.
    with shipped_server(tmp_path / "server.log", env={"QUERYBASE_WEB_THREADS": "1"}) as base:
        assert requests.get(f"{base}/health", timeout=30).json()["checks"]["database"]["ok"] is True

        # What a restart or failover does to the shipped server's connections.
        assert end_other_sessions_on(connection)

        for _ in range(3):
            response = requests.get(f"{base}/health", timeout=30)
            assert response.status_code == 200, response.text
            assert response.json()["checks"]["database"]["ok"] is True
