"""A statement ready for a driver: its text in the driver's placeholder style, and the values."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ParamStyle(StrEnum):
    """How a driver wants bound parameters written into the statement text."""

    DOLLAR_NUMERIC = "dollar_numeric"  # $1, $2 (a value may be referenced twice)
    FORMAT = "format"  # %s per occurrence; a literal % must be doubled
    QMARK = "qmark"  # ? per occurrence


@dataclass(frozen=True)
class BoundStatement:
    """One statement in the driver's placeholder style, with its values in order."""

    sql: str
    args: tuple[Any, ...] | None = None
