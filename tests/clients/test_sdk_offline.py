"""SDK behaviour that needs no server: error mapping, row counting, broken exports.

Answers come from httpx.MockTransport, built as the API builds them.
"""

import httpx
import pytest
from querybase_client import (
    ApprovalRequiredError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    QueryBaseAPIError,
    QueryBaseClient,
    QueryBaseConnectionError,
    QueryFailedError,
    RateLimitedError,
    ServerError,
    SourceUnavailableError,
)
from querybase_client.export import CsvRowCounter, JsonRowCounter


def client_answering(handler) -> QueryBaseClient:
    return QueryBaseClient("http://querybase.test", api_key="qb_test", http_transport=httpx.MockTransport(handler))


def api_error(status: int, code: str, message: str = "m", details=None, headers=None) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_request", BadRequestError),
        (400, "query_failed", QueryFailedError),
        (400, "query_timeout", QueryFailedError),
        (401, "invalid_token", AuthenticationError),
        (403, "permission_denied", PermissionDeniedError),
        (403, "credential_material", PermissionDeniedError),
        (404, "not_found", NotFoundError),
        (409, "invalid_state", ConflictError),
        (409, "approval_required", ApprovalRequiredError),
        (413, "payload_too_large", BadRequestError),
        (429, "rate_limited", RateLimitedError),
        (500, "server_error", ServerError),
        (502, "datasource_unavailable", SourceUnavailableError),
    ],
)
def test_each_status_family_has_its_exception(status, code, expected):
    client = client_answering(lambda request: api_error(status, code, "why", {"field": ["bad"]}))
    with client, pytest.raises(expected) as raised:
        client.account.me()
    error = raised.value
    assert isinstance(error, QueryBaseAPIError)
    assert (error.code, error.status, error.message, error.details) == (code, status, "why", {"field": ["bad"]})


def test_retry_after_is_kept_and_a_proxy_page_is_still_an_error():
    client = client_answering(lambda request: api_error(429, "rate_limited", headers={"Retry-After": "12"}))
    with client, pytest.raises(RateLimitedError) as limited:
        client.account.me()
    assert limited.value.retry_after == 12.0

    client = client_answering(lambda request: httpx.Response(502, text="<html>Bad gateway</html>"))
    with client, pytest.raises(SourceUnavailableError) as proxied:
        client.account.me()
    assert proxied.value.status == 502 and proxied.value.code == "server_error"


def test_an_unreachable_server_is_a_connection_error():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    with client_answering(refuse) as client, pytest.raises(QueryBaseConnectionError):
        client.account.me()


def test_a_failed_job_raises_the_error_the_api_would_have_answered():
    def answer(request):
        if request.method == "POST":
            return httpx.Response(202, json={"id": "run-1", "status": "queued"})
        return httpx.Response(
            200,
            json={"id": "run-1", "status": "failed", "error": {"code": "query_timeout", "message": "too slow"}},
        )

    with client_answering(answer) as client, pytest.raises(QueryFailedError) as raised:
        client.queries.run(1, "SELECT pg_sleep(100)")
    assert raised.value.code == "query_timeout" and raised.value.details == {"run": "run-1"}


class BrokenStream(httpx.SyncByteStream):
    """What a client sees when the server ends an export without its last chunk."""

    def __iter__(self):
        yield b"id\n1\n2\n"
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def test_an_export_cut_short_leaves_no_file(tmp_path):
    client = client_answering(lambda request: httpx.Response(200, stream=BrokenStream()))
    with client, pytest.raises(QueryBaseConnectionError):
        client.queries.export(1, "SELECT id FROM t", tmp_path / "out.csv")
    assert list(tmp_path.iterdir()) == []


def test_csv_rows_are_counted_by_record_not_by_line_across_chunks():
    counter = CsvRowCounter()
    body = b'id,note\n1,"two\nlines"\n2,"a ""quoted"" word"\n3,plain\n'
    for start in range(0, len(body), 5):  # chunk edges fall inside quotes too
        counter.feed(body[start : start + 5])
    assert counter.rows == 3


def test_json_rows_come_from_the_trailer():
    counter = JsonRowCounter()
    for chunk in (b'{"columns":[],"rows":[[1],[2]', b'],"row_count":', b'2,"truncated":false,"row_cap":10}'):
        counter.feed(chunk)
    assert (counter.rows, counter.truncated) == (2, False)


def test_an_export_cut_at_the_row_cap_says_so_and_its_marker_is_no_row():
    csv = CsvRowCounter()
    for chunk in (b"id\n1\n2\n", b"#querybase:truncated row_cap=2\n"):
        csv.feed(chunk)
    assert (csv.rows, csv.truncated) == (2, True)
    json_counter = JsonRowCounter()
    json_counter.feed(b'{"columns":[],"rows":[[1],[2]],"row_count":2,"truncated":true,"row_cap":2}')
    assert (json_counter.rows, json_counter.truncated) == (2, True)
