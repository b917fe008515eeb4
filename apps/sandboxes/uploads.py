"""Use case: a CSV file into the owner's sandbox as a new table. The preview reads the
file and says which columns and types it would make, and which lines it would leave out;
the import makes the table and loads the rows with the engine's bulk path (COPY on
PostgreSQL, batched multi-row INSERT on MySQL/MariaDB, executemany on SQLite; see the
copy engines' `load_table`). MySQL's LOAD DATA LOCAL is not used: it lets the server ask
the client for any file it names.

Types are inferred from every value of a column (empty fields are NULL): integer,
decimal, boolean, date, timestamp (without a UTC offset), else text. Lines whose number
of fields differs from the header's are left out and reported with their line number.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User

from apps.audit.services import record_event
from apps.sandboxes.engines import CopyFailed, copies_for
from apps.sandboxes.engines.base import UploadColumn
from apps.sandboxes.exceptions import UploadRefused, UploadTooLarge
from apps.sandboxes.indexes import INDEX_NAME, copy_catalog
from apps.sandboxes.lifecycle import owned_sandbox, sandbox_source, touch
from apps.sandboxes.models import Sandbox
from querybase.errors import InvalidInput
from querybase.types import ClientRequest

PREVIEW_ROWS = 20
REPORTED_ERRORS = 100
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
_BOOLEANS = {"true": True, "false": False}
# The order types give way in: a column is the first type every one of its values fits.
_TYPES = ("integer", "decimal", "boolean", "date", "timestamp", "text")


@dataclass
class ParsedCsv:
    """What the first pass over a CSV found. The rows are not kept: `rows()` reads the text
    again and converts them one at a time, so loading a large file streams."""

    text: str
    dialect: Any
    columns: list[UploadColumn]
    row_count: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[list[Any]]:
        reader = csv.reader(io.StringIO(self.text, newline=""), dialect=self.dialect)
        next(reader)  # the header
        kinds = [column.type for column in self.columns]
        for _, fields in _lines(reader, []):
            if len(fields) == len(kinds):
                yield [_converted(value, kind) for value, kind in zip(fields, kinds, strict=True)]

    def preview(self) -> dict[str, Any]:
        return {
            "columns": [{"name": column.name, "type": column.type} for column in self.columns],
            "rows": [[_shown(value) for value in row] for row in islice(self.rows(), PREVIEW_ROWS)],
            "row_count": self.row_count,
            "errors": self.errors[:REPORTED_ERRORS],
            "error_count": len(self.errors),
            "renamed": self.renamed,
        }


def preview_upload(user: User, sandbox_id: int, file: IO[bytes], size: int) -> dict[str, Any]:
    """What importing `file` would make: columns with their types, the first rows, errors per line."""
    sandbox = _owned(user, sandbox_id)
    return parse_csv(_text(file, size)).preview() | {"sandbox": sandbox.pk}


def import_upload(
    user: User, sandbox_id: int, file: IO[bytes], size: int, *, table: str, request: ClientRequest | None = None
) -> dict[str, Any]:
    """Create `table` in the caller's sandbox from `file` and load its rows."""
    sandbox = _owned(user, sandbox_id)
    if not INDEX_NAME.match(table):
        raise InvalidInput(
            "A table name is letters, digits and underscores, at most 63, not starting with a digit.",
            details={"table": ["Not a plain name."]},
        )
    if any(existing.name.lower() == table.lower() for existing in copy_catalog(sandbox)):
        raise InvalidInput("The sandbox has a table of this name already.", details={"table": ["Already used."]})
    parsed = parse_csv(_text(file, size))
    copies = copies_for(sandbox.datasource)
    try:
        copies.load_table(sandbox.database_name, table, parsed.columns, parsed.rows())
    except CopyFailed as error:
        raise UploadRefused(f"The rows could not be loaded: {error.message}") from error
    touch(sandbox)
    summary = parsed.preview() | {"sandbox": sandbox.pk, "table": table, "rows_loaded": parsed.row_count}
    record_event(
        "sandbox.upload",
        actor=user,
        target=sandbox,
        request=request,
        detail={
            "table": table,
            "rows": parsed.row_count,
            "columns": summary["columns"],
            "lines_left_out": len(parsed.errors),
        },
    )
    return summary


def _owned(user: User, sandbox_id: int) -> Sandbox:
    sandbox = owned_sandbox(user, sandbox_id)
    sandbox_source(user, sandbox.datasource_id)
    if "ddl" not in sandbox.datasource.sandbox_write_kinds:
        raise UploadRefused("This source's sandboxes do not run DDL, so no table can be made in them.")
    return sandbox


def _text(file: IO[bytes], size: int) -> str:
    limit = settings.QUERYBASE_SANDBOX_UPLOAD_MAX_BYTES
    if size > limit:
        raise UploadTooLarge(f"The file is larger than {limit} bytes.", details={"max_bytes": limit})
    data = file.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"The file is larger than {limit} bytes.", details={"max_bytes": limit})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UploadRefused(f"The file is not UTF-8 text (byte {error.start} is not).") from error


def parse_csv(text: str) -> ParsedCsv:
    """Header, typed rows and per-line errors of a CSV text."""
    if "\x00" in text:
        raise UploadRefused("The file holds NUL characters: it is not a CSV text.")
    dialect = _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise UploadRefused("The file is empty.") from None
    except csv.Error as error:
        raise UploadRefused(f"The header line cannot be read: {error}") from error
    names, renamed = _column_names(header)
    # One pass keeps, per column, the types all its values so far still fit.
    candidates = [list(_TYPES[:-1]) for _ in names]
    has_value = [False] * len(names)
    errors: list[dict[str, Any]] = []
    row_count = 0
    max_rows = settings.QUERYBASE_SANDBOX_UPLOAD_MAX_ROWS
    for line, fields in _lines(reader, errors):
        if len(fields) != len(names):
            errors.append({"line": line, "message": f"{len(fields)} fields where the header has {len(names)}"})
            continue
        row_count += 1
        if row_count > max_rows:
            raise UploadTooLarge(f"The file has more than {max_rows} rows.", details={"max_rows": max_rows})
        for index, value in enumerate(fields):
            value = value.strip()
            if value:
                has_value[index] = True
                if candidates[index]:
                    candidates[index] = [kind for kind in candidates[index] if _fits(value, kind)]
    # The first type every value fit; text when none did, or the column has no value at all.
    columns = [
        UploadColumn(name, kinds[0] if kinds and present else "text")
        for name, kinds, present in zip(names, candidates, has_value, strict=True)
    ]
    return ParsedCsv(text, dialect, columns, row_count, errors, renamed)


def _lines(reader, errors: list[dict[str, Any]]) -> Iterator[tuple[int, list[str]]]:
    """(line number of the record's start, fields); unreadable records become errors."""
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            errors.append({"line": line, "message": str(error)})
            return  # the reader cannot go on past a broken quote
        if fields:
            yield line, fields


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _column_names(header: list[str]) -> tuple[list[str], list[str]]:
    """Names as written, trimmed; blank or repeated ones get a made-up name (reported)."""
    names: list[str] = []
    renamed: list[str] = []
    for position, raw in enumerate(header, start=1):
        name = raw.strip()[:63] or f"column_{position}"
        base, number = name, 1
        while name.lower() in {existing.lower() for existing in names}:
            number += 1
            name = f"{base[:58]}_{number}"
        if name != raw:
            renamed.append(f"column {position}: {raw!r} → {name!r}")
        names.append(name)
    if not names:
        raise UploadRefused("The header line names no column.")
    return names, renamed


def _fits(value: str, kind: str) -> bool:
    if kind == "integer":
        return bool(_INTEGER.match(value))
    if kind == "decimal":
        if not _DECIMAL.match(value):
            return False
        digits = value.lstrip("+-").replace(".", "")
        return len(digits) <= 38
    if kind == "boolean":
        return value.lower() in _BOOLEANS
    if kind == "date":
        return bool(_DATE.match(value)) and _parses(date.fromisoformat, value)
    if kind == "timestamp":
        return bool(_TIMESTAMP.match(value)) and _parses(datetime.fromisoformat, value)
    return True


def _parses(parse, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def _converted(value: str, kind: str) -> Any:
    stripped = value.strip()
    if stripped == "":
        return None
    try:
        if kind == "integer":
            return int(stripped)
        if kind == "decimal":
            return Decimal(stripped)
        if kind == "boolean":
            return _BOOLEANS[stripped.lower()]
        if kind == "date":
            return date.fromisoformat(stripped)
        if kind == "timestamp":
            return datetime.fromisoformat(stripped)
    except (ValueError, InvalidOperation, KeyError):  # pragma: no cover - the type was inferred from these values
        return value
    return value


def _shown(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
