"""Driver values to JSON values, keeping their meaning (docs/architecture.md §3).

Decimals and integers beyond 2**53 become strings (JSON numbers would round them), NaN
and infinities of floats and decimals alike the strings "NaN", "Infinity", "-Infinity",
timestamps ISO 8601 with their offset, dates/times/intervals/UUIDs strings, bytes
base64, arrays as arrays, NULL as null.

JSON documents (columns of a type in JSON_DOCUMENT_TYPES) are carried as the engine's
own text and written into JSON output as they are (`json_rows_encoder`): parsed into
Python they would lose what a JSON number can say and a float cannot (integers beyond
2**53 in JavaScript clients, 1e400, 0.1000000000000000055511151231257827), and mapped
back they would come out changed.
"""

import base64
import datetime
import decimal
import json
import math
import operator
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import chain, repeat
from typing import Any

import orjson

MAX_SAFE_INTEGER = 2**53
# JSON has no NaN or infinities: a float's and a numeric's (Decimal's) are both spelled
# the way PostgreSQL writes them, so one comparison finds them whatever the column type.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
# Column types whose values are JSON documents in the engine's text (arrays of them too).
JSON_DOCUMENT_TYPES = frozenset({"json", "jsonb"})


def to_json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[str(value)]
    if isinstance(value, decimal.Decimal):
        # The engine's text: every digit, never an exponent (str() writes 1E-8 for
        # 0.00000001); NaN, Infinity, -Infinity as they are.
        return format(value, "f")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return str(value)


# Values `to_json_value` hands back as they are, and orjson writes as json.dumps does
# (tests/unit/test_value_mapping.py compares the two on every character): integers too,
# within +-2**53.
_AS_THEY_ARE = frozenset({str, bool, type(None)})
_ORJSON_AS_JSON = frozenset({str, int, bool, type(None)})


def json_values(column: Sequence[Any]) -> Sequence[Any]:
    """`to_json_value` of every value of a column (of a chunk of rows). A column whose
    values are JSON values already (text, booleans, integers a JSON number holds, NULL)
    comes back as it is: a type test per value in C rather than a Python call."""
    kinds = set(map(type, column))
    if kinds <= _AS_THEY_ARE:
        return column
    if kinds <= _ORJSON_AS_JSON and _safe_integers(value for value in column if type(value) is int):
        return column
    return [to_json_value(value) for value in column]


def _safe_integers(integers: Iterable[int]) -> bool:
    present = list(integers)
    return min(present) >= -MAX_SAFE_INTEGER and max(present) <= MAX_SAFE_INTEGER


def decimal_texts(column: Sequence[Any]) -> Sequence[Any]:
    """Decimals read as the server's text (str, or bytes), as `to_json_value` writes the
    Decimal of each: the text itself (the servers write no exponent, and NaN and infinities
    as `to_json_value` spells them)."""
    try:
        texts, _ = texts_joined(column)
    except TypeError:
        return [to_json_value(value) for value in column]  # Decimals themselves
    return with_nulls(column, texts)


def texts_joined(column: Sequence[Any]) -> tuple[Sequence[str], str]:
    """`present_texts(column)`, and the same texts joined by line breaks. A column of str
    without NULL (the usual) is its own texts: the join (C) says so, as it takes nothing
    else. TypeError for a value neither text nor NULL."""
    try:
        return column, "\n".join(column)
    except TypeError:
        texts = present_texts(column)
        return texts, "\n".join(texts)


def present_texts(column: Sequence[Any]) -> list[str]:
    """The values of a column of text (str or UTF-8 bytes, none holding a line break) but
    NULL, as str: bytes are decoded all at once."""
    present = [value for value in column if value is not None]
    if not present or type(present[0]) is str:
        return present
    return b"\n".join(present).decode().split("\n")


def with_nulls(column: Sequence[Any], converted: Sequence[Any]) -> Sequence[Any]:
    """`converted` (one value for each of `column`'s values but NULL), with NULL put back where it was."""
    if len(converted) == len(column):
        return converted
    values = iter(converted)
    return [None if value is None else next(values) for value in column]


def per_value(convert: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[Any]]:
    """A conversion of a column, out of one of a value (NULL stays NULL)."""
    return lambda column: [None if value is None else convert(value) for value in column]


ColumnConversion = Callable[[Sequence[Any]], Sequence[Any]]


def converted_rows(chunk: Sequence[Sequence[Any]], converters: Sequence[tuple[int, ColumnConversion]]) -> list[list]:
    """A chunk of rows as read, as rows (lists) with the columns of `converters` converted,
    a column at a time (`convert(values)`), taken out and put back by map (C)."""
    rows = list(map(list, chunk))
    for index, convert in converters:
        converted = convert(list(map(operator.itemgetter(index), chunk)))
        deque(map(operator.setitem, rows, repeat(index), converted), maxlen=0)  # rows[n][index] = converted[n]
    return rows


def converted_block(
    chunk: Sequence[Sequence[Any]], converters: Sequence[tuple[int, ColumnConversion]]
) -> Sequence[Sequence[Any]]:
    """A chunk of rows as read (tuples), with the columns of `converters` converted a column
    at a time (`convert(values)`). Columns are taken out by map (C), and the rows are made
    again (zip, C) only where a conversion changed a column: else the chunk itself. No
    Python step and no new list per row: making a list of each row, or turning a chunk
    into columns with zip (an iterator per row, each one more object for the garbage
    collector to visit), cost as much as the rest of a row's way to a JSON export."""
    if not chunk:
        return chunk
    changed: dict[int, Sequence[Any]] = {}
    for index, convert in converters:
        column = list(map(operator.itemgetter(index), chunk))
        converted = convert(column)
        if converted is not column:
            changed[index] = converted
    if not changed:
        return chunk
    columns = [
        changed[index] if index in changed else list(map(operator.itemgetter(index), chunk))
        for index in range(len(chunk[0]))
    ]
    return list(zip(*columns, strict=True))


# Every ASCII digit as `0`, for `all_of_layout` (bytes: str.translate goes through a dict per character).
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")


def all_of_layout(joined: str, count: int, layout: str) -> bool:
    """Whether `joined` is `count` texts of `layout`, joined by line breaks. A layout gives,
    for each character, the one allowed there, `0` for any ASCII digit and `±` for a sign
    (`+` or `-`). Every character is checked, the whole text at once (C): its digits
    turned into `0` and its signs into `+`, it must be the layout itself, `count` times."""
    if len(joined) != count * (len(layout) + 1) - 1 or not joined.isascii():
        return False
    shape = bytearray(joined.encode().translate(_DIGITS_AS_ZERO))
    step = len(layout) + 1
    for position in [position for position, allowed in enumerate(layout) if allowed == "±"]:
        if shape[position::step].strip(b"+-"):  # a sign's place of every text at once
            return False
        shape[position::step] = b"+" * count
    return shape == ((layout.replace("±", "+") + "\n") * count).encode()[:-1]


class JsonRows(str):
    """Rows already written as one JSON array, as they are to go out (a stored page of a
    result without documents): the API's renderer writes the text in, never parses it."""


def is_json_document_type(type_name: str) -> bool:
    return type_name.removesuffix("[]") in JSON_DOCUMENT_TYPES


def dump_json(value: Any) -> str:
    """Compact JSON of mapped values, as the API writes it (non-ASCII kept, NaN refused)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def raw_json_document(value: Any) -> str:
    """A document column's value as JSON text: the engine's text itself (it is valid JSON:
    the column type guarantees it), arrays of documents element by element."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ",".join(raw_json_document(item) for item in value) + "]"
    return dump_json(value)


def json_rows_encoder(column_types: Sequence[str]) -> Callable[[Sequence[Sequence[Any]]], str]:
    """A function writing mapped rows as one JSON array, with the documents of the
    columns of a JSON type written as they are."""
    documents = [index for index, type_name in enumerate(column_types) if is_json_document_type(type_name)]
    if not documents:
        return dump_json

    def encode(rows: Sequence[Sequence[Any]]) -> str:
        # One json.dumps (C code) of the rows with each document replaced by a token
        # no value can hold (a fresh UUID), then the documents go where the tokens are:
        # about twice the plain path, where a dumps per cell was ten times.
        token = f"querybase-document-{uuid.uuid4().hex}"
        tokenised = []
        for row in rows:
            copy = list(row)
            for index in documents:
                copy[index] = token
            tokenised.append(copy)
        pieces = dump_json(tokenised).split(f'"{token}"')
        if len(pieces) != len(rows) * len(documents) + 1:
            return _encode_cell_by_cell(rows, frozenset(documents))
        texts = [raw_json_document(row[index]) for row in rows for index in documents]
        return pieces[0] + "".join(text + piece for text, piece in zip(texts, pieces[1:], strict=True))

    return encode


def _encode_cell_by_cell(rows: Sequence[Sequence[Any]], documents: frozenset[int]) -> str:
    return (
        "["
        + ",".join(
            "["
            + ",".join(
                raw_json_document(value) if index in documents else dump_json(value) for index, value in enumerate(row)
            )
            + "]"
            for row in rows
        )
        + "]"
    )


def json_rows_bytes_encoder(
    column_types: Sequence[str], plain_columns: Collection[int] = frozenset()
) -> Callable[[Sequence[Sequence[Any]]], bytes]:
    """A function writing mapped rows as one JSON array, bytes for bytes what
    `json_rows_encoder` writes (UTF-8), several times faster: orjson writes what it writes
    as json.dumps does (text, integers, booleans, null), and everything else is written by
    json.dumps itself and handed to orjson as a Fragment (written as it is): floats (orjson
    spells 1e16 and 1e-07 its own way), arrays and objects (which may hold floats), other
    types. Documents go in as Fragments of their text, never parsed.

    The values of `plain_columns` (RowStream.plain_columns: text, integers, booleans or
    NULL by their column's type) are written without a look at each one's type: that look
    was, for a result of such columns only, several times orjson's own time."""
    documents = [index for index, type_name in enumerate(column_types) if is_json_document_type(type_name)]
    looked_at = [index for index in range(len(column_types)) if index not in plain_columns]
    fallback = json_rows_encoder(column_types)

    def encode(rows: Sequence[Sequence[Any]]) -> bytes:
        try:
            if not documents and _as_orjson_writes_them(rows, looked_at, len(column_types)):
                return orjson.dumps(rows)
            return orjson.dumps(list(zip(*_fragments(rows, documents, looked_at), strict=True)))
        except orjson.JSONEncodeError:
            # An integer beyond 64 bits (json.dumps writes it), or what json.dumps refuses
            # too: the other encoder says so, in its own words.
            return fallback(rows).encode()

    return encode


def _as_orjson_writes_them(rows: Sequence[Sequence[Any]], looked_at: list[int], width: int) -> bool:
    """Whether every value of the columns `looked_at` is one orjson writes as json.dumps does."""
    if len(looked_at) == width:
        return set(map(type, chain.from_iterable(rows))) <= _ORJSON_AS_JSON
    return all(set(map(type, map(operator.itemgetter(index), rows))) <= _ORJSON_AS_JSON for index in looked_at)


def _fragments(rows: Sequence[Sequence[Any]], documents: list[int], looked_at: list[int]) -> list[Sequence[Any]]:
    """The rows' columns, each value one orjson writes as json.dumps does, or a Fragment."""
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for index in documents:
        columns[index] = [
            None if value is None else orjson.Fragment(raw_json_document(value)) for value in columns[index]
        ]
    for index in looked_at:
        if index not in documents and not set(map(type, columns[index])) <= _ORJSON_AS_JSON:
            columns[index] = [
                value if type(value) in _ORJSON_AS_JSON else orjson.Fragment(dump_json(value))
                for value in columns[index]
            ]
    return columns


def iso_duration(delta: datetime.timedelta) -> str:
    """ISO 8601 duration, exact to the microsecond: P1DT2H3M4.5S, -PT1S."""
    sign = "-" if delta < datetime.timedelta(0) else ""
    delta = abs(delta)
    days, seconds, micros = delta.days, delta.seconds, delta.microseconds
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    second_text = f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") if micros else str(seconds)
    time_part = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M")) if amount) + (
        f"{second_text}S" if seconds or micros else ""
    )
    day_part = f"{days}D" if days else ""
    if not day_part and not time_part:
        return "PT0S"
    return f"{sign}P{day_part}" + (f"T{time_part}" if time_part else "")


def sqlite_type_of(value: Any) -> str:
    """SQLite results carry no column types; name them after the storage class of a value."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, bytes):
        return "blob"
    return "text"
