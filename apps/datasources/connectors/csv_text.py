"""Values as the CSV export spells them: one dialect, whatever the engine or the path
(README, "Values in results").

The dialect is PostgreSQL's CSV, as `COPY … TO STDOUT WITH (FORMAT csv)` and `psql \\copy`
write it. PostgreSQL's own rows are read as that text (postgresql_types.
load_everything_as_text) and its parameterless exports are COPY itself; other engines'
values are spelled the same way here: booleans `t`/`f`, timestamps
`2020-09-10 16:46:03.5+00` (fraction without trailing zeros, the offset as short as
PostgreSQL writes it), bytes `\\x` and hex, non-finite floats `NaN`/`Infinity`. Quoting,
NULL (an empty field) and the empty string (`""`) are the CSV renderer's part
(apps/queries/renderers.py, csv_block).
"""

import datetime
import decimal
import math
import uuid
from typing import Any

from apps.datasources.connectors.values import dump_json, iso_duration

_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def csv_text(value: Any) -> Any:
    """`value` as the dialect writes it: text, or an int/finite float, which the CSV
    writer spells as PostgreSQL does (str, repr); None stays None (NULL)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return value
    if isinstance(value, decimal.Decimal):
        return format(value, "f")  # the engine's text, never an exponent (str() writes 1E-8)
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[str(value)]
    if isinstance(value, datetime.datetime):
        return timestamp_text(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, datetime.time):
        return time_text(value)
    if isinstance(value, datetime.timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, dict)):
        return dump_json(value)
    return str(value)


def timestamp_text(value: datetime.datetime) -> str:
    text = value.replace(tzinfo=None).isoformat(sep=" ")
    return _trimmed(text, value.microsecond) + _offset_text(value.utcoffset())


def time_text(value: datetime.time) -> str:
    return _trimmed(value.replace(tzinfo=None).isoformat(), value.microsecond) + _offset_text(value.utcoffset())


def _trimmed(text: str, microsecond: int) -> str:
    """PostgreSQL writes a fraction of a second without its trailing zeros."""
    return text.rstrip("0") if microsecond else text


def _offset_text(offset: datetime.timedelta | None) -> str:
    """+00, +05:30, -03, +05:30:15: hours always, minutes and seconds when not zero."""
    if offset is None:
        return ""
    sign = "-" if offset < datetime.timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or seconds:
        text += f":{minutes:02d}"
    if seconds:
        text += f":{seconds:02d}"
    return text
