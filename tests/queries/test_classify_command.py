"""`manage.py classify`: the classifier's audit interface (JSON lines in, JSON lines out)."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

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
