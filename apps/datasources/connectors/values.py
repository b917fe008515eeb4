"""Driver values to JSON values, keeping their meaning (docs/architecture.md §3).

Decimals and integers beyond 2**53 become strings (JSON numbers would round them),
timestamps ISO 8601 with their offset, dates/times/intervals/UUIDs strings, bytes
base64, JSON as JSON, arrays as arrays, NULL as null.
"""

import base64
import datetime
import decimal
import math
import uuid
from typing import Any

MAX_SAFE_INTEGER = 2**53


def to_json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
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
