"""The `querybase` console script, run as a subprocess against the live server."""

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from apps.approvals.models import ApprovalRequest
from apps.queries.models import QueryRun
from tests.clients.conftest import querybase_executable

pytestmark = pytest.mark.django_db(transaction=True)

SHOP_READ = "SELECT id, name FROM customers ORDER BY id LIMIT 3"
FIRST_THREE = [[1, "Uma Nguyen"], [2, "Hana Rossi"], [3, "Rosa García"]]

# Exit codes documented in the README.
OK, ERROR, USAGE, AUTH, NOT_FOUND_OR_FORBIDDEN, APPROVAL = 0, 1, 2, 3, 4, 5


def test_login_stores_a_private_profile_and_whoami_reads_it(cli, shop_world):
    result = cli.login("ana")
    assert "Logged in" in result.stdout
    profile_file = cli.config_dir / "profiles.json"
    assert stat.S_IMODE(profile_file.stat().st_mode) == 0o600
    stored = json.loads(profile_file.read_text())["profiles"]["default"]
    assert stored["username"] == "ana" and stored["refresh"]
    assert "password" not in profile_file.read_text().lower()

    whoami = cli("whoami", "--json")
    assert whoami.code == OK, whoami.stderr
    body = whoami.json()
    assert body["username"] == "ana"
    assert body["datasources"][0]["name"] == "Shop" and body["datasources"][0]["can_write"] is True
    assert "ana" in cli("whoami").stdout

    assert cli("logout").code == OK
    after = cli("whoami")
    assert after.code == AUTH
    assert "Not logged in" in after.stderr


def test_a_wrong_password_exits_with_the_auth_code(cli, shop_world):
    result = cli("login", cli.url, "--username", "ana", env={"QUERYBASE_PASSWORD": "wrong"})
    assert result.code == AUTH
    assert "credentials" in result.stderr
    assert not (cli.config_dir / "profiles.json").exists()


def modules_loaded_by(*args: str, config_dir) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Runs `querybase …` and names every module it imported (`python -X importtime`)."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("QUERYBASE_")}
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", querybase_executable(), *args],
        capture_output=True,
        text=True,
        env={**environment, "QUERYBASE_CONFIG_DIR": str(config_dir), "NO_COLOR": "1"},
        timeout=60,
    )
    timings = [line for line in completed.stderr.splitlines() if line.startswith("import time:")]
    return completed, {line.rsplit("|", 1)[1].strip() for line in timings}


@pytest.mark.django_db(transaction=False)
def test_help_and_a_mistyped_option_answer_without_loading_the_http_client(tmp_path):
    # Most of the half second `querybase --help` took went on importing httpx (and with it
    # ssl, email, pygments…): a command that talks to no server must not load it.
    shown, loaded = modules_loaded_by("--help", config_dir=tmp_path)
    assert shown.returncode == OK
    assert "run" in shown.stdout and "approve" in shown.stdout
    assert not {"httpx", "querybase_client.client", "rich.progress"} & loaded

    mistyped, loaded = modules_loaded_by("run", "shop", "SELECT 1", "--formt", "csv", config_dir=tmp_path)
    assert mistyped.returncode == USAGE
    assert "--formt" in mistyped.stderr
    assert "httpx" not in loaded

    # The SDK's names are still there to import from the package itself.
    from querybase_client import QueryBaseClient, RunStillPending, SandboxStillCopying
    from querybase_client.resources.queries import RunStillPending as still_pending_where_it_was

    assert QueryBaseClient.__name__ == "QueryBaseClient"
    assert still_pending_where_it_was is RunStillPending
    assert issubclass(SandboxStillCopying, Exception)


def test_commands_without_a_login_exit_with_the_auth_code(cli, shop_world):
    result = cli("sources", "--json")
    assert result.code == AUTH
    assert json.loads(result.stderr)["error"]["code"] == "not_logged_in"


def test_sources_and_schema_by_name_or_id(cli, shop_world):
    cli.login("ana")
    sources = cli("sources", "--json")
    assert sources.code == OK
    assert [source["name"] for source in sources.json()] == ["Shop"]
    assert "Shop" in cli("sources").stdout

    by_name = cli("schema", "Shop", "--json").json()
    by_id = cli("schema", str(shop_world.source.pk), "--json").json()
    assert by_name == by_id
    customers = next(table for table in by_name if table["name"] == "customers")
    assert [column["name"] for column in customers["columns"]][:2] == ["id", "name"]
    assert "customers" in cli("schema", "shop").stdout  # names match case-insensitively too


def test_run_prints_a_read_as_table_csv_and_json(cli, shop_world):
    cli.login("ana")
    table = cli("run", "Shop", SHOP_READ)
    assert table.code == OK, table.stderr
    assert "Uma Nguyen" in table.stdout and "Rosa García" in table.stdout
    assert "3 rows" in table.stderr

    as_csv = cli("run", "Shop", SHOP_READ, "--format", "csv")
    assert list(csv.reader(io.StringIO(as_csv.stdout))) == [["id", "name"]] + [[str(i), n] for i, n in FIRST_THREE]

    as_json = cli("run", "Shop", SHOP_READ, "--format", "json").json()
    assert as_json["result"]["rows"] == FIRST_THREE
    assert as_json["status"] == "succeeded"
    assert cli("run", "Shop", SHOP_READ, "--json").json()["result"]["rows"] == FIRST_THREE


def test_run_prints_every_statements_result(cli, shop_world):
    cli.login("ana")
    table = cli("run", "Shop", "SELECT 'first' AS one; SELECT 'second' AS two")
    assert table.code == OK, table.stderr
    assert "first" in table.stdout and "second" in table.stdout
    assert table.stdout.index("first") < table.stdout.index("second")
    assert "Statement 1: SELECT 'first' AS one" in table.stderr
    assert "Statement 2: SELECT 'second' AS two" in table.stderr


def test_sql_comes_from_a_file_or_stdin(cli, shop_world, tmp_path):
    cli.login("ana")
    sql_file = tmp_path / "read.sql"
    sql_file.write_text(SHOP_READ)
    assert cli("run", "Shop", "-f", str(sql_file), "--json").json()["result"]["rows"] == FIRST_THREE
    assert cli("run", "Shop", "--json", input=SHOP_READ).json()["result"]["rows"] == FIRST_THREE
    assert cli("run", "Shop").code == USAGE  # no argument, no file, empty stdin


def test_positional_and_named_parameters_are_bound(cli, shop_world):
    cli.login("ana")
    positional = cli(
        "run", "Shop", "SELECT name FROM customers WHERE id = $1 OR id = $2 ORDER BY id", "-p", "1", "-p", "3", "--json"
    )
    assert positional.json()["result"]["rows"] == [["Uma Nguyen"], ["Rosa García"]]
    named = cli(
        "run",
        "Shop",
        "SELECT :who AS who, :n + 1 AS n",
        "--param",
        "who=x'; DROP TABLE customers",
        "--param",
        "n=41",
        "--json",
    )
    assert named.json()["result"]["rows"] == [["x'; DROP TABLE customers", 42]]
    mixed = cli("run", "Shop", "SELECT $1", "-p", "1", "--param", "a=2")
    assert mixed.code == USAGE


def test_a_write_becomes_an_approval_request(cli, shop_world):
    cli.login("ana")
    result = cli("run", "Shop", "UPDATE products SET in_stock = in_stock + 1 WHERE id = 1", "--reason", "price fix")
    assert result.code == APPROVAL, result.stderr
    request = ApprovalRequest.objects.get()
    assert f"approval request #{request.id}" in result.stderr
    assert "UPDATE products SET in_stock" in result.stdout
    assert request.reason == "price fix" and request.status == "pending"

    as_json = cli("run", "Shop", "DELETE FROM orders WHERE id = 2", "--reason", "cleanup", "--json")
    assert as_json.code == APPROVAL
    assert as_json.json()["approval"]["status"] == "pending"

    refused = cli("run", "Shop", "DELETE FROM orders WHERE id = 3", "--no-request", "--json")
    assert refused.code == APPROVAL
    assert json.loads(refused.stderr)["error"]["code"] == "approval_required"

    mine = cli("requests", "--mine", "--json").json()
    assert len(mine) == 2


def test_an_approver_reviews_and_approves_a_request(cli, shop_world):
    cli.login("ana")
    cli("run", "Shop", "UPDATE products SET in_stock = 999 WHERE id = 1", "--reason", "cleanup")
    request = ApprovalRequest.objects.get()
    cli.login("ray", profile="approver")
    as_approver = {"QUERYBASE_PROFILE": "approver"}

    to_review = cli("requests", "--to-review", "--json", env=as_approver)
    assert [item["id"] for item in to_review.json()] == [request.id]
    assert str(request.id) in cli("requests", "--to-review", env=as_approver).stdout
    assert cli("requests", "--to-review", "--json").json() == []  # the requester has nothing to review

    shown = cli("show", str(request.id), env=as_approver)
    assert "UPDATE products SET in_stock = 999 WHERE id = 1" in shown.stdout
    assert "risk" in shown.stdout

    approved = cli("approve", str(request.id), "-m", "looks right", env=as_approver)
    assert approved.code == OK, approved.stderr
    assert "UPDATE products" in approved.stdout  # the exact SQL is shown before deciding
    assert _settled(cli, request.id, env=as_approver)["status"] == "succeeded"
    rows = cli("run", "Shop", "SELECT in_stock FROM products WHERE id = 1", "--max-age", "0", "--json")
    assert rows.json()["result"]["rows"] == [[999]]


def test_a_high_risk_approval_needs_the_request_number_typed_or_yes(cli, shop_world):
    cli.login("ana")
    cli("run", "Shop", "DELETE FROM order_items", "--reason", "cleanup")
    cli("run", "Shop", "DROP TABLE order_items", "--reason", "cleanup")
    first, second = ApprovalRequest.objects.order_by("id")
    assert first.risk == second.risk == "high"
    cli.login("ray", profile="approver")
    as_approver = {"QUERYBASE_PROFILE": "approver"}

    wrong = cli("approve", str(first.id), input="yes\n", env=as_approver)
    assert wrong.code == ERROR
    assert "HIGH RISK" in wrong.stderr and "Not approved" in wrong.stderr
    first.refresh_from_db()
    assert first.status == "pending"

    typed = cli("approve", str(first.id), "-m", "intended", input=f"{first.id}\n", env=as_approver)
    assert typed.code == OK, typed.stderr
    assert _settled(cli, first.id, env=as_approver)["status"] == "succeeded"

    scripted = cli("approve", str(second.id), "--yes", "--json", env=as_approver)
    assert scripted.code == OK, scripted.stderr
    assert scripted.json()["status"] in {"approved", "executing", "succeeded"}


def test_reject_needs_a_comment_and_is_shown_to_the_requester(cli, shop_world):
    cli.login("ana")
    cli("run", "Shop", "UPDATE customers SET name = 'x' WHERE id = 1", "--reason", "cleanup")
    request = ApprovalRequest.objects.get()
    cli.login("ray", profile="approver")
    as_approver = {"QUERYBASE_PROFILE": "approver"}
    assert cli("reject", str(request.id), env=as_approver).code == USAGE
    rejected = cli("reject", str(request.id), "-m", "use the admin page", "--json", env=as_approver)
    assert rejected.json()["status"] == "rejected"
    shown = cli("show", str(request.id))
    assert "use the admin page" in shown.stdout and "rejected" in shown.stdout


def test_export_writes_every_row_to_a_file(cli, shop_world, tmp_path):
    cli.login("ana")
    target = tmp_path / "items.csv"
    result = cli("export", "Shop", "SELECT * FROM order_items ORDER BY id", "-o", str(target))
    assert result.code == OK, result.stderr
    lines = target.read_text().splitlines()
    assert len(lines) == 5452 + 1
    assert lines[0].startswith("id,")
    assert "Exported 5452 rows" in result.stderr

    as_json = tmp_path / "items.json"
    summary = cli("export", "Shop", "SELECT id FROM order_items", "-o", str(as_json), "--format", "json", "--json")
    assert summary.json()["rows"] == 5452
    assert json.loads(as_json.read_text())["row_count"] == 5452
    assert not list(tmp_path.glob("*.partial"))


def test_history_lists_the_users_runs(cli, shop_world):
    cli.login("ana")
    cli("run", "Shop", SHOP_READ)
    history = cli("history", "--json")
    assert history.code == OK
    assert history.json()[0]["sql"] == SHOP_READ
    assert "succeeded" in cli("history").stdout


def test_exit_codes_for_unknown_sources_missing_rights_and_failed_queries(cli, shop_world):
    cli.login("ana")
    unknown = cli("run", "Warehouse", "SELECT 1")
    assert unknown.code == NOT_FOUND_OR_FORBIDDEN
    assert "Warehouse" in unknown.stderr

    cli("run", "Shop", "DELETE FROM orders WHERE id = 1", "--reason", "cleanup")
    request = ApprovalRequest.objects.get()
    own = cli("approve", str(request.id), "--yes", "--json")  # nobody approves their own request
    assert own.code == NOT_FOUND_OR_FORBIDDEN
    assert json.loads(own.stderr)["error"]["code"] == "permission_denied"

    failed = cli("run", "Shop", "SELECT * FROM no_such_table", "--json")
    assert failed.code == 7
    assert json.loads(failed.stderr)["error"]["code"] == "query_failed"

    cli.login("otto", profile="outsider")
    outsider = cli("run", str(shop_world.source.pk), "SELECT 1", env={"QUERYBASE_PROFILE": "outsider"})
    assert outsider.code == NOT_FOUND_OR_FORBIDDEN


def _settled(cli, request_id: int, *, env: dict, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = cli("show", str(request_id), "--json", env=env).json()
        if body["status"] in {"succeeded", "failed"} or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def test_an_approver_dry_runs_a_request_before_deciding(cli, shop_world):
    shop_world.source.dry_run_enabled = True
    shop_world.source.save()
    cli.login("ana")
    cli("run", "Shop", "UPDATE customers SET country = 'NL' WHERE country = 'US'", "--reason", "cleanup")
    request = ApprovalRequest.objects.get()
    cli.login("ray", profile="approver")
    as_approver = {"QUERYBASE_PROFILE": "approver"}

    dry = cli("dry-run", str(request.id), env=as_approver)
    assert dry.code == OK, dry.stderr
    assert "rolled back" in dry.stdout
    affected = cli("dry-run", str(request.id), "--json", env=as_approver).json()["statements"][0]["affected_rows"]
    assert affected == int(
        cli("run", "Shop", "SELECT count(*) FROM customers WHERE country = 'US'", "--format", "csv").stdout.split()[-1]
    )
    assert f"{affected} rows" in cli("show", str(request.id), env=as_approver).stdout
    request.refresh_from_db()
    assert request.status == "pending"  # nothing decided, nothing run


def test_a_refusal_is_not_a_usage_error(cli, shop_world):
    cli.login("ana")
    cli("run", "Shop", "DELETE FROM orders WHERE id = 1", "--reason", "cleanup")
    request = ApprovalRequest.objects.get()
    cli.login("ray", profile="approver")
    refused = cli("dry-run", str(request.id), "--json", env={"QUERYBASE_PROFILE": "approver"})  # not enabled here
    assert refused.code == ERROR
    assert json.loads(refused.stderr)["error"]["code"] == "dry_run_not_allowed"
    unbound = cli("run", "Shop", "SELECT $1", "--json")  # a placeholder without its value: the user's input
    assert unbound.code == USAGE


def test_ctrl_c_while_a_job_runs_cancels_it_on_the_server(cli, shop_world):
    cli.login("ana")
    endless = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) SELECT count(*) FROM c"
    )
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("QUERYBASE_")},
        "QUERYBASE_CONFIG_DIR": str(cli.config_dir),
    }
    process = subprocess.Popen(
        [querybase_executable(), "run", "Shop", endless, "--wait", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        # As a terminal would start it: a suite started in the background (`make test &`)
        # ignores SIGINT, and a child inherits that, so Ctrl-C would never reach the CLI.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        # The job line says the server handed the read to a worker (after its inline budget).
        assert "running as a job" in process.stderr.readline()
        run = _run_reaching(QueryRun, "running", timeout=30)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert f"Cancelled run {run.pk}" in stderr, (process.returncode, stderr, stdout)
    assert process.returncode == 130
    assert _run_reaching(QueryRun, "cancelled", timeout=30).pk == run.pk


def _run_reaching(model, status: str, *, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = model.objects.filter(status=status).first()
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no run reached {status}: {list(model.objects.values_list('status', flat=True))}")
