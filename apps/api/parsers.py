"""The API's one JSON parser: it refuses, as a 400, what json.loads accepts but nothing
behind the API can hold.

- NUL (U+0000): PostgreSQL's text and jsonb refuse it, and drivers cut C strings there.
- Unpaired surrogates ("\\ud800"): valid JSON escapes, but no UTF-8 encoding exists for
  them, so they fail wherever the text is encoded (database, cache, logs).
- Deep nesting: json.loads gives up with RecursionError somewhere past 1,000 levels, and
  everything that later walks the value (serialising it for a JSONField, redacting an
  audit detail) recurses too. Nothing in this API nests more than a few levels.

Checking here, once, covers every field of every endpoint, present and future.
"""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


class UnstorableInput(ParseError):
    default_detail = "The request holds text that cannot be stored."
    default_code = "invalid_characters"

    def __init__(self, problem: str, field: str | None = None):
        super().__init__(problem)
        # Keyed by the top-level field, like a field's validation error.
        self.details = {field: [problem]} if field is not None else None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return "NUL characters (\\u0000) are not accepted."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Unpaired UTF-16 surrogates (such as \\ud800) are not accepted."
    return None


def check_json_value(data: Any) -> None:
    """Raise UnstorableInput or ParseError for a parsed JSON value we could not store."""
    pending: list[tuple[Any, int, str | None]] = [(data, 0, None)]
    while pending:
        value, depth, field = pending.pop()
        if isinstance(value, str):
            _check_text(value, field)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, field)
                pending.append((item, depth + 1, key if depth == 0 else field))
        else:
            pending.extend((item, depth + 1, field) for item in value)


def _check_text(text: str, field: str | None) -> None:
    problem = text_problem(text)
    if problem is not None:
        raise UnstorableInput(problem, field)


class StorableJSONParser(JSONParser):
    """DRF's JSON parser, plus the checks above."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted.") from error
        check_json_value(data)
        return data
