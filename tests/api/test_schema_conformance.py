"""Schemathesis against our own OpenAPI schema (/api/schema/), as an analyst and as an admin.

Every operation gets generated requests, valid and invalid; any 5xx fails, and so does a
response that breaks the schema or content type it is documented with. Requests run
in-process (WSGI) inside the test's transaction, a few examples per operation and pass.

Generating the requests costs more than sending them (Hypothesis drawing from the
schema's strategies, about two thirds of the time), and it depends on the schema alone,
not on who asks: the requests are drawn once per module and both roles send exactly the
same ones, each in its own test against its own rows. Only the path parameters pinned to
those rows are filled in when a test sends them.

Schemathesis' own pytest integration is not used: its lazy loader touches a pytest
internal that pytest 9 no longer has. Each operation's strategy is driven with
Hypothesis directly, and every failing operation is reported, not only the first.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.notifications.models import Notification
from apps.sandboxes.models import Sandbox, SandboxState
from tests.support.factories import client_for, make_datasource, make_user, reader

pytestmark = pytest.mark.django_db

# Operations that connect to whatever host a request names: generated hosts would make
# the test reach for addresses off this machine. Their error paths have their own tests
# (tests/datasources/test_connection_test_api.py, test_credential_audit.py).
CONNECTING = r"/api/v1/datasources/\{[^}]+\}/(test|credential-audit)$"
# The live event stream answers until its client leaves, which an in-process call never
# does; tests/live drives it over HTTP (authentication, refusals, replay).
STREAMING = r"/api/v1/events$"


@schemathesis.check
def success_status_conformance(ctx, response, case):
    """A success answers with a status its operation documents (a DELETE that answers 200
    with a body must not be documented as 204). Error statuses share one documented shape
    (README, "Every error is …") and are not listed per operation."""
    if 200 <= response.status_code < 300:
        return status_code_conformance(ctx, response, case)
    return None


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, success_status_conformance]
EXAMPLES_PER_PASS = 20
# The rows `known` makes, by the path parameter that names them; placeholders of the right
# type while the requests are drawn.
ROW_PLACEHOLDERS = {
    "id": 0,
    "datasource_id": 0,
    "saved_query_id": 0,
    "token": "placeholder",
    "request_id": 0,
    "run_id": 0,
    "api_key_id": 0,
    "sandbox_id": 0,
    "notification_id": 0,
}


@pytest.fixture(autouse=True)
def bounded_server(settings):
    # Generated `wait` values must not make each example block for a minute, and no
    # worker runs here: a read that is not done inline stays queued.
    settings.QUERYBASE_MAX_WAIT_SECONDS = 0
    settings.QUERYBASE_QUERY_RATE = "100000/min"
    settings.QUERYBASE_LIVE_RATE = "100000/min"


@dataclass
class Pass:
    """The requests drawn for one operation in one way (positive, negative, on known rows)."""

    operation: str
    path: str
    name: str
    cases: list[Case]
    # Path parameters drawn as placeholders, to be replaced by the ids of a test's own rows.
    pinned: tuple[str, ...] = ()


@contextmanager
def connections_left_open() -> Iterator[None]:
    """Django closes (or checks) the database connection as each request starts and ends.
    The tests' requests run inside the test's transaction, so (as Django's own test client
    does) that is left alone; and the schema is fetched between tests, where the database
    may not be touched at all."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def passes() -> list[Pass]:
    with connections_left_open():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    drawn = []
    for result in schema.exclude(path_regex=f"{CONNECTING}|{STREAMING}").get_all_operations():
        operation = result.ok()
        strategies = [
            ("positive", operation.as_strategy(generation_mode=GenerationMode.POSITIVE)),
            ("negative", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)),
        ]
        # The rows exist only in each test's transaction, with ids of their own: the pinned
        # parameters are drawn as placeholders here and replaced when the request is sent.
        pinned = {
            name: placeholder for name, placeholder in ROW_PLACEHOLDERS.items() if f"{{{name}}}" in operation.path
        }
        for name, strategy in strategies:
            drawn.append(Pass(operation.label, operation.path, name, drawn_cases(strategy)))
        if pinned:
            cases = drawn_cases(operation.as_strategy(path_parameters=pinned))
            drawn.append(Pass(operation.label, operation.path, "known rows", cases, tuple(pinned)))
    return drawn


def drawn_cases(strategy) -> list[Case]:
    cases = []

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_PASS,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def draw(case):
        cases.append(case)

    draw()
    return cases


@pytest.fixture
def in_the_test_transaction(known):
    # After `known`: the test client that made those rows reconnects the signals when done.
    with connections_left_open():
        yield


@pytest.fixture
def shop(shop_sqlite_path):
    return make_datasource("shop", database=str(shop_sqlite_path))


def bearer_of(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


@pytest.fixture
def known(shop) -> dict[str, object]:
    """Rows that exist, owned by an analyst: generated ids almost never hit one, so a third
    pass pins each operation's path parameters to them and reaches past the 404s."""
    analyst = reader("ana", shop, write=True)
    client = client_for(analyst)
    run = client.post("/api/v1/queries", {"datasource": shop.pk, "sql": "SELECT 1"}, format="json").json()
    approval = client.post(
        "/api/v1/queries",
        {"datasource": shop.pk, "sql": "DELETE FROM orders WHERE id = 1", "reason": "test order"},
        format="json",
    ).json()["approval"]
    saved = client.post(
        "/api/v1/saved-queries",
        {"name": "q", "datasource": shop.pk, "sql": "SELECT $1", "default_params": [1]},
        format="json",
    ).json()
    shared = client.post(f"/api/v1/saved-queries/{saved['id']}/share-link").json()
    api_key = client.post("/api/v1/auth/api-keys", {"name": "script"}, format="json").json()
    # A sandbox whose copy failed before it had a golden copy: its fields that are empty
    # then (golden_refreshed_at, copied_at, …) must be documented as nullable. Dropped
    # already, so a generated DELETE has nothing to drop.
    failed_sandbox = Sandbox.objects.create(
        datasource=shop,
        owner=analyst,
        state=SandboxState.FAILED,
        database_name="qb_sandbox_schema_test",
        error_message="the copy failed",
        dropped_at=timezone.now(),
    )
    return {
        "analyst": analyst,
        "id": shop.pk,  # datasources/{id}; saved-queries/{id} is set apart below
        "datasource_id": shop.pk,
        "saved_query_id": saved["id"],
        "token": shared["share_url"].rsplit("/", 1)[1],
        "request_id": approval["id"],
        "run_id": run["id"],
        "api_key_id": api_key["id"],
        "sandbox_id": failed_sandbox.pk,
        "notification_id": Notification.objects.values_list("pk", flat=True).first() or 1,
    }


def pinned_parameters(drawn: Pass, known: dict[str, object]) -> dict[str, object]:
    if drawn.path.startswith("/api/v1/saved-queries"):
        known = {**known, "id": known["saved_query_id"]}
    return {name: known[name] for name in drawn.pinned}


def failures_of(passes: list[Pass], headers: dict[str, str], known: dict[str, object]) -> list[str]:
    failures = []
    for drawn in passes:
        pinned = pinned_parameters(drawn, known)
        for case in drawn.cases:
            # A copy: the other role's test sends the same case.
            request = case.derive()
            request.path_parameters.update(pinned)
            try:
                request.call_and_validate(headers=headers, checks=CHECKS)
            # Schemathesis groups its findings in a BaseExceptionGroup; every operation is
            # tried and every failure reported, the first of each pass (as Hypothesis would).
            except (Exception, BaseExceptionGroup) as error:
                failures.append(f"{drawn.operation} ({drawn.name}): {error}")
                break
    return failures


def test_as_an_analyst_no_operation_answers_5xx_or_breaks_its_schema(passes, known, in_the_test_transaction):
    failures = failures_of(passes, bearer_of(known["analyst"]), known)
    assert not failures, "\n\n".join(failures)


def test_as_an_admin_no_operation_answers_5xx_or_breaks_its_schema(passes, known, in_the_test_transaction):
    failures = failures_of(passes, bearer_of(make_user("root", is_admin=True)), known)
    assert not failures, "\n\n".join(failures)
