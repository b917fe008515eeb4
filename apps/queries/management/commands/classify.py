"""`manage.py classify --dialect postgresql|mysql|sqlite`: the classifier as a filter.

Reads JSON lines `{"sql": "..."}` on stdin and writes one JSON line per input line:
`{"verdict", "risk", "statements": [{"text", "visible_text", "kind", "verdict", "risk",
"reasons"}]}`, or `{"error": "..."}` for a line that is not such an object. This is how
the classifier is audited from outside, so the shape is a stable interface: add keys,
never rename them.

`--datasource NAME` classifies as a read on that registered source would be: the
dialect is the source's, and on PostgreSQL the source's own catalog is asked about the
functions the SQL calls (a function left VOLATILE makes a read a write).
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasources.models import DataSource
from apps.queries.plan import classify_for_source
from apps.sqlcore.classification import classify_sql
from apps.sqlcore.dialect import Dialect
from querybase.errors import QueryBaseError


class Command(BaseCommand):
    stealth_options = ("stdin",)  # call_command(..., stdin=io.StringIO(...)) in tests
    help = "Classify SQL read as JSON lines {'sql': ...} on stdin; write one JSON verdict per line."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--dialect", choices=[dialect.value for dialect in Dialect])
        target.add_argument("--datasource", metavar="NAME", help="a registered data source, by name")

    def handle(self, *args, dialect: str | None, datasource: str | None, **options) -> None:
        source = None
        if datasource is not None:
            source = DataSource.objects.filter(name=datasource).first()
            if source is None:
                raise CommandError(f"No data source named {datasource!r}.")
        stdin = options.get("stdin") or sys.stdin
        for line in stdin:
            if not line.strip():
                continue
            self.stdout.write(json.dumps(classify_line(line, dialect, source), ensure_ascii=False))
            self.stdout.flush()


def classify_line(line: str, dialect: str | None, source: DataSource | None = None) -> dict:
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as error:
        return {"error": f"not JSON: {error}"}
    if not isinstance(payload, dict) or not isinstance(payload.get("sql"), str):
        return {"error": 'each line must be an object with a string "sql"'}
    if source is None:
        assert dialect is not None  # the command takes one of --dialect and --datasource
        return classify_sql(payload["sql"], dialect).as_dict()
    try:
        return classify_for_source(source, payload["sql"]).as_dict()
    except QueryBaseError as error:
        return {"error": error.message}
