"""The Python SDK against the live server: tokens, runs, jobs, exports, approvals, errors."""

import time

import pytest
from querybase_client import (
    ApprovalRequest,
    ApprovalRequiredError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    QueryBaseClient,
    QueryFailedError,
    QueryResult,
    Tokens,
)

from tests.support.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(url: str, username: str) -> QueryBaseClient:
    client, _ = QueryBaseClient.login(url, username, DEFAULT_PASSWORD)
    return client


def test_a_rejected_access_token_is_refreshed_and_the_new_pair_handed_over(server_url, shop_world):
    _, tokens = QueryBaseClient.login(server_url, "ana", DEFAULT_PASSWORD)
    handed_over: list[Tokens] = []
    stale = Tokens(access="not-a-valid-jwt", refresh=tokens.refresh)
    with QueryBaseClient(server_url, tokens=stale, on_tokens=handed_over.append) as client:
        assert client.account.me().username == "ana"
        assert client.account.me().username == "ana"  # no second refresh: the new token works
    assert len(handed_over) == 1
    assert handed_over[0].refresh != tokens.refresh  # refresh tokens work once: a new one came back

    # The old refresh token is now blacklisted: without a password the session is over…
    with QueryBaseClient(server_url, tokens=stale) as client, pytest.raises(AuthenticationError) as raised:
        client.account.me()
    assert raised.value.code == "session_expired"
    # …with one, the client logs in again.
    with QueryBaseClient(server_url, tokens=stale, username="ana", password=DEFAULT_PASSWORD) as client:
        assert client.account.me().username == "ana"


def test_an_access_token_about_to_expire_is_refreshed_before_the_call(server_url, shop_world):
    handed_over: list[Tokens] = []
    _, tokens = QueryBaseClient.login(server_url, "ana", DEFAULT_PASSWORD)
    with QueryBaseClient(server_url, tokens=tokens, on_tokens=handed_over.append) as client:
        client.auth.clock = lambda: time.time() + 3600  # as if an hour had passed
        assert client.account.me().username == "ana"
    assert len(handed_over) == 1


def test_api_keys_authenticate_scripts(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        issued = client.account.create_api_key("nightly")
    assert issued.key and issued.key.startswith("qb_")
    with QueryBaseClient(server_url, api_key=issued.key) as script:
        assert script.account.me().username == "ana"
        assert [source.name for source in script.datasources.list()] == ["Shop"]
    with QueryBaseClient(server_url, api_key="qb_wrong") as script, pytest.raises(AuthenticationError):
        script.account.me()


def test_a_read_returns_typed_rows_and_a_job_is_polled_to_its_end(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        result = client.queries.run("Shop", "SELECT id, name FROM customers WHERE id = $1", [2])
        assert isinstance(result, QueryResult)
        assert result.column_names == ["id", "name"]
        assert result.as_dicts() == [{"id": 2, "name": "Hana Rossi"}]
        assert result.cached is False

        # wait=0: the server answers 202 with a job at once; the SDK polls it.
        job = client.queries.run("Shop", "SELECT count(*) AS n FROM order_items", wait=0, max_age=0)
        assert isinstance(job, QueryResult)
        assert job.rows == [[5452]]

        history = client.queries.history(datasource="Shop", status="succeeded")
        assert {run.id for run in history} >= {result.run_id, job.run_id}


def test_a_result_of_several_pages_comes_back_whole_in_order(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        sql = "SELECT id FROM order_items ORDER BY id"
        for extra in ({}, {"wait": 0, "max_age": 0}):  # answered at once, and a polled job
            result = client.queries.run("Shop", sql, **extra)
            assert result.row_count == 5452
            assert result.raw["result"]["page_count"] > 1
            assert [row[0] for row in result.rows] == sorted(row[0] for row in result.rows)
            assert len({row[0] for row in result.rows}) == 5452


def test_analyze_classifies_without_running(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        analysis = client.queries.analyze("Shop", "DELETE FROM orders WHERE id = :id")
    assert analysis.classification.verdict == "write"
    assert analysis.placeholders[0]["key"] == ":id"


def test_a_write_returns_its_request_which_can_be_dry_run_approved_or_cancelled(server_url, shop_world):
    shop_world.source.dry_run_enabled = True
    shop_world.source.save()
    with signed_in(server_url, "ana") as analyst, signed_in(server_url, "ray") as approver:
        request = analyst.queries.run("Shop", "UPDATE products SET in_stock = 0 WHERE id = 1", reason="sold out")
        assert isinstance(request, ApprovalRequest)
        assert request.status == "pending" and request.reason == "sold out"

        assert [item.id for item in approver.approvals.list(awaiting_my_review=True)] == [request.id]
        dry = approver.approvals.dry_run(request.id)
        assert dry.dry_run_result["ok"] is True, dry.dry_run_result
        shown = approver.approvals.get(request.id)
        assert shown.classification.statements[0].kind == "dml"
        decided = approver.approvals.approve(request.id, "ok")
        assert decided.status in {"approved", "executing", "succeeded"}
        assert decided.reviews[0].comment == "ok"

        second = analyst.queries.run("Shop", "UPDATE products SET in_stock = 1 WHERE id = 2", reason="restock")
        assert analyst.approvals.cancel(second.id).status == "cancelled"
        assert [item.id for item in analyst.approvals.list(status="cancelled")] == [second.id]


def test_saved_queries_round_trip(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        saved = client.saved_queries.create(
            "top customers", "Shop", "SELECT * FROM customers LIMIT :n", default_params={"n": 5}
        )
        assert client.saved_queries.get(saved.id).default_params == {"n": 5}
        assert [item.name for item in client.saved_queries.list(datasource="Shop")] == ["top customers"]
        client.saved_queries.delete(saved.id)
        with pytest.raises(NotFoundError):
            client.saved_queries.get(saved.id)


def test_every_statement_of_several_has_its_result_and_export(server_url, shop_world, tmp_path):
    sql = "SELECT id FROM customers ORDER BY id LIMIT 2; SELECT id FROM order_items ORDER BY id"
    with signed_in(server_url, "ana") as client:
        result = client.queries.run("Shop", sql)
        first, last = result.statements
        assert (first.statement, first.sql, first.column_names) == (
            1,
            "SELECT id FROM customers ORDER BY id LIMIT 2",
            ["id"],
        )
        assert first.rows == [[1], [2]] and first.row_count == 2
        # The last statement is the result itself, every page of it.
        assert last.statement == 2 and last.row_count == 5452
        assert last.rows == result.rows and len(result.rows) == 5452
        assert client.queries.run("Shop", "SELECT 1 AS one").statements == []

        summary = client.queries.export("Shop", sql, tmp_path / "customers.csv", statement=1)
    assert summary.rows == 2
    assert (tmp_path / "customers.csv").read_text().splitlines() == ["id", "1", "2"]


def test_export_streams_to_a_file_with_progress(server_url, shop_world, tmp_path):
    seen: list[tuple[int, int]] = []
    with signed_in(server_url, "ana") as client:
        summary = client.queries.export(
            "Shop", "SELECT * FROM order_items", tmp_path / "items.csv", on_progress=lambda b, r: seen.append((b, r))
        )
    assert summary.rows == 5452
    assert summary.bytes_written == (tmp_path / "items.csv").stat().st_size
    assert seen[-1] == (summary.bytes_written, 5452)


def test_api_errors_become_exceptions_with_code_status_and_details(server_url, shop_world):
    with signed_in(server_url, "ana") as client:
        with pytest.raises(NotFoundError) as missing:
            client.queries.run(999999, "SELECT 1")
        assert (missing.value.code, missing.value.status) == ("not_found", 404)

        with pytest.raises(QueryFailedError) as failed:
            client.queries.run("Shop", "SELECT * FROM no_such_table")
        assert failed.value.code == "query_failed" and "no_such_table" in failed.value.message

        with pytest.raises(ApprovalRequiredError) as write:
            client.queries.run("Shop", "DELETE FROM orders", request_approval=False)
        assert write.value.status == 409 and write.value.details

        with pytest.raises(BadRequestError) as invalid:
            client.queries.run("Shop", "SELECT $1")
        assert invalid.value.code == "invalid_parameters"

        request = client.queries.run("Shop", "DELETE FROM orders WHERE id = 1", reason="test order")
        with pytest.raises(PermissionDeniedError) as own:
            client.approvals.approve(request.id)
        assert own.value.code == "permission_denied"
