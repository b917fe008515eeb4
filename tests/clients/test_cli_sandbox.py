"""`querybase sandbox …` and `run --sandbox`, the installed console script run as a
subprocess against the live server: a copy made in the background and waited for, writes
run there at once, promoted to one request, a CSV uploaded, and a failed copy told."""

import json
import re

import pytest

from apps.approvals.models import ApprovalRequest
from apps.sandboxes.engines import copies_for
from apps.sandboxes.engines.sqlite import sandbox_directory
from apps.sandboxes.models import GoldenCopy, Sandbox

pytestmark = pytest.mark.django_db(transaction=True)

# Exit codes documented in the README.
OK, USAGE, NOT_FOUND_OR_FORBIDDEN, SOURCE_UNAVAILABLE = 0, 2, 4, 6
RENAME = "UPDATE customers SET name = 'Renamed In Sandbox' WHERE id = 1"
NAME_OF_ONE = "SELECT name FROM customers WHERE id = 1"


@pytest.fixture
def sandboxed(shop_world):
    shop_world.source.sandbox_enabled = True
    shop_world.source.sandbox_pool_size = 0
    shop_world.source.save()
    yield shop_world
    for copy in [*Sandbox.objects.all(), *GoldenCopy.objects.all()]:
        copies_for(shop_world.source).drop(copy.database_name)


def test_a_sandbox_is_waited_for_written_in_promoted_reset_and_deleted(cli, sandboxed):
    cli.login("ana")

    got = cli("sandbox", "get", "Shop", "--wait")
    assert got.code == OK, got.stderr
    # No copy yet: the server's worker makes the golden copy, then the sandbox; the CLI says so.
    assert re.search(r"Sandbox #\d+: Making the golden copy from the source, then copying it…", got.stderr)
    assert re.search(r"Sandbox #\d+ is ready \(\d+\.\d s\)", got.stderr)
    sandbox_id = int(re.search(r"Sandbox #(\d+) of Shop: active", got.stdout).group(1))
    again = cli("sandbox", "get", "Shop", "--json")
    assert again.code == OK and again.json()["id"] == sandbox_id and again.json()["state"] == "active"

    wrote = cli("run", "Shop", RENAME, "--sandbox", "mine", "--json")
    assert wrote.code == OK, wrote.stderr
    assert wrote.json()["result"]["affected_rows"] == [1] and wrote.json()["sandbox"] == sandbox_id
    in_sandbox = cli("run", "Shop", NAME_OF_ONE, "--sandbox", str(sandbox_id), "--json")
    assert in_sandbox.json()["result"]["rows"] == [["Renamed In Sandbox"]]
    assert cli("run", "Shop", NAME_OF_ONE, "--json").json()["result"]["rows"] == [["Uma Nguyen"]]
    assert cli("run", "Shop", NAME_OF_ONE, "--sandbox", "yours").code == USAGE

    listed = cli("sandbox", "list", "--json")
    assert [(entry["id"], entry["state"]) for entry in listed.json()] == [(sandbox_id, "active")]
    assert "Shop" in cli("sandbox", "list").stdout

    promoted = cli("sandbox", "promote", str(sandbox_id), "-m", "rename customer 1", "--json")
    assert promoted.code == OK, promoted.stderr
    request = ApprovalRequest.objects.get(pk=promoted.json()["approval"]["id"])
    assert request.sql == RENAME + ";" and request.reason == "rename customer 1"

    reset = cli("sandbox", "reset", str(sandbox_id), "--json")
    assert reset.code == OK and reset.json()["state"] == "active"
    assert cli("run", "Shop", NAME_OF_ONE, "--sandbox", "mine", "--json").json()["result"]["rows"] == [["Uma Nguyen"]]

    deleted = cli("sandbox", "delete", str(sandbox_id))
    assert deleted.code == OK and f"Sandbox #{sandbox_id} deleted." in deleted.stdout
    assert cli("sandbox", "list", "--json").json() == []
    assert cli("sandbox", "reset", str(sandbox_id)).code == NOT_FOUND_OR_FORBIDDEN


def test_a_sandbox_read_of_several_pages_comes_back_whole_in_order(cli, sandboxed):
    """The server answers a read in a sandbox with its first page, as a read on the source;
    `run` (the SDK under it) follows the pages to the last row."""
    cli.login("ana")
    sql = "SELECT id FROM order_items ORDER BY id"

    in_sandbox = cli("run", "Shop", sql, "--sandbox", "mine", "--json")

    assert in_sandbox.code == OK, in_sandbox.stderr
    result = in_sandbox.json()["result"]
    assert result["page_count"] > 1 and result["next"] is None  # every page fetched
    assert len(result["rows"]) == result["row_count"] > 1000
    on_source = cli("run", "Shop", sql, "--json").json()["result"]
    assert result["rows"] == on_source["rows"]


def test_a_csv_is_previewed_then_uploaded_with_its_lines_left_out(cli, sandboxed, tmp_path):
    cli.login("ana")
    sandbox_id = cli("sandbox", "get", "Shop", "--wait", "--json").json()["id"]
    csv_file = tmp_path / "prices.csv"
    csv_file.write_text("sku,price,on_sale\nA1,9.50,true\nbroken line\nB2,12,false\n")

    preview = cli("sandbox", "upload", str(sandbox_id), str(csv_file), "--preview", "--json")
    assert preview.code == OK, preview.stderr
    assert [(column["name"], column["type"]) for column in preview.json()["columns"]] == [
        ("sku", "text"),
        ("price", "decimal"),
        ("on_sale", "boolean"),
    ]
    assert preview.json()["errors"] == [{"line": 3, "message": "1 fields where the header has 3"}]
    shown = cli("sandbox", "upload", str(sandbox_id), str(csv_file), "--preview")
    assert "decimal" in shown.stdout and "Nothing was made yet" in shown.stdout
    assert "line 3: 1 fields where the header has 3" in shown.stderr
    assert cli("run", "Shop", "SELECT 1 FROM prices", "--sandbox", "mine").code != OK  # nothing made yet

    assert cli("sandbox", "upload", str(sandbox_id), str(csv_file)).code == USAGE  # no --table
    loaded = cli("sandbox", "upload", str(sandbox_id), str(csv_file), "--table", "prices")
    assert loaded.code == OK, loaded.stderr
    assert "Loaded 2 row(s) into table prices." in loaded.stdout
    assert "line 3" in loaded.stderr
    rows = cli("run", "Shop", "SELECT sku, price FROM prices ORDER BY sku", "--sandbox", "mine", "--json")
    assert rows.json()["result"]["rows"] == [["A1", 9.5], ["B2", 12]]
    # The same name again is input the server refuses: a usage error, said in JSON with --json.
    twice = cli("sandbox", "upload", str(sandbox_id), str(csv_file), "--table", "prices", "--json")
    assert twice.code == USAGE and json.loads(twice.stderr)["error"]["code"] == "invalid_request"


def test_a_copy_that_fails_exits_with_its_reason_and_asking_again_makes_a_new_one(cli, sandboxed):
    cli.login("ana")
    first = cli("sandbox", "get", "Shop", "--wait", "--json").json()
    assert cli("sandbox", "delete", str(first["id"])).code == OK
    golden = GoldenCopy.objects.get(is_current=True)
    golden_file = sandbox_directory() / f"{golden.database_name}.sqlite3"
    moved = golden_file.rename(golden_file.with_suffix(".away"))

    failed = cli("sandbox", "get", "Shop", "--wait")
    assert failed.code == SOURCE_UNAVAILABLE
    assert f"The golden copy {golden.database_name} is missing" in failed.stderr
    as_json = cli("sandbox", "get", "Shop", "--wait", "--json")
    assert as_json.code == SOURCE_UNAVAILABLE
    assert json.loads(as_json.stderr)["error"]["code"] == "sandbox_unavailable"
    listed = cli("sandbox", "list", "--json").json()
    assert {entry["state"] for entry in listed} == {"failed"}
    assert all("is missing" in entry["error_message"] for entry in listed)
    assert "is missing" in cli("sandbox", "list").stdout

    moved.rename(golden_file)
    again = cli("sandbox", "get", "Shop", "--wait", "--json")
    assert again.code == OK and again.json()["state"] == "active"
    assert again.json()["id"] not in {entry["id"] for entry in listed}


def test_export_with_sandbox_writes_the_sandboxs_rows_not_the_sources(cli, sandboxed, tmp_path):
    cli.login("ana")
    assert cli("run", "Shop", RENAME, "--sandbox", "mine", "--json").code == OK
    sandbox_id = cli("sandbox", "get", "Shop", "--json").json()["id"]

    in_sandbox = cli("export", "Shop", NAME_OF_ONE, "-o", str(tmp_path / "one.csv"), "--sandbox", "mine", "--json")
    assert in_sandbox.code == OK, in_sandbox.stderr
    assert in_sandbox.json()["rows"] == 1
    assert (tmp_path / "one.csv").read_text() == "name\nRenamed In Sandbox\n"
    as_json = str(tmp_path / "one.json")
    by_id = cli("export", "Shop", NAME_OF_ONE, "-o", as_json, "--format", "json", "--sandbox", str(sandbox_id))
    assert by_id.code == OK, by_id.stderr
    assert json.loads((tmp_path / "one.json").read_text())["rows"] == [["Renamed In Sandbox"]]
    on_source = cli("export", "Shop", NAME_OF_ONE, "-o", str(tmp_path / "source.csv"))
    assert on_source.code == OK and (tmp_path / "source.csv").read_text() == "name\nUma Nguyen\n"

    assert cli("export", "Shop", NAME_OF_ONE, "-o", str(tmp_path / "x.csv"), "--sandbox", "yours").code == USAGE
    refused = cli("export", "Shop", RENAME, "-o", str(tmp_path / "w.csv"), "--sandbox", "mine", "--json")
    assert refused.code != OK and json.loads(refused.stderr)["error"]["code"] == "not_a_read"
    assert not (tmp_path / "w.csv").exists()
