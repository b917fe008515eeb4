"""How PostgreSQL values are read off the wire for results (docs/architecture.md §3).

psycopg turns each value into a Python object; where no Python object can hold the
value, or holding it would change it, the server's own text is kept instead.
"""

from functools import cache

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types.string import TextLoader

# Intervals: a timedelta would silently turn months into 30 days ("1 year 2 mons").
# JSON documents: parsed, 1e400 would become a float's inf and come out changed; as
# text they are written into the API's JSON as they are (values.json_rows_encoder).
TEXT_TYPES = ("interval", "json", "jsonb")

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
