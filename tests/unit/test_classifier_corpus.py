"""The SQL read/write classifier against an adversarial corpus (fail closed: docs/architecture.md §2.1).

The data lives in classifier_corpus.py; test ids are "<dialect>-<case id>".
"""

import json

import pytest

from apps.sqlcore.classification import Classification, Risk, Verdict, classify_sql
from tests.support.classifier_corpus import (
    COMMON_EMPTY_INPUTS,
    CORPUS,
    DIALECTS,
    EMPTY_INPUTS,
    NEVER_RAISES,
    READ,
    SPLIT_SCRIPT,
    WRITE,
    Case,
)

RISK_ORDER = ("none", "low", "medium", "high")
WRITE_KINDS = {"dml", "ddl", "dcl", "other"}
STATEMENT_KINDS = {"read", "dml", "ddl", "dcl", "transaction", "session", "other"}


def _params(select=lambda case: True):
    return [
        pytest.param(dialect, case, id=f"{dialect}-{case.id}")
        for dialect in DIALECTS
        for case in CORPUS[dialect]
        if select(case)
    ]


def _describe(result: Classification) -> str:
    statements = [
        {
            "text": s.text,
            "kind": str(s.kind),
            "verdict": str(s.verdict),
            "risk": str(s.risk),
            "reasons": list(s.reasons),
        }
        for s in result.statements
    ]
    return f"verdict={result.verdict!s} risk={result.risk!s} statements={statements}"


# --- the corpus itself ---------------------------------------------------------------------


def test_corpus_is_large_enough_and_ids_are_unique():
    minimum = {"postgresql": 160, "mysql": 160, "sqlite": 40}
    for dialect, cases in CORPUS.items():
        assert len(cases) >= minimum[dialect], dialect
        ids = [case.id for case in cases]
        assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
        writes = sum(case.verdict == WRITE for case in cases)
        assert 0.5 <= writes / len(cases) <= 0.75, (dialect, writes, len(cases))
        for case in cases:
            assert case.verdict in (READ, WRITE), case
            assert case.kind is None or case.kind in STATEMENT_KINDS - {"read"}, case
            assert case.kind is None or case.verdict == WRITE, case


# --- verdicts, kinds, risks ----------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "case"), _params())
def test_verdict(dialect: str, case: Case):
    result = classify_sql(case.sql, dialect)
    assert result.verdict == case.verdict, f"{case.sql!r} on {dialect}: {_describe(result)}"
    assert result.is_read is (case.verdict == READ)
    assert not result.is_empty, _describe(result)


@pytest.mark.parametrize(("dialect", "case"), _params(lambda case: case.kind is not None))
def test_kind_of_first_write_statement(dialect: str, case: Case):
    result = classify_sql(case.sql, dialect)
    writes = [s for s in result.statements if s.verdict == Verdict.WRITE]
    assert writes, f"{case.sql!r} on {dialect}: no write statement: {_describe(result)}"
    assert writes[0].kind == case.kind, f"{case.sql!r} on {dialect}: {_describe(result)}"
    if case.kind in WRITE_KINDS:
        assert case.kind in result.write_kinds, _describe(result)


@pytest.mark.parametrize(("dialect", "case"), _params(lambda case: case.risk is not None))
def test_risk(dialect: str, case: Case):
    result = classify_sql(case.sql, dialect)
    allowed = (case.risk,) if isinstance(case.risk, str) else case.risk
    assert result.risk in allowed, f"{case.sql!r} on {dialect}: {_describe(result)}"


@pytest.mark.parametrize(("dialect", "case"), _params())
def test_result_is_self_consistent(dialect: str, case: Case):
    result = classify_sql(case.sql, dialect)
    assert isinstance(result.verdict, Verdict)
    assert isinstance(result.risk, Risk)
    assert result.statements, _describe(result)
    for statement in result.statements:
        assert statement.kind in STATEMENT_KINDS, _describe(result)
        assert statement.verdict in (READ, WRITE), _describe(result)
        assert statement.risk in RISK_ORDER, _describe(result)
    # Overall risk is the maximum over the statements.
    assert RISK_ORDER.index(result.risk) == max(RISK_ORDER.index(s.risk) for s in result.statements)
    assert result.write_kinds <= WRITE_KINDS
    if result.verdict == Verdict.READ:
        assert all(s.verdict == Verdict.READ for s in result.statements), _describe(result)
        assert all(s.risk == Risk.NONE for s in result.statements), _describe(result)
        assert result.write_kinds == frozenset()
    else:
        assert any(s.verdict == Verdict.WRITE for s in result.statements), _describe(result)


# --- empty input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        pytest.param(dialect, sql, id=f"{dialect}-{case_id}")
        for dialect in DIALECTS
        for case_id, sql in COMMON_EMPTY_INPUTS + EMPTY_INPUTS[dialect]
    ],
)
def test_empty_or_comment_only_input_is_empty_and_not_a_read(dialect: str, sql: str):
    result = classify_sql(sql, dialect)
    assert result.is_empty, _describe(result)
    assert result.verdict == Verdict.WRITE, _describe(result)
    assert not result.is_read


# --- never raises ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [pytest.param(dialect, sql, id=f"{dialect}-{case_id}") for dialect in DIALECTS for case_id, sql in NEVER_RAISES],
)
def test_never_raises(dialect: str, sql: str):
    result = classify_sql(sql, dialect)
    assert result.verdict in (Verdict.READ, Verdict.WRITE)
    json.dumps(result.as_dict())


# --- as_dict() shape and statement splitting -------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_as_dict_shape(dialect: str):
    result = classify_sql("SELECT 1; DELETE FROM t", dialect)
    data = result.as_dict()
    assert {"verdict", "risk", "statements"} <= set(data)
    assert data["verdict"] == "write"
    assert data["risk"] == "high"
    assert len(data["statements"]) == 2
    for statement in data["statements"]:
        assert {"text", "kind", "verdict", "risk", "reasons"} <= set(statement)
        assert isinstance(statement["text"], str)
        assert isinstance(statement["reasons"], list | tuple)
        assert all(isinstance(reason, str) and reason for reason in statement["reasons"])
    first, second = data["statements"]
    assert (first["kind"], first["verdict"], first["risk"]) == ("read", "read", "none")
    assert (second["kind"], second["verdict"], second["risk"]) == ("dml", "write", "high")
    assert second["reasons"], "a write statement says why"
    # Plain JSON: the enums serialise as their string values.
    assert json.loads(json.dumps(data))["statements"][1]["kind"] == "dml"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_as_dict_of_a_read(dialect: str):
    data = classify_sql("SELECT 'DROP TABLE t' AS x", dialect).as_dict()
    assert (data["verdict"], data["risk"]) == ("read", "none")
    assert [(s["kind"], s["verdict"], s["risk"]) for s in data["statements"]] == [("read", "read", "none")]
    assert "'DROP TABLE t'" in data["statements"][0]["text"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_as_dict_matches_attributes(dialect: str):
    result = classify_sql("INSERT INTO t VALUES (1); DROP TABLE t", dialect)
    data = result.as_dict()
    assert data["verdict"] == result.verdict
    assert data["risk"] == result.risk
    assert [s["text"] for s in data["statements"]] == [s.text for s in result.statements]
    assert [s["kind"] for s in data["statements"]] == [s.kind for s in result.statements] == ["dml", "ddl"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_three_statement_script_splits_on_real_semicolons_only(dialect: str):
    result = classify_sql(SPLIT_SCRIPT, dialect)
    assert len(result.statements) == 3, _describe(result)
    first, second, third = result.statements
    assert first.text.startswith("SELECT 'a;b' AS x"), first.text
    assert "SELECT 2" in second.text, second.text
    assert "DELETE" not in first.text + second.text
    assert third.text.startswith("DELETE FROM t WHERE id = 1"), third.text
    assert [s.verdict for s in result.statements] == ["read", "read", "write"]
    assert [s.kind for s in result.statements] == ["read", "read", "dml"]
    assert result.verdict == Verdict.WRITE
    assert result.risk in ("low", "medium")
    assert result.write_kinds == frozenset({"dml"})
