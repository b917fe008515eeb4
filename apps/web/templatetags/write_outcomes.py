"""Showing what a write did: the rows each statement affected, in words."""

from django import template

register = template.Library()


@register.filter
def affected_rows(count: object) -> str:
    """`3 rows`, `1 row`; the engine's -1 (it counts no rows for that statement, as for
    DDL) and an unknown count (a write settled after its worker died) in plain words,
    never "-1 row(s)"."""
    if count is None:
        return "rows affected unknown"
    if not isinstance(count, int) or count < 0:
        return "done (the database counts no rows for this statement)"
    return f"{count:,} row{'' if count == 1 else 's'}"
