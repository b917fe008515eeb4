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
import uuid
from collections.abc import Callable, Sequence
from typing import Any

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
        return str(value)  # NaN, Infinity, -Infinity already
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
