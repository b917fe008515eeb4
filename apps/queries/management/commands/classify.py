"""`manage.py classify --dialect postgresql|mysql|sqlite`: the classifier as a filter.

Reads JSON lines `{"sql": "..."}` on stdin and writes one JSON line per input line:
`{"verdict", "risk", "statements": [{"text", "kind", "verdict", "risk", "reasons"}]}`,
or `{"error": "..."}` for a line that is not such an object. This is how the classifier is
audited from outside, so the shape is a stable interface: add keys, never rename them.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandParser

from apps.queries.classification import Dialect, classify_sql


class Command(BaseCommand):
    stealth_options = ("stdin",)  # call_command(..., stdin=io.StringIO(...)) in tests
    help = "Classify SQL read as JSON lines {'sql': ...} on stdin; write one JSON verdict per line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dialect", required=True, choices=[dialect.value for dialect in Dialect])

    def handle(self, *args, dialect: str, **options) -> None:
        stdin = options.get("stdin") or sys.stdin
        for line in stdin:
            if not line.strip():
                continue
            self.stdout.write(json.dumps(classify_line(line, dialect), ensure_ascii=False))
            self.stdout.flush()


def classify_line(line: str, dialect: str) -> dict:
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as error:
        return {"error": f"not JSON: {error}"}
    if not isinstance(payload, dict) or not isinstance(payload.get("sql"), str):
        return {"error": 'each line must be an object with a string "sql"'}
    return classify_sql(payload["sql"], dialect).as_dict()
