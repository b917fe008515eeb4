"""Binding API parameters to SQL placeholders, in the driver's own style.

The API takes `$1, $2 …` with a list, or `:name` with an object. Values are never put
into the SQL text: placeholders are rewritten to what the driver expects ($n, %s, ?)
and the values travel separately. Placeholders inside strings, quoted identifiers and
comments are left alone (the scanner knows where code is).

On PostgreSQL a value may itself be a list of scalars of one kind: it binds as an array
(`WHERE id = ANY($1)`), one value however long the list. The other engines have no
array to bind it to, and splicing a list into the text as `IN (…)` would make the SQL
run differ from the SQL classified, so it is refused there.
"""

import decimal
from dataclasses import dataclass
from typing import Any

from apps.sqlcore.errors import ParameterError
from apps.sqlcore.sqltext import Placeholder, find_placeholders
from apps.sqlcore.statements import BoundStatement, ParamStyle

Params = list[Any] | dict[str, Any] | None
# PostgreSQL and MySQL both stop at 65,535 bound values per statement; a higher $n can
# only be a mistake or an attempt to make us count to it.
MAX_PLACEHOLDER_NUMBER = 65_535
_SCALARS = (str, int, float, bool, type(None))
ARRAY_DIALECTS = frozenset({"postgresql"})


@dataclass(frozen=True)
class _Occurrence:
    placeholder: Placeholder
    value: Any


def bind(sql: str, params: Params, *, dialect: str, style: ParamStyle) -> BoundStatement:
    """Check `params` against the placeholders of `sql` and rewrite it for the driver."""
    placeholders = find_placeholders(sql, dialect)
    params = _checked_values(params, dialect)
    if not placeholders:
        if params:
            raise ParameterError("Parameters were given, but the SQL has no $n or :name placeholder.")
        return BoundStatement(sql=sql, args=None)
    occurrences = _match(placeholders, params)
    return _rewrite(sql, occurrences, style)


def _checked_values(params: Params, dialect: str) -> Params:
    """`params` as the driver takes them, or ParameterError saying what does not fit."""
    if params is None:
        return None
    if not isinstance(params, (list, dict)):
        raise ParameterError("params must be a list (for $1, $2 …) or an object (for :name).")
    values = params.values() if isinstance(params, dict) else params
    bad = [
        repr(value)[:40]
        for value in values
        if not isinstance(value, _SCALARS) and not (isinstance(value, list) and dialect in ARRAY_DIALECTS)
    ]
    if bad:
        arrays = " or (on PostgreSQL, as arrays) lists of them" if dialect in ARRAY_DIALECTS else ""
        raise ParameterError(
            f"Parameter values must be strings, numbers, booleans or null{arrays}.", details={"invalid_values": bad}
        )
    if isinstance(params, dict):
        return {name: _array(value) if isinstance(value, list) else value for name, value in params.items()}
    return [_array(value) if isinstance(value, list) else value for value in params]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else "other"


def _array(items: list[Any]) -> list[Any]:
    """A list bound as one PostgreSQL array: flat, its elements of one kind. Integers
    mixed with fractions become decimals (numeric[]), which hold both exactly: the
    driver refuses an int and float mix, and floats would round big integers."""
    kinds = {_kind(item) for item in items if item is not None}
    if "other" in kinds or len(kinds) > 1:
        raise ParameterError(
            "A list binds as an array: its values must be all strings, all numbers or all booleans (null allowed).",
            details={"invalid_values": [repr(items)[:40]]},
        )
    numbers = {type(item) for item in items if item is not None}
    if kinds == {"number"} and len(numbers) > 1:
        return [None if item is None else decimal.Decimal(repr(item)) for item in items]
    return items


def _match(placeholders: list[Placeholder], params: Params) -> list[_Occurrence]:
    styles = {placeholder.style for placeholder in placeholders}
    if len(styles) > 1:
        raise ParameterError("Use either $n or :name placeholders in one statement, not both.")
    if styles == {"positional"}:
        return _match_positional(placeholders, params)
    return _match_named(placeholders, params)


def _match_positional(placeholders: list[Placeholder], params: Params) -> list[_Occurrence]:
    if not isinstance(params, list):
        raise ParameterError("The SQL uses $n placeholders: params must be a list.")
    used = {int(placeholder.key) for placeholder in placeholders}
    if 0 in used:
        raise ParameterError("Placeholders are numbered from $1; $0 is not one.")
    expected = max(used)
    if expected > MAX_PLACEHOLDER_NUMBER:
        raise ParameterError(f"Placeholder numbers go up to ${MAX_PLACEHOLDER_NUMBER}; this SQL uses a higher one.")
    if len(used) != expected:
        first_gap = next(number for number in range(1, expected + 1) if number not in used)
        raise ParameterError(f"Placeholders must be numbered from $1 without gaps; ${first_gap} is missing.")
    if len(params) != expected:
        raise ParameterError(
            f"The SQL uses {expected} parameter(s) ($1…${expected}) but {len(params)} value(s) were given."
        )
    return [_Occurrence(placeholder, params[int(placeholder.key) - 1]) for placeholder in placeholders]


def _match_named(placeholders: list[Placeholder], params: Params) -> list[_Occurrence]:
    if not isinstance(params, dict):
        raise ParameterError("The SQL uses :name placeholders: params must be an object.")
    used = {str(placeholder.key) for placeholder in placeholders}
    missing, extra = sorted(used - params.keys()), sorted(params.keys() - used)
    if missing or extra:
        raise ParameterError(
            "The parameters do not match the placeholders.", details={"missing": missing, "unexpected": extra}
        )
    return [_Occurrence(placeholder, params[str(placeholder.key)]) for placeholder in placeholders]


def _rewrite(sql: str, occurrences: list[_Occurrence], style: ParamStyle) -> BoundStatement:
    parts: list[str] = []
    args: list[Any] = []
    numbers: dict[object, int] = {}  # DOLLAR_NUMERIC: each distinct key gets one $n
    position = 0
    for occurrence in occurrences:
        placeholder = occurrence.placeholder
        parts.append(_literal_text(sql[position : placeholder.start], style))
        if style is ParamStyle.DOLLAR_NUMERIC:
            if placeholder.key not in numbers:
                numbers[placeholder.key] = len(numbers) + 1
                args.append(occurrence.value)
            parts.append(f"${numbers[placeholder.key]}")
        else:
            parts.append("%s" if style is ParamStyle.FORMAT else "?")
            args.append(occurrence.value)
        position = placeholder.end
    parts.append(_literal_text(sql[position:], style))
    return BoundStatement(sql="".join(parts), args=tuple(args))


def _literal_text(text: str, style: ParamStyle) -> str:
    # With arguments, format-style drivers read every % as a directive.
    return text.replace("%", "%%") if style is ParamStyle.FORMAT else text
