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
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, islice
from typing import Any

from apps.datasources.connectors.base import RowStream
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

    def batches(self, size: int) -> Iterator[list[Any]]:
        """The same rows in lists of up to `size`, each taken by C code (islice) rather
        than a step of Python per row."""
        rows = iter(self._rows)
        left = self.row_cap
        while left > 0:
            wanted = min(size, left)
            batch = list(islice(rows, wanted))
            if batch:
                yield batch
            if len(batch) < wanted:
                return  # the rows ran out before the cap
            left -= wanted
        self.truncated = next(rows, _END) is not _END


def csv_truncation_line(rows: CappedRows) -> bytes:
    return f"{CSV_TRUNCATED_MARKER} row_cap={rows.row_cap}\n".encode() if rows.truncated else b""


def csv_chunks(stream: RowStream, row_cap: int) -> Iterator[bytes]:
    """The CSV dialect (README, "Values in results"; PostgreSQL's CSV, as COPY writes it) of
    rows read as text (`read_stream(text=True)`), up to `row_cap`: a header line, then
    RFC 4180 quoting, lines ending in LF, NULL an empty field and the empty string `""`.

    Rows are taken and written a block at a time (`csv_block`), so no Python code runs
    per row: a million-row export spent most of its time in per-row steps."""
    rows = CappedRows(stream.rows, row_cap)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([column.name for column in stream.columns])
    header = buffer.getvalue()
    for block in rows.batches(ROWS_PER_CHUNK):
        yield (header + csv_block(block)).encode()
        header = ""
    # An empty chunk is never yielded: a server may take it for the end of the body.
    last = header.encode() + csv_truncation_line(rows)
    if last:
        yield last


def csv_block(rows: Sequence[Sequence[Any]]) -> str:
    """Rows of text (str, or None for NULL; numbers are spelled with str) as lines of the
    dialect, as COPY writes them: a value holding a delimiter, a quote, a CR or an LF
    quoted, quotes doubled, NULL nothing, the empty string `""`; in a result of one column,
    `\\.` quoted (a line of it alone ends COPY's input) and NULL an empty line.

    No Python step per row: a block with nothing to quote and no NULL or empty string
    (most of them) is joined as it is, by C code; otherwise it is worked a column at a
    time, and only a column holding a value to quote is rewritten value by value."""
    if not rows:
        return ""
    width = len(rows[0])
    if not width:
        return "\n" * len(rows)  # rows of no column: COPY writes an empty line each
    if not all(value is None or isinstance(value, str) for value in rows[0]):
        return _spelled_block(rows)  # numbers (SQLite's): not worth trying as text
    try:
        # filter(None, …) leaves out NULL and '' (nothing to quote in them); a value that
        # is not a str makes the join raise TypeError.
        present = list(filter(None, chain.from_iterable(rows)))
        text = "".join(present)
        if len(present) == len(rows) * width and not _needs_quotes(text, width == 1 and "\\." in present):
            return _joined_lines(rows)
        texts = [_column_text(column, width == 1) for column in zip(*rows, strict=True)]
        return _joined_lines(zip(*texts, strict=True))
    except TypeError:  # a value not spelled yet (a number) further down
        return _spelled_block(rows)


def _spelled_block(rows: Sequence[Sequence[Any]]) -> str:
    single = len(rows[0]) == 1
    texts = [_column_text(_as_text(column), single) for column in zip(*rows, strict=True)]
    return _joined_lines(zip(*texts, strict=True))


def _needs_quotes(text: str, lone_end_marker: bool) -> bool:
    return '"' in text or "," in text or "\n" in text or "\r" in text or lone_end_marker


_EMPTY_SPELLINGS = {None: "", "": '""'}


def _column_text(column: Sequence[Any], single: bool) -> Sequence[Any]:
    """`column` itself where no value needs spelling, else its values as the dialect
    writes them."""
    present = list(filter(None, column))
    if _needs_quotes("".join(present), single and "\\." in present):
        return [_quoted(value, single) for value in column]
    if len(present) < len(column):  # NULL or ''
        return list(map(_EMPTY_SPELLINGS.get, column, column))
    return column


def _quoted(value: str | None, single: bool) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):  # a falsy number (0) passes the join above
        raise TypeError(f"{type(value).__name__} is not spelled yet")
    if not value or '"' in value or "," in value or "\n" in value or "\r" in value or (single and value == "\\."):
        return '"' + value.replace('"', '""') + '"'
    return value


def _as_text(column: Sequence[Any]) -> Sequence[str | None]:
    """Numbers as Python's CSV writer spelled them: str (a float's str is its repr)."""
    if None in column:
        return [None if value is None else str(value) for value in column]
    return list(map(str, column))


def _joined_lines(rows: Iterable[Sequence[Any]]) -> str:
    return "\n".join(map(",".join, rows)) + "\n"


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


def json_chunks(stream: RowStream, row_cap: int) -> Iterator[bytes]:
    """`{"columns": [...], "rows": [[...], ...], "row_count": n, "truncated": bool,
    "row_cap": n}`, written as it is read, up to `row_cap` rows. The opening goes out with
    the first rows, so a read failing among them is still answered with an error status."""
    rows = CappedRows(stream.rows, row_cap)
    described = json.dumps([{"name": column.name, "type": column.type} for column in stream.columns])
    encode = json_rows_bytes_encoder([column.type for column in stream.columns], stream.plain_columns)
    count = 0
    opening = f'{{"columns":{described},"rows":['.encode()
    # Each batch (taken by C code, as the CSV's are) is encoded as an array at once
    # (orjson, in C); its brackets come off.
    for batch in rows.batches(ROWS_PER_CHUNK):
        yield opening + (b"," if count else b"") + encode(batch)[1:-1]
        count += len(batch)
        opening = b""
    ending = f'],"row_count":{count},"truncated":{json.dumps(rows.truncated)},"row_cap":{rows.row_cap}}}'
    yield opening + ending.encode()


RENDERERS = {"csv": ("text/csv; charset=utf-8", csv_chunks), "json": ("application/json", json_chunks)}
