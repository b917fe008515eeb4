"""CSV and JSON renderings of a row stream, produced chunk by chunk.

An export stops at the source's row cap, and says so where a user's tooling will look:
a CSV cut at the cap ends with the line `#querybase:truncated row_cap=N` (after the last
row; `#` makes it a comment for pandas' `comment="#"` and R's `comment.char`), and a
JSON export ends with `"truncated": true/false` and `"row_cap": N`.

An export whose read fails after part of it was sent cannot change its status any more:
the HTTP response is left without its last chunk (clients raise), and the body says so
too, for whoever only keeps the file: a CSV ends with `#querybase:error code=… message`,
a JSON export stays unterminated, which no JSON parser accepts.
"""

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from apps.datasources.connectors.base import ResultColumn
from apps.datasources.connectors.values import json_rows_bytes_encoder

ROWS_PER_CHUNK = 2000
CSV_BLOCK_BYTES = 64 * 1024
CSV_TRUNCATED_MARKER = "#querybase:truncated"
CSV_ERROR_MARKER = "#querybase:error"
_END = object()


class CappedRows:
    """The first `row_cap` rows of `rows`; `truncated` once it has seen one more.

    The source is asked for one row beyond the cap (or read one row further), so a result
    of exactly `row_cap` rows is not reported as cut."""

    def __init__(self, rows: Iterable[Any], row_cap: int):
        self._rows = rows
        self.row_cap = row_cap
        self.truncated = False

    def __iter__(self) -> Iterator[Any]:
        rows = iter(self._rows)
        yield from islice(rows, self.row_cap)  # islice, not a count per row: 1M-row exports
        self.truncated = next(rows, _END) is not _END


def csv_truncation_line(rows: CappedRows) -> bytes:
    return f"{CSV_TRUNCATED_MARKER} row_cap={rows.row_cap}\n".encode() if rows.truncated else b""


def csv_chunks(columns: list[ResultColumn], rows: CappedRows) -> Iterator[bytes]:
    """The CSV dialect (README, "Values in results"; PostgreSQL's CSV, as COPY writes it) of
    rows read as text (`read_stream(text=True)`): a header line, then RFC 4180 quoting,
    lines ending in LF, NULL an empty field and the empty string `""`.

    Python's csv writer spells both NULL and '' as nothing, so an empty string goes in as a
    token no value contains (a fresh UUID) and comes out as `""`; and it leaves a carriage
    return unquoted, so a block that holds one is written again row by row, quoting it."""
    empty = f"querybase{uuid.uuid4().hex}"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column.name for column in columns])
    header = buffer.getvalue()
    batch: list[Any] = []
    for row in rows:
        batch.append([empty if value == "" else value for value in row] if "" in row else row)
        if len(batch) == ROWS_PER_CHUNK:
            yield (header + _csv_block(batch, empty)).encode()
            header = ""
            batch.clear()
    yield (header + _csv_block(batch, empty)).encode() + csv_truncation_line(rows)


def _csv_block(rows: list[Any], empty: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    if "\r" in text:
        text = "".join(_csv_line_quoting_cr(row) for row in rows)
    return text.replace(empty, '""')


def _csv_line_quoting_cr(row: Any) -> str:
    """One row, with a value holding a carriage return quoted (a line terminator of CRLF
    makes the writer quote CR; the line itself then ends in LF like the others)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue()[:-2] + "\n"


def server_csv_chunks(header: bytes, rows: CappedRows) -> Iterator[bytes]:
    """The engine's own CSV (a header, then one bytes object per row), in blocks of about
    64 KiB rather than a write per row."""
    block = bytearray(header)
    for row in rows:
        block += row
        if len(block) >= CSV_BLOCK_BYTES:
            yield bytes(block)
            block.clear()
    yield bytes(block) + csv_truncation_line(rows)


def failure_trailer(export_format: str, code: str, message: str) -> bytes:
    """The last words of a body cut by a failure (see the module's docstring)."""
    if export_format != "csv":
        return b""
    one_line = " ".join(message.split())
    # Chunks end where rows end, so this starts a line of its own.
    return f"{CSV_ERROR_MARKER} code={code} {one_line}\n".encode()


def json_chunks(columns: list[ResultColumn], rows: CappedRows) -> Iterator[bytes]:
    """`{"columns": [...], "rows": [[...], ...], "row_count": n, "truncated": bool,
    "row_cap": n}`, written as it is read. The opening goes out with the first rows, so
    a read failing among them is still answered with an error status."""
    described = json.dumps([{"name": column.name, "type": column.type} for column in columns])
    encode = json_rows_bytes_encoder([column.type for column in columns])
    count = 0
    opening = f'{{"columns":{described},"rows":['.encode()
    read = iter(rows)
    # Each batch is encoded as an array at once (orjson, in C); its brackets come off.
    while batch := list(islice(read, ROWS_PER_CHUNK)):
        yield opening + (b"," if count else b"") + encode(batch)[1:-1]
        count += len(batch)
        opening = b""
    ending = f'],"row_count":{count},"truncated":{json.dumps(rows.truncated)},"row_cap":{rows.row_cap}}}'
    yield opening + ending.encode()


RENDERERS = {"csv": ("text/csv; charset=utf-8", csv_chunks), "json": ("application/json", json_chunks)}
