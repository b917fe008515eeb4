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

_JSON_ROW_COUNT = re.compile(rb'"row_count":(\d+)\}\s*$')


class CsvRowCounter:
    """Counts CSV records, not lines: a newline inside a quoted value is part of the
    value. Quotes are tracked across chunks, with bytes.count doing the per-byte work."""

    def __init__(self) -> None:
        self.lines = 0
        self._in_quotes = False

    def feed(self, chunk: bytes) -> None:
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
    def rows(self) -> int:
        return max(self.lines - 1, 0)  # the header is not a row


class JsonRowCounter:
    """The JSON export ends with `"row_count": n`; until then, rows are not known."""

    def __init__(self) -> None:
        self._tail = b""
        self.rows = 0

    def feed(self, chunk: bytes) -> None:
        self._tail = (self._tail + chunk)[-64:]
        found = _JSON_ROW_COUNT.search(self._tail)
        if found:
            self.rows = int(found.group(1))


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
    return ExportSummary(path=str(target), format=export_format, bytes_written=written, rows=counter.rows)
