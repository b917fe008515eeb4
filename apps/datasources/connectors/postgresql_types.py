"""How PostgreSQL values are read off the wire for results (docs/architecture.md §3).

psycopg turns each value into a Python object; where no Python object can hold the
value, or holding it would change it, the server's own text is kept instead.
"""

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from functools import cache

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.string import TextLoader

from apps.datasources.connectors.base import ConnectorError

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
    unknown = {column.type_code for column in columns if column.type_display == str(column.type_code)}
    with _type_names_lock:
        known = _type_names.setdefault(database, {})
        missing = unknown - known.keys()
    if missing:
        try:
            with connect() as connection:
                found = dict(connection.execute(_TYPE_NAMES_SQL, [list(missing)]).fetchall())
        except (ConnectorError, psycopg.Error):
            found = {}  # a name is a nicety: the read must not fail for it
        with _type_names_lock:
            known.update(found)
    return [known.get(column.type_code, column.type_display) for column in columns]
