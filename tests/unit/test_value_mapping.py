"""The documented mapping of driver values to JSON (docs/architecture.md §3), value by value.
The same values through the API, on the real engines, are in tests/queries/test_value_mapping.py."""

import datetime
import decimal
import uuid

import pytest

from apps.datasources.connectors.postgresql_types import array_from_text
from apps.datasources.connectors.values import iso_duration, json_rows_encoder, to_json_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2**53, 2**53),
        (2**53 + 1, "9007199254740993"),
        (-(2**53) - 1, "-9007199254740993"),
        (decimal.Decimal("1.10"), "1.10"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
        (decimal.Decimal("NaN"), "NaN"),
        (decimal.Decimal("Infinity"), "Infinity"),
        (decimal.Decimal("-Infinity"), "-Infinity"),
        ([float("nan"), 1.5], ["NaN", 1.5]),
        (datetime.timedelta(days=1, hours=2, seconds=3.5), "P1DT2H3.5S"),
        (datetime.timedelta(0), "PT0S"),
        (-datetime.timedelta(seconds=1), "-PT1S"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (memoryview(b"\x01"), "AQ=="),
        ({"a": (1, decimal.Decimal("2"))}, {"a": [1, "2"]}),
    ],
)
def test_mapping_rules(value, expected):
    assert to_json_value(value) == expected


def test_iso_duration_microseconds():
    assert iso_duration(datetime.timedelta(microseconds=1500)) == "PT0.0015S"


def test_documents_are_written_as_the_engine_wrote_them():
    encode = json_rows_encoder(["int8", "jsonb", "json[]", "text"])
    rows = [[1, '{"n": 1e400, "big": 12345678901234567890}', ['{"a": 1.50}', None], "x"], [2, None, None, "é"]]
    assert encode(rows) == ('[[1,{"n": 1e400, "big": 12345678901234567890},[{"a": 1.50},null],"x"],[2,null,null,"é"]]')


def test_a_value_shaped_like_the_token_cannot_misplace_documents():
    rows = [["[1]", '"querybase-document-"']]
    assert json_rows_encoder(["json", "text"])(rows) == '[[[1],"\\"querybase-document-\\""]]'


def test_rows_without_documents_take_the_plain_path():
    assert json_rows_encoder(["int4", "text"])([[1, "a"]]) == '[[1,"a"]]'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ("{happy,sad}", ["happy", "sad"]),
        ('{"a b",NULL,"NULL","x\\"y"}', ["a b", None, "NULL", 'x"y']),
        ('{{a,b},{c,"d,e"}}', [["a", "b"], ["c", "d,e"]]),
        ('{"(1,\\"a \\"\\"q\\"\\"\\")"}', ['(1,"a ""q""")']),
        ("[0:1]={x,y}", ["x", "y"]),
        ("{unterminated", "{unterminated"),
    ],
)
def test_arrays_psycopg_does_not_know_are_read_from_their_text(text, expected):
    assert array_from_text(text) == expected


def test_postgresql_timestamp_text_becomes_what_isoformat_writes():
    import datetime

    from apps.datasources.connectors.postgresql_types import iso_8601_of_timestamp_text as iso

    zone = datetime.timezone
    cases = {
        "2025-01-01 00:01:00+00": datetime.datetime(2025, 1, 1, 0, 1, tzinfo=zone.utc),
        "2020-09-10 16:46:03.5+05:30": datetime.datetime(
            2020, 9, 10, 16, 46, 3, 500000, tzinfo=zone(datetime.timedelta(hours=5, minutes=30))
        ),
        "2020-09-10 16:46:03.905795-03": datetime.datetime(
            2020, 9, 10, 16, 46, 3, 905795, tzinfo=zone(-datetime.timedelta(hours=3))
        ),
        "2020-09-10 16:46:03": datetime.datetime(2020, 9, 10, 16, 46, 3),
        "0099-01-01 00:00:00.000001": datetime.datetime(99, 1, 1, 0, 0, 0, 1),
        "1900-01-01 00:00:00+00:19:32": datetime.datetime(
            1900, 1, 1, tzinfo=zone(datetime.timedelta(minutes=19, seconds=32))
        ),
    }
    for text, value in cases.items():
        assert iso(text) == value.isoformat(), text
    # What no datetime holds keeps PostgreSQL's text, as before.
    for text in ("infinity", "-infinity", "0044-03-15 00:00:00+00 BC", "10000-01-01 00:00:00"):
        assert iso(text) == text
