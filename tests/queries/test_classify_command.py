"""`manage.py classify`: the classifier's audit interface (JSON lines in, JSON lines out)."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.databases import SOURCE_DB
from tests.support.factories import source_from_server

ROOT = Path(__file__).resolve().parents[2]


def classify_lines(lines: list[str], dialect: str) -> list[dict]:
    out = io.StringIO()
    call_command("classify", dialect=dialect, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_input_line_gets_one_verdict_line_in_order():
    answers = classify_lines(
        [
            json.dumps({"sql": "SELECT * FROM t WHERE note = 'DROP TABLE t'"}),
            json.dumps({"sql": "SELECT 1; DELETE FROM ledger"}),
            json.dumps({"sql": "/*! DROP TABLE t */ SELECT 1"}),
        ],
        "mysql",
    )
    assert [answer["verdict"] for answer in answers] == ["read", "write", "write"]
    assert answers[0] == {
        "verdict": "read",
        "risk": "none",
        "statements": [
            {
                "text": "SELECT * FROM t WHERE note = 'DROP TABLE t'",
                "visible_text": "SELECT * FROM t WHERE note = 'DROP TABLE t'",
                "kind": "read",
                "verdict": "read",
                "risk": "none",
                "reasons": answers[0]["statements"][0]["reasons"],
            }
        ],
    }
    assert answers[1]["risk"] == "high"
    assert [(s["text"], s["kind"], s["verdict"]) for s in answers[1]["statements"]] == [
        ("SELECT 1", "read", "read"),
        ("DELETE FROM ledger", "dml", "write"),
    ]
    assert answers[1]["statements"][1]["reasons"]


def test_a_bad_line_gets_an_error_line_and_the_stream_goes_on():
    answers = classify_lines(
        ["not json", json.dumps(["SELECT 1"]), json.dumps({"sql": 1}), '{"sql": "SELECT 1"}'], "sqlite"
    )
    assert [set(answer) for answer in answers[:3]] == [{"error"}, {"error"}, {"error"}]
    assert answers[3]["verdict"] == "read"


def test_an_unknown_dialect_is_refused():
    with pytest.raises(CommandError, match="dialect"):
        call_command("classify", dialect="oracle", stdin=io.StringIO(""))


def test_the_command_runs_as_a_real_process_over_pipes():
    lines = [{"sql": "SELECT $$ ; DROP TABLE t $$"}, {"sql": "SELECT 1 /* /* */ ; DROP TABLE t; */"}, {"sql": ""}]
    completed = subprocess.run(
        [sys.executable, "manage.py", "classify", "--dialect", "postgresql"],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=60,
        check=True,
    )
    answers = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [answer["verdict"] for answer in answers] == ["read", "read", "write"]
    assert answers[2]["statements"] == []


@pytest.mark.django_db
def test_a_source_s_catalog_turns_a_read_calling_its_volatile_function_into_a_write(postgres_server):
    with psycopg.connect(
        host=postgres_server.host, port=postgres_server.port, user="postgres", dbname=SOURCE_DB, autocommit=True
    ) as admin:
        admin.execute("CREATE OR REPLACE FUNCTION bump_counter() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$")
    source_from_server("catalog-pg", "postgresql", postgres_server)
    out = io.StringIO()
    lines = [json.dumps({"sql": "SELECT bump_counter()"}), json.dumps({"sql": "SELECT lower('A')"})]
    call_command("classify", datasource="catalog-pg", stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [answer["verdict"] for answer in answers] == ["write", "read"]
    assert "VOLATILE" in answers[0]["statements"][0]["reasons"][0]
    # Without the source, the same text is only judged by the fixed lists.
    assert classify_lines([lines[0]], "postgresql")[0]["verdict"] == "read"


@pytest.mark.django_db
def test_an_unknown_source_is_a_command_error():
    with pytest.raises(CommandError, match="No data source named"):
        call_command("classify", datasource="nope", stdin=io.StringIO(""), stdout=io.StringIO())
