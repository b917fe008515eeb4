"""How PostgreSQL values are read off the wire for results (docs/architecture.md §3).

psycopg turns each value into a Python object; where no Python object can hold the
value, or holding it would change it, the server's own text is kept instead.
"""

import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.string import TextLoader

from apps.datasources.connectors.base import ConnectorError
from apps.datasources.connectors.values import (
    ColumnConversion,
    all_of_layout,
    converted_rows,
    decimal_texts,
    json_values,
    per_value,
    texts_joined,
    with_nulls,
)

# Intervals: a timedelta would silently turn months into 30 days ("1 year 2 mons").
# JSON documents: parsed, 1e400 would become a float's inf and come out changed; as
# text they are written into the API's JSON as they are (values.json_rows_encoder).
# Ranges: psycopg's Range objects print as Python ("(None, 6)"), not as PostgreSQL's
# "(,6)" / "[1,6)", which is what users write and compare with.
RANGE_TYPES = ("int4range", "int8range", "numrange", "daterange", "tsrange", "tstzrange")
TEXT_TYPES = (
    "interval",
    "json",
    "jsonb",
    *RANGE_TYPES,
    *(name.replace("range", "multirange") for name in RANGE_TYPES),
)

# Python's dates hold years 1 to 9999 and times up to 23:59:59.999999; PostgreSQL also
# has infinity, BC years, years beyond 9999 and 24:00:00, which psycopg refuses with a
# DataError that fails the whole read. Those values keep the server's text.
DATETIME_TYPES = ("date", "time", "timetz", "timestamp", "timestamptz")


def configure_loaders(connection: psycopg.Connection) -> None:
    for type_name in TEXT_TYPES:
        connection.adapters.register_loader(type_name, TextLoader)
    for type_name in DATETIME_TYPES:
        oid = connection.adapters.types[type_name].oid
        connection.adapters.register_loader(
            type_name, _text_when_out_of_range(connection.adapters.get_loader(oid, Format.TEXT))
        )


def load_everything_as_text(cursor: psycopg.RawCursor) -> None:
    """Have `cursor` read every value as PostgreSQL's text for it (user-defined types
    already are: psycopg reads types it does not know as text)."""
    for oid in _builtin_oids():
        cursor.adapters.register_loader(oid, TextLoader)


@cache
def _builtin_oids() -> tuple[int, ...]:
    oids = {info.oid for info in psycopg.postgres.types} | {info.array_oid for info in psycopg.postgres.types}
    return tuple(sorted(oid for oid in oids if oid))


@cache
def _text_when_out_of_range(loader: type[Loader]) -> type[Loader]:
    """`loader` (psycopg's C loader, fast), with the server's text where it gives up.

    A wrapper rather than a subclass: psycopg calls a C loader's C entry point directly,
    so a Python subclass's `load` would never run."""

    class TextWhenOutOfRange(Loader):
        def __init__(self, oid: int, context: AdaptContext | None = None):
            super().__init__(oid, context)
            self._load = loader(oid, context).load

        def load(self, data: Buffer) -> object:
            try:
                return self._load(data)
            except psycopg.DataError:
                return bytes(data).decode()

    TextWhenOutOfRange.__name__ = f"{loader.__name__}OrText"
    return TextWhenOutOfRange


# Type names of user-defined types (enums, composites, domains over them, their arrays),
# which psycopg only knows by OID, per database. An OID names one type for the type's
# life, so a name once read is kept for the process's life.
_TYPE_NAMES_SQL = "SELECT oid::int8, format_type(oid, NULL) FROM pg_catalog.pg_type WHERE oid = ANY(%s)"
_type_names: dict[tuple, dict[int, str]] = {}
_type_names_lock = threading.Lock()


def column_type_names(
    description: Iterable[psycopg.Column],
    database: tuple,
    connect: Callable[[], AbstractContextManager[psycopg.Connection]],
) -> list[str]:
    """The type of each column by its PostgreSQL name (`mpaa_rating`, `mpaa_rating[]`).

    Names psycopg does not know are read from pg_type on a connection of their own (the
    read's own connection is busy streaming its rows), once per database and process;
    if that fails, the OID is all there is to show, and the read goes on."""
    columns = list(description)
    unknown = {column.type_code for column in columns if _unknown_to_psycopg(column)}
    with _type_names_lock:
        known = _type_names.setdefault(database, {})
        missing = unknown - known.keys()
    if missing:
        try:
            with connect() as connection:
                found: dict[int, str] = dict(connection.execute(_TYPE_NAMES_SQL, [list(missing)]).fetchall())
        except (ConnectorError, psycopg.Error):
            found = {}  # a name is a nicety: the read must not fail for it
        with _type_names_lock:
            known.update(found)
    # `or`, not get()'s default: that would format every column's display name, needed or not.
    return [known.get(column.type_code) or column.type_display for column in columns]


def _unknown_to_psycopg(column: psycopg.Column) -> bool:
    # What `type_display` says with the OID's digits, found without formatting a name
    # (the registry knows arrays by their own OID too).
    return psycopg.postgres.types.get(column.type_code) is None


def text_array_columns(description: Iterable[psycopg.Column], type_names: list[str]) -> list[int]:
    """Columns holding arrays psycopg does not know (of enums, composites…): it hands
    them over as the server's text, `{happy,sad}`, which `array_from_text` reads."""
    return [
        index
        for index, (column, type_name) in enumerate(zip(description, type_names, strict=True))
        if type_name.endswith("[]") and _unknown_to_psycopg(column)
    ]


def array_from_text(text: str) -> list | str:
    """PostgreSQL's array output (`{a,"b c",NULL,{d}}`) as nested lists of the elements'
    text; anything else is returned as it came."""
    if text.startswith("["):  # explicit bounds, `[0:1]={a,b}`: the elements are the same
        text = text[text.find("=") + 1 :]
    if not text.startswith("{"):
        return text
    try:
        items, _ = _array_items(text, 0)
    except IndexError:
        return text
    return items


def _array_items(text: str, position: int) -> tuple[list, int]:
    """The elements of the array whose `{` is at `position`, and where it ends."""
    items: list = []
    position += 1
    if text[position] == "}":
        return items, position + 1
    while True:
        item: Any
        if text[position] == "{":
            item, position = _array_items(text, position)
        elif text[position] == '"':
            characters = []
            position += 1
            while text[position] != '"':
                if text[position] == "\\":
                    position += 1
                characters.append(text[position])
                position += 1
            item, position = "".join(characters), position + 1
        else:
            end = position
            while text[end] not in ",}":
                end += 1
            bare = text[position:end]
            item, position = (None if bare == "NULL" else bare), end
        items.append(item)
        if text[position] == "}":
            return items, position + 1
        position += 1  # the comma


# How each column's values become JSON values, by type: most types need nothing (text,
# booleans, integers that always fit a JSON number), a few one known step; the others
# the general mapping (values.to_json_value). A column of a chunk of rows at a time, and
# per type rather than per value: a 1M-row export converts 5M values, and a Python call
# per value (the general mapping's type tests above all) was most of its time.
_AS_IS_TYPES = frozenset({"int2", "int4", "oid", "text", "varchar", "bpchar", "name", "char", "bool"})
_ISO_TYPES = frozenset({"date", "time", "timetz"})
# Timestamps and numerics are read as PostgreSQL's text: timestamps are rewritten as ISO
# 8601 by string operations (building a datetime to print it again cost more than the
# rest of a row together), numerics are their text (values.decimal_texts).
_TIMESTAMP_TYPES = ("timestamp", "timestamptz")
_TEXT_FOR_JSON_TYPES = (*_TIMESTAMP_TYPES, "numeric")


def load_texts_for_json(cursor: psycopg.RawCursor) -> None:
    """Have `cursor` read timestamps and numerics as PostgreSQL's text (see `json_column_converters`)."""
    for type_name in _TEXT_FOR_JSON_TYPES:
        cursor.adapters.register_loader(type_name, TextLoader)


def json_column_converters(description: Iterable[psycopg.Column]) -> list[tuple[int, ColumnConversion]]:
    """(column index, conversion of a column's values) for every column whose values need
    one to be JSON values (the same ones `values.to_json_value` gives), read with
    `load_texts_for_json`."""
    converters: list[tuple[int, ColumnConversion]] = []
    for index, column in enumerate(description):
        info = psycopg.postgres.types.get(column.type_code)
        # The registry finds a type by its array's OID too: arrays take the general mapping.
        name = info.name if info is not None and info.oid == column.type_code else ""
        if name in _AS_IS_TYPES:
            continue
        if column.type_code in _TEXT_ELEMENT_ARRAYS:
            converters.append((index, per_value(_TEXT_ELEMENT_ARRAYS[column.type_code])))
            continue
        if name == "numeric":
            converters.append((index, decimal_texts))
        elif name in _ISO_TYPES:
            converters.append((index, per_value(_iso_8601)))
        elif name in _TIMESTAMP_TYPES:
            converters.append((index, iso_8601_of_timestamp_texts))
        else:
            converters.append((index, json_values))
    return converters


def json_rows_of_chunk(
    chunk: list[tuple], converters: list[tuple[int, ColumnConversion]], text_arrays: list[int]
) -> list[list]:
    """A chunk of rows as read, as rows of JSON values, converted a column at a time."""
    if text_arrays:
        arrays: list[tuple[int, ColumnConversion]] = [(index, per_value(array_from_text)) for index in text_arrays]
        converters = [(index, convert) for index, convert in converters if index not in text_arrays] + arrays
    return converted_rows(chunk, converters)


def _iso_8601(value: Any) -> Any:
    """A date or time as ISO 8601; one Python cannot hold came as the server's text and stays so."""
    return value if isinstance(value, str) else value.isoformat()


def iso_8601_of_timestamp_text(text: str) -> str:
    """PostgreSQL's text of a timestamp (DateStyle ISO: `2020-09-10 16:46:03.5+05:30`) as
    Python's isoformat() writes the same value: `2020-09-10T16:46:03.500000+05:30`. What no
    datetime can hold (`infinity`, BC, years beyond 9999) stays PostgreSQL's text."""
    if len(text) < 19 or text[4] != "-" or text[10] != " " or text.endswith(" BC"):
        return text
    offset_at = max(text.rfind("+", 19), text.rfind("-", 19))
    moment, offset = (text[:offset_at], text[offset_at:]) if offset_at != -1 else (text, "")
    if len(moment) > 19:  # a fraction of a second: isoformat writes six digits
        moment = moment[:20] + moment[20:].ljust(6, "0")
    if offset:
        parts = offset[1:].split(":")
        offset = f"{offset[0]}{parts[0]}:{parts[1] if len(parts) > 1 else '00'}" + (
            f":{parts[2]}" if len(parts) > 2 else ""
        )
    return f"{moment[:10]}T{moment[11:]}{offset}"


def _elements(convert: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A conversion of an array (nested lists) whose elements were read as text, element by element."""

    def convert_array(value: Any) -> Any:
        if isinstance(value, list):
            return [convert_array(item) for item in value]
        return None if value is None else convert(value)

    return convert_array


# Arrays of the types `load_texts_for_json` reads as text: psycopg reads their elements with
# the same loader, so they arrive as lists of PostgreSQL's text and are mapped element by
# element as the scalar column would be (a timestamp's ISO 8601; a numeric's text is its
# JSON value already).
_TEXT_ELEMENT_ARRAYS: dict[int, Callable[[Any], Any]] = {
    psycopg.postgres.types[name].array_oid: _elements(iso_8601_of_timestamp_text) for name in _TIMESTAMP_TYPES
}


# Timestamps PostgreSQL writes (DateStyle ISO) in a few fixed layouts, by length: whole
# seconds or six digits of a fraction, without an offset or with one of whole hours
# (`+00`, which isoformat writes `+00:00`) or of minutes. Where every text of a column
# is of one of these layouts, `iso_8601_of_timestamp_text` comes down to replacing the
# space by a `T` (and adding `:00` to an offset of hours): string operations on the whole
# column, in C. Any other column goes value by value. A layout: for each character, the
# ones allowed there (`0` a digit).
_WHOLE_LAYOUTS = {
    len(layout): layout
    for layout in (
        "0000-00-00 00:00:00",
        "0000-00-00 00:00:00±00",
        "0000-00-00 00:00:00±00:00",
        "0000-00-00 00:00:00.000000",
        "0000-00-00 00:00:00.000000±00",
        "0000-00-00 00:00:00.000000±00:00",
    )
}


def iso_8601_of_timestamp_texts(column: Sequence[Any]) -> Sequence[Any]:
    """`iso_8601_of_timestamp_text` of every text of a column (NULL stays NULL)."""
    texts, joined = texts_joined(column)
    layout = _WHOLE_LAYOUTS.get(len(texts[0])) if texts else None
    if layout is None or not all_of_layout(joined, len(texts), layout):
        return [None if text is None else iso_8601_of_timestamp_text(text) for text in column]
    joined = joined.replace(" ", "T")
    if layout.endswith("±00"):
        joined = joined.replace("\n", ":00\n") + ":00"
    return with_nulls(column, joined.split("\n"))
