"""Use case: analyze SQL without running it, for editors and scripts: the placeholders it
needs and how QueryBase classifies it on a source (what will run at once, what needs an
approval). Nothing is executed and nothing is recorded."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from apps.queries.exceptions import TooLongToAnalyze
from apps.queries.plan import classify_for_source, source_to_query
from apps.sqlcore.classification import Classification
from apps.sqlcore.sqltext import find_placeholders


@dataclass(frozen=True)
class Analysis:
    dialect: str
    #: One entry per distinct placeholder: $n in number order, then :name in order of appearance.
    placeholders: list[dict[str, Any]]
    classification: Classification


def analyze_sql(user: User, *, datasource_id: int, sql: str) -> Analysis:
    """Placeholders and classification of `sql` on a source the user may query.

    The classification is the one a submission gets (the source's catalog included).
    SQL longer than QUERYBASE_INLINE_CLASSIFY_CHARS is refused: analysing it would hold
    this process longer than the inline budget allows (a submission of it is classified
    by a worker instead)."""
    datasource, _, _ = source_to_query(user, datasource_id)
    if len(sql) > settings.QUERYBASE_INLINE_CLASSIFY_CHARS:
        raise TooLongToAnalyze(
            f"SQL longer than {settings.QUERYBASE_INLINE_CLASSIFY_CHARS:,} characters is not analysed; "
            "submit it, and a worker classifies it."
        )
    return Analysis(
        dialect=datasource.engine,
        placeholders=_distinct_placeholders(sql, datasource.engine),
        classification=classify_for_source(datasource, sql),
    )


def _distinct_placeholders(sql: str, dialect: str) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for placeholder in find_placeholders(sql, dialect):
        key = f"${placeholder.key}" if placeholder.style == "positional" else f":{placeholder.key}"
        entry = found.setdefault(key, {"key": key, "style": placeholder.style, "occurrences": []})
        entry["occurrences"].append([placeholder.start, placeholder.end])
    positional = sorted((e for e in found.values() if e["style"] == "positional"), key=lambda e: int(e["key"][1:]))
    named = [e for e in found.values() if e["style"] == "named"]
    return positional + named
