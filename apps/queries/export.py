"""CSV and JSON renderings of a row stream, produced chunk by chunk."""

import csv
import io
import json
from collections.abc import Iterator

from apps.datasources.connectors.base import RowStream

ROWS_PER_CHUNK = 2000


def csv_chunks(stream: RowStream) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in stream.columns])
    for count, row in enumerate(stream.rows, start=1):
        writer.writerow([_csv_cell(value) for value in row])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _csv_cell(value) -> object:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return value


def json_chunks(stream: RowStream) -> Iterator[bytes]:
    """`{"columns": [...], "rows": [[...], ...], "row_count": n}`, written as it is read."""
    columns = json.dumps([{"name": column.name, "type": column.type} for column in stream.columns])
    yield f'{{"columns":{columns},"rows":['.encode()
    count = 0
    parts: list[str] = []
    for row in stream.rows:
        parts.append(("," if count else "") + json.dumps(row, separators=(",", ":")))
        count += 1
        if count % ROWS_PER_CHUNK == 0:
            yield "".join(parts).encode()
            parts.clear()
    yield ("".join(parts) + f'],"row_count":{count}}}').encode()


RENDERERS = {"csv": ("text/csv; charset=utf-8", csv_chunks), "json": ("application/json", json_chunks)}
