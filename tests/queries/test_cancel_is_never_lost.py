"""A cancel sent while a read has no statement running yet (its session is being set up, or
it is between two statements) is not lost: the connector says nothing was stopped, and the
canceller asks again until the statement is there to stop.

Before, PostgreSQL's pg_cancel_backend and MariaDB's KILL QUERY on an idle session
"succeeded" and did nothing, and a query started a moment later ran to its end.
"""

import threading

import pytest

from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import BoundStatement, ConnectorError, QueryLimits
from tests.support.factories import source_from_server

pytestmark = pytest.mark.django_db(transaction=True)

LONG_READS = {"postgresql": "SELECT pg_sleep(60)", "mysql": "SELECT SLEEP(60)"}
# A hang detector only: a cancelled read ends in well under a second.
HANG_S = 30


@pytest.fixture(params=["postgresql", "mysql"])
def engine_source(request, postgres_server, mysql_server):
    server = postgres_server if request.param == "postgresql" else mysql_server
    return request.param, source_from_server(f"src-{request.param}", request.param, server)


def test_a_cancel_before_the_first_statement_stops_nothing_and_says_so(engine_source):
    _, source = engine_source
    connector = connector_for(source, CredentialRole.READ)
    answers = []

    def cancel_now(backend_id: str) -> None:  # the session exists; no statement was sent yet
        answers.append(connector.cancel(backend_id))

    result = connector.run_read([BoundStatement("SELECT 1")], QueryLimits(max_rows=10, timeout_ms=10_000), cancel_now)
    assert answers == [False]
    assert result.rows == [[1]]


def test_asking_again_stops_the_statement_once_it_runs(engine_source):
    engine, source = engine_source
    connector = connector_for(source, CredentialRole.READ)
    backend = threading.Event()
    backend_ids: list[str] = []
    outcome: list[str] = []

    def record(backend_id: str) -> None:
        backend_ids.append(backend_id)
        backend.set()

    def read() -> None:
        try:
            connector.run_read(
                [BoundStatement(LONG_READS[engine])], QueryLimits(max_rows=10, timeout_ms=120_000), record
            )
            outcome.append("finished")
        except ConnectorError as error:
            outcome.append(error.code)

    reader = threading.Thread(target=read)
    reader.start()
    assert backend.wait(HANG_S)
    stopped = False
    while not stopped and reader.is_alive():
        stopped = connector.cancel(backend_ids[0])
    reader.join(HANG_S)
    assert stopped
    assert outcome == ["query_cancelled"]
