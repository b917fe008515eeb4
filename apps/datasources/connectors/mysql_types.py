"""How MySQL and MariaDB values and column types are read for results
(docs/architecture.md §3).

Dates, times and years are the engine's own text, in JSON as in CSV: DATE `2025-01-31`,
TIME `-838:59:59`, `100:00:00.50` (beyond a day, negative, with the column's fraction
digits), YEAR `2025` and `0000`. A DATETIME or TIMESTAMP is ISO 8601 in JSON
(`2025-01-31T12:00:00`) and PostgreSQL's spelling in CSV (csv_text.py), when it is a
moment; one that is none (a zero date `0000-00-00 00:00:00`, a zero month or day
`2020-01-00 10:00:00`, a day its month lacks under ALLOW_INVALID_DATES, the year 0) is
the engine's text as it is, in both: the driver would read it as NULL, which it is not.
One rule, the one PostgreSQL's `infinity` follows: what Python's dates cannot hold keeps
the engine's text (postgresql_types.py).
"""

import datetime
import json
import operator
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from MySQLdb.constants import FIELD_TYPE, FLAG
from MySQLdb.times import DateTime_or_None

from apps.datasources.connectors.csv_text import csv_text
from apps.datasources.connectors.values import (
    ColumnConversion,
    all_of_layout,
    decimal_texts,
    json_values,
    per_value,
    present_texts,
    texts_joined,
    with_nulls,
)

# The engine's own names for the protocol's type codes (the FIELD_TYPE constants alias:
# CHAR is TINY, INTERVAL is ENUM). BOOLEAN is TINYINT(1) to the server itself.
_TYPE_NAMES = {
    FIELD_TYPE.DECIMAL: "decimal",
    FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.TINY: "tinyint",
    FIELD_TYPE.SHORT: "smallint",
    FIELD_TYPE.INT24: "mediumint",
    FIELD_TYPE.LONG: "int",
    FIELD_TYPE.LONGLONG: "bigint",
    FIELD_TYPE.FLOAT: "float",
    FIELD_TYPE.DOUBLE: "double",
    FIELD_TYPE.NULL: "null",
    FIELD_TYPE.TIMESTAMP: "timestamp",
    FIELD_TYPE.DATE: "date",
    14: "date",  # NEWDATE, internal to the server; FIELD_TYPE has no name for it
    FIELD_TYPE.TIME: "time",
    FIELD_TYPE.DATETIME: "datetime",
    FIELD_TYPE.YEAR: "year",
    FIELD_TYPE.BIT: "bit",
    FIELD_TYPE.JSON: "json",
    FIELD_TYPE.ENUM: "enum",
    FIELD_TYPE.SET: "set",
    FIELD_TYPE.GEOMETRY: "geometry",
}
# String types: (name for text, name for bytes). The BINARY flag also marks text with a
# binary collation (utf8mb4_bin), so the values themselves say which (bytes or str).
_STRING_TYPE_NAMES = {
    FIELD_TYPE.VARCHAR: ("varchar", "varbinary"),
    FIELD_TYPE.VAR_STRING: ("varchar", "varbinary"),
    FIELD_TYPE.STRING: ("char", "binary"),
    FIELD_TYPE.TINY_BLOB: ("tinytext", "tinyblob"),
    FIELD_TYPE.MEDIUM_BLOB: ("mediumtext", "mediumblob"),
    FIELD_TYPE.LONG_BLOB: ("longtext", "longblob"),
    FIELD_TYPE.BLOB: ("text", "blob"),
}


def json_document(value: Any) -> Any:
    """A JSON document stays the server's text, written into the API's JSON as it is
    (values.json_rows_encoder); parsed, numbers beyond a float's would change. Text that
    does not parse (a JSON column whose JSON_VALID check was dropped) goes out as a JSON
    string of itself, so it cannot break, or reach outside, the response."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, (bytes, bytearray)) else str(value)
    try:
        # Python's parser also takes NaN and Infinity, which no JSON parser does.
        json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):
        return json.dumps(text)
    return text


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def type_name(index: int, type_code: int, flag: int, documents: frozenset[int] | set[int], rows: list) -> str:
    if index in documents:
        return "json"
    if flag & FLAG.ENUM:
        return "enum"
    if flag & FLAG.SET:
        return "set"
    if type_code in _STRING_TYPE_NAMES:
        text_name, bytes_name = _STRING_TYPE_NAMES[type_code]
        sample = next((row[index] for row in rows if row[index] is not None), None)
        binary = isinstance(sample, bytes) if sample is not None else bool(flag & FLAG.BINARY)
        return bytes_name if binary else text_name
    return _TYPE_NAMES.get(type_code, str(type_code))


# Dates, times and years are their server's text, in JSON as in CSV (the module's docstring).
_ENGINE_TEXT_TYPES = {
    FIELD_TYPE.DATE,
    14,  # NEWDATE
    FIELD_TYPE.TIME,
    FIELD_TYPE.YEAR,
}
# Reads take decimals, dates and times as the server's text, decoded by the driver's C code
# (`json_conversions`, str): their JSON values are made from it a column at a time (below),
# and for the CSV export it is already the dialect's spelling. Building Decimal, datetime
# and int objects to spell them back was, in Python, most of a large result's time.
_SERVER_TEXT_TYPES = _ENGINE_TEXT_TYPES | {
    FIELD_TYPE.DECIMAL,
    FIELD_TYPE.NEWDECIMAL,
    FIELD_TYPE.DATETIME,
    FIELD_TYPE.TIMESTAMP,
}
# Integers are the server's text too, but for ZEROFILL columns: their `0007` is written 7,
# as the driver's int reads it.
_INTEGER_TYPES = {
    FIELD_TYPE.TINY,
    FIELD_TYPE.SHORT,
    FIELD_TYPE.INT24,
    FIELD_TYPE.LONG,
    FIELD_TYPE.LONGLONG,
}
# Floats keep the driver's float, spelled by repr as Python's CSV writer did (`1e+30`, where
# the server writes `1e30`).
_FLOAT_TYPES = {FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE}
_TEXT_NAMES = {text_name for text_name, _ in _STRING_TYPE_NAMES.values()} | {"enum", "set"}


def json_conversions(conversions: dict) -> dict:
    """The driver's conversions for a read: `conversions` with the server's text (str) for
    _SERVER_TEXT_TYPES, for `json_column_converters`."""
    return {**conversions, **dict.fromkeys(_SERVER_TEXT_TYPES, str)}


def csv_conversions(conversions: dict) -> dict:
    """The driver's conversions for a CSV export: `json_conversions`, and the server's text
    (str) for the integers of _INTEGER_TYPES too, ZEROFILL ones still read as int.
    (A sequence of (flag, conversion) pairs is the driver's way to choose by flags.)"""
    return {**json_conversions(conversions), **dict.fromkeys(_INTEGER_TYPES, ((FLAG.ZEROFILL, int), (None, str)))}


def csv_converters(
    description, columns, flags: Sequence[int], documents: frozenset[int] | set[int]
) -> list[tuple[int, ColumnConversion]]:
    """(column index, conversion of a column's values) for the columns the CSV export must
    still spell (csv_text.py), read with `csv_conversions`; every other column is text already."""
    spellings: list[tuple[int, Callable[[Any], Any]]] = []
    fractional = []  # DATETIME(n) and TIMESTAMP(n): spelled a column at a time
    for index, (column, described, flag) in enumerate(zip(columns, description, flags, strict=True)):
        type_code = described[1]
        if index in documents:
            spellings.append((index, _document_text))
        elif type_code in _DATETIME_TYPES and described[5]:
            fractional.append(index)
        elif type_code in _SERVER_TEXT_TYPES:
            continue
        elif type_code in _INTEGER_TYPES:
            if flag & FLAG.ZEROFILL:
                spellings.append((index, str))
        elif type_code in _FLOAT_TYPES:
            spellings.append((index, repr))
        elif column.type not in _TEXT_NAMES:
            spellings.append((index, csv_text))
    return [(index, per_value(spell)) for index, spell in spellings] + [
        (index, fractional_timestamp_texts) for index in fractional
    ]


def _document_text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def fractional_timestamp_texts(column: Sequence[Any]) -> Sequence[Any]:
    """DATETIME(n)/TIMESTAMP(n) texts (str, or bytes) as PostgreSQL writes them, without
    the fraction's trailing zeros: `2020-09-10 16:46:03.5`, `2020-09-10 16:46:03`. One
    that is no moment (`0000-00-00 00:00:00.000000`) stays the engine's text. Python's
    parser checks the whole column (C) first: the usual column has no such text."""
    texts = present_texts(column)
    if _all_exist(texts):
        return with_nulls(column, [_trimmed_fraction(text) for text in texts])
    return per_value(_timestamp_text)(column)


def _timestamp_text(value: Any) -> str:
    text = _document_text(value)
    return _trimmed_fraction(text) if _all_exist([text]) else text


def _trimmed_fraction(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


# JSON values -----------------------------------------------------------------------------
#
# Reads take decimals, dates and times as the server's text (`json_conversions`), and
# their JSON values are made from it a column of a fetched chunk at a time: decimals are
# their text (values.decimal_texts), dates, times and years too, DATETIME/TIMESTAMP the
# ISO 8601 of the text, checked by Python's own parser (C); a chunk not of the usual shape
# goes value by value through the driver's own conversion, so the values are the ones
# the driver's datetimes gave (to_json_value of them). The other columns are left as the
# driver read them: integers a JSON number holds need nothing.
_INTEGERS_JSON_HOLDS = {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG}
_DECIMAL_TYPES = {FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL}
_DATETIME_TYPES = {FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP}
_DATETIME_SEPARATORS = operator.itemgetter(4, 7, 10, 13, 16)


def json_column_converters(
    description: Sequence[Sequence[Any]], documents: frozenset[int] | set[int]
) -> list[tuple[int, ColumnConversion]]:
    """(column index, conversion of a column's values to JSON values) for the columns that
    need one, read with `json_conversions`."""
    converters: list[tuple[int, ColumnConversion]] = []
    for index, described in enumerate(description):
        type_code = described[1]
        if index in documents:
            converters.append((index, per_value(json_document)))
        elif type_code in _DECIMAL_TYPES:
            converters.append((index, decimal_texts))
        elif type_code in _DATETIME_TYPES:
            converters.append((index, datetime_texts))
        elif type_code not in _INTEGERS_JSON_HOLDS and type_code not in _ENGINE_TEXT_TYPES:
            converters.append((index, json_values))
    return converters


# Column types whose JSON values (read with `json_conversions`, through
# `json_column_converters`) are only ever text, integers or NULL: integers (BIGINT's beyond
# 2**53 as text), decimals, dates and times as text, strings, ENUM, SET, BIT and GEOMETRY as
# text (bytes in base64). Not FLOAT and DOUBLE (floats), JSON documents, nor a type not
# named here (a newer server's).
_PLAIN_TYPES = (
    _INTEGER_TYPES
    | _SERVER_TEXT_TYPES
    | set(_STRING_TYPE_NAMES)
    | {
        FIELD_TYPE.ENUM,
        FIELD_TYPE.SET,
        FIELD_TYPE.BIT,
        FIELD_TYPE.GEOMETRY,
        FIELD_TYPE.NULL,
    }
)


def plain_columns(description: Sequence[Sequence[Any]], documents: frozenset[int] | set[int]) -> frozenset[int]:
    """The columns whose JSON values are only ever text, integers or NULL (RowStream.plain_columns)."""
    return frozenset(
        index for index, described in enumerate(description) if described[1] in _PLAIN_TYPES and index not in documents
    )


def _datetime_json(value: Any) -> str:
    """A DATETIME/TIMESTAMP's JSON value, from its text: the ISO 8601 of the driver's
    datetime of it, or, when it is no moment (a zero date, 2025-02-30: the driver reads
    None), the engine's text itself."""
    text = _document_text(value)
    moment = DateTime_or_None(text)
    return text if moment is None else moment.isoformat()


# DATETIME and TIMESTAMP without a fraction of a second, as the server writes them.
_WHOLE_SECONDS_LAYOUT = "0000-00-00 00:00:00"


def datetime_texts(column: Sequence[Any]) -> Sequence[Any]:
    """DATETIME/TIMESTAMP values (the server's text) as the ISO 8601 of the driver's
    datetime of each: `2025-01-01 00:01:00` as `2025-01-01T00:01:00`.

    A column of whole seconds (the usual) is checked character by character a position of
    all its texts at once (values.all_of_layout), then each text is read by Python's
    parser only to find the dates and times that do not exist (a zero date, 2025-02-30,
    which the driver reads as None, and which stays the engine's text): the texts
    themselves, with their `T`, are the values."""
    texts, joined = texts_joined(column)
    if all_of_layout(joined, len(texts), _WHOLE_SECONDS_LAYOUT):
        if _all_exist(texts):
            return with_nulls(column, joined.replace(" ", "T").split("\n"))
        return per_value(_datetime_json)(column)
    parsed = _parsed_datetimes(texts)
    if parsed is None:
        return per_value(_datetime_json)(column)
    return with_nulls(column, list(map(datetime.datetime.isoformat, parsed)))


def _all_exist(texts: Sequence[str]) -> bool:
    """Whether every text (of the server's DATETIME layout) is a datetime Python's parser
    reads (the same fields the driver reads); the datetimes themselves are dropped as made."""
    try:
        deque(map(datetime.datetime.fromisoformat, texts), maxlen=0)
    except ValueError:
        return False
    return True


def _parsed_datetimes(texts: Sequence[str]) -> list[datetime.datetime] | None:
    """The datetimes of texts all in the server's layout (`2025-01-01 00:01:00[.f…]`, the
    fraction up to six digits), as Python's parser reads them (the same values the
    driver's parser gives them); None if any text is of another layout or no datetime
    (a zero date, 2025-02-30: the driver reads None there)."""
    if not set(map(len, texts)) <= {19, 21, 22, 23, 24, 25, 26}:
        return None
    if set(map(_DATETIME_SEPARATORS, texts)) - {("-", "-", " ", ":", ":")}:
        return None
    if set(map(operator.itemgetter(slice(19, 20)), texts)) - {"", "."}:
        return None
    try:
        parsed = list(map(datetime.datetime.fromisoformat, texts))
    except ValueError:
        return None
    return parsed if set(map(operator.attrgetter("tzinfo"), parsed)) <= {None} else None
