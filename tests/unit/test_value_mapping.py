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
        (decimal.Decimal("1E-8"), "0.00000001"),  # as the engine writes it: never an exponent
        (decimal.Decimal("-1.00E-8"), "-0.0000000100"),
        (decimal.Decimal("0E-7"), "0.0000000"),
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


# Column at a time (the JSON export's path, and every JSON read's): each must give, value for
# value and byte for byte, what the value-by-value mapping gives.

ROWS_OF_EVERY_KIND = [
    [1, "plain", True, None, 1.5, ["a", 2.5, None], {"k": [1e16]}, '{"d": 1e400}'],
    [2**53, 'quote " back \\ slash', False, 0.1, 1e16, [1e-07, -0.0], {"n": None}, None],
    [
        -(2**53),
        "\x00\x01\x1f\x7f \u2028\u2029 é ✓ 😀 \n\r\t\b\f",
        None,
        5e-324,
        1.7976931348623157e308,
        [],
        {},
        "[1, 2.50]",
    ],
    [0, "", True, -0.0, 123456789.0, [[1, [2.0]]], {"a": {"b": 1e-300}}, "null"],
]
TYPES_OF_EVERY_KIND = ["int8", "text", "bool", "float8", "float8", "float8[]", "record", "jsonb"]


def test_the_export_encoder_writes_the_bytes_json_dumps_writes():
    from apps.datasources.connectors.values import json_rows_bytes_encoder

    for types, rows in [
        (TYPES_OF_EVERY_KIND, ROWS_OF_EVERY_KIND),
        (TYPES_OF_EVERY_KIND[:7], [row[:7] for row in ROWS_OF_EVERY_KIND]),  # no documents
        (["int4", "text", "bool"], [row[:3] for row in ROWS_OF_EVERY_KIND]),  # the plain path
        (["int8", "text"], [[2**70, "beyond 64 bits"], [-(2**64), "x"]]),  # orjson refuses: json.dumps writes
        (["int4"], []),
        ([], [[], []]),
    ]:
        assert json_rows_bytes_encoder(types)(rows) == json_rows_encoder(types)(rows).encode(), types
    assert json_rows_bytes_encoder(["float8", "float8[]"])([[1e16, [1e-07]]]) == b"[[1e+16,[1e-07]]]"


def test_json_values_of_a_column_are_to_json_values():
    from apps.datasources.connectors.values import json_values

    for column in (
        ["a", None, True],
        [1, 2**53, -(2**53), None],
        [1, 2**53 + 1, None],
        [-(2**53) - 1, "x"],
        [1.5, float("nan"), None],
        [b"\x00\xff", memoryview(b"a"), None],
        [decimal.Decimal("1E-7"), datetime.date(2025, 1, 1), None],
        [[1, 2**60], {"a": float("inf")}],
        [],
    ):
        assert json_values(list(column)) == [to_json_value(value) for value in column], column


DECIMAL_TEXTS = [
    "0",
    "-0.00",
    "1.50",
    "123.4500000000000000",
    "100.000000",
    "0.000001",
    "0.0000010",
    "0.000000",
    "0.0000000",
    "0.0000001",
    "-0.00000012",
    "10.0000001",
    "12345678901234567890.123456789",
    "NaN",
    "Infinity",
    "-Infinity",
]


def test_decimal_texts_are_the_engines_text_as_a_decimal_maps():
    from apps.datasources.connectors.values import decimal_texts

    def expected(column):
        return [None if text is None else to_json_value(decimal.Decimal(text)) for text in column]

    # The engine's text, whatever the scale: never an exponent.
    assert expected(DECIMAL_TEXTS) == DECIMAL_TEXTS

    for column in ([text] for text in DECIMAL_TEXTS):
        assert decimal_texts(list(column)) == expected(column), column
    everything = [*DECIMAL_TEXTS, None]
    assert decimal_texts(list(everything)) == expected(everything)
    plain = ["1.50", None, "100.000000", "-2"]
    assert decimal_texts(list(plain)) == expected(plain)
    assert decimal_texts([text.encode() for text in DECIMAL_TEXTS]) == expected(DECIMAL_TEXTS)  # MariaDB's bytes
    assert decimal_texts([decimal.Decimal("1E-7"), decimal.Decimal("1.00E-8"), None]) == [
        "0.0000001",
        "0.0000000100",
        None,
    ]


def _timestamp_texts():
    """PostgreSQL's text of timestamps of every layout, and of what no datetime holds."""
    whole = ["2025-01-01 00:01:00", "1999-12-31 23:59:59"]
    fractions = [
        "2025-01-01 00:01:00.5",
        "2025-01-01 00:01:00.123456",
        "2025-01-01 00:01:00.000001",
        "2025-01-01 00:01:00.12",
    ]
    offsets = ["", "+00", "-03", "+05:30", "-03:30", "+00:19:32", "-03:30:52"]
    odd = [
        "infinity",
        "-infinity",
        "0044-03-15 00:00:00+00 BC",
        "0044-03-15 12:00:00.123 BC",
        "10000-01-01 00:00:00+00",
    ]
    return [moment + offset for moment in whole + fractions for offset in offsets] + odd


def test_timestamp_texts_of_a_column_are_rewritten_as_each_text_is():
    from apps.datasources.connectors.postgresql_types import iso_8601_of_timestamp_text, iso_8601_of_timestamp_texts

    def expected(column):
        return [None if text is None else iso_8601_of_timestamp_text(text) for text in column]

    texts = _timestamp_texts()
    columns = [[text] for text in texts]  # each layout alone (the fast path where it has one)
    columns += [[text, None, text] for text in texts]
    columns += [texts, [None, None], []]
    columns += [[texts[0], texts[1]], ["2025-01-01 00:01:00+00", "2025-01-01 00:01:00-03"]]
    columns += [["2025-01-01 00:01:00.123456", "0044-03-15 12:00:00.12 BC"]]  # same length, one of them BC
    for column in columns:
        assert iso_8601_of_timestamp_texts(list(column)) == expected(column), column


def test_mariadb_datetime_texts_are_the_drivers_datetimes_in_iso_8601_or_else_the_engines_text():
    from MySQLdb.times import DateTime_or_None

    from apps.datasources.connectors.mysql_types import datetime_texts

    def expected(column):
        return [None if text is None else _moment_or_text(DateTime_or_None(text.decode()), text) for text in column]

    def _moment_or_text(moment, text):
        return text.decode() if moment is None else to_json_value(moment)  # a zero date is no NULL

    texts = [
        b"2025-01-01 00:01:00",
        b"9999-12-31 23:59:59",
        b"1000-01-01 00:00:00",
        b"2025-01-01 00:01:00.5",
        b"2025-01-01 00:01:00.000",
        b"2025-01-01 00:01:00.010",
        b"2025-01-01 00:01:00.123456",
        b"2025-01-01 00:01:00.000000",
        b"0000-00-00 00:00:00",  # a zero date: the driver reads None
        b"2025-02-30 12:00:00",  # ALLOW_INVALID_DATES
        b"2025-00-00 00:00:00",
        b"0000-00-00 00:00:00.000000",
        b"2020-01-00 10:00:00.5",
    ]
    columns = [[text] for text in texts] + [[text, None] for text in texts] + [texts, [None], []]
    columns += [[b"2025-01-01 00:01:00", b"2025-01-02 00:01:00", None, b"2025-01-03 00:01:00"]]
    for column in columns:
        assert datetime_texts(list(column)) == expected(column), column


def test_mariadb_fractional_timestamps_in_csv_drop_trailing_zeros_only_of_moments():
    from apps.datasources.connectors.mysql_types import fractional_timestamp_texts

    moments = [b"2020-09-10 16:46:03.500000", None, b"2025-01-01 00:00:00.000000", b"2025-01-01 00:00:00.000001"]
    assert fractional_timestamp_texts(moments) == [
        "2020-09-10 16:46:03.5",
        None,
        "2025-01-01 00:00:00",
        "2025-01-01 00:00:00.000001",
    ]
    # No moment: the engine's text as it is, whatever else the column holds.
    mixed = [
        "0000-00-00 00:00:00.000000",
        "2025-01-01 00:00:00.250",
        None,
        "2020-01-00 10:00:00.500",
        "0000-01-01 00:00:00.5",
    ]
    assert fractional_timestamp_texts(mixed) == [
        "0000-00-00 00:00:00.000000",
        "2025-01-01 00:00:00.25",
        None,
        "2020-01-00 10:00:00.500",
        "0000-01-01 00:00:00.5",
    ]
