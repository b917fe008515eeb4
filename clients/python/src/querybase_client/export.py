"""Writing a streamed export to a file, counting rows on the way.

The body goes to disk chunk by chunk and is never held whole: an export may be millions
of rows. It is written to `<file>.partial` and renamed only once the server has sent its
last chunk, so a file under the asked-for name is always complete. (The server ends a
failed export without its last chunk; httpx reports that as a broken transfer.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from querybase_client.models import ExportSummary

ProgressCallback = Callable[[int, int], None]  # (bytes written, rows counted so far)

_JSON_ROW_COUNT = re.compile(rb'"row_count":\s*(\d+)')
_JSON_TRUNCATED = re.compile(rb'"truncated":\s*true')
# The last line of a CSV export that stopped at the source's row cap (a comment, not a row).
_CSV_TRUNCATED = b"#querybase:truncated"
_TAIL_BYTES = 256


class CsvRowCounter:
    """Counts CSV records, not lines: a newline inside a quoted value is part of the
    value. Quotes are tracked across chunks, with bytes.count doing the per-byte work."""

    def __init__(self) -> None:
        self.lines = 0
        self._in_quotes = False
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
        if b'"' not in chunk:
            if not self._in_quotes:
                self.lines += chunk.count(b"\n")
            return
        # Between quote characters the state alternates; "" (an escaped quote) toggles
        # twice and changes nothing, as it should.
        for index, part in enumerate(chunk.split(b'"')):
            if index:
                self._in_quotes = not self._in_quotes
            if not self._in_quotes:
                self.lines += part.count(b"\n")

    @property
    def truncated(self) -> bool:
        return self._tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].startswith(_CSV_TRUNCATED)

    @property
    def rows(self) -> int:
        # Neither the header nor the row-cap line is a row.
        return max(self.lines - 1 - self.truncated, 0)


class JsonRowCounter:
    """The JSON export ends with `"row_count": n, "truncated": …, "row_cap": n`; until
    then, rows are not known."""

    def __init__(self) -> None:
        self._tail = b""
        self.rows = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk)[-_TAIL_BYTES:]
        found = _JSON_ROW_COUNT.findall(self._tail)
        if found:
            self.rows = int(found[-1])
            self.truncated = bool(_JSON_TRUNCATED.search(self._tail))


def write_export(
    chunks: Iterable[bytes], path: str | os.PathLike, export_format: str, on_progress: ProgressCallback | None = None
) -> ExportSummary:
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    counter = CsvRowCounter() if export_format == "csv" else JsonRowCounter()
    written = 0
    try:
        with partial.open("wb") as output:
            for chunk in chunks:
                output.write(chunk)
                written += len(chunk)
                counter.feed(chunk)
                if on_progress is not None:
                    on_progress(written, counter.rows)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportSummary(
        path=str(target),
        format=export_format,
        bytes_written=written,
        rows=counter.rows,
        truncated=counter.truncated,
    )
