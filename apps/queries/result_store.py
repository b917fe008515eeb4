"""Where results live: small ones in the cache (Redis), large ones in the database, in pages.

A result is written as it is read, a page at a time (`read_into_store`), and read back a
page at a time (`load_page`): the API answers a run with its first page and a link to the
next, so no process holds a large result whole. Results are kept for
QUERYBASE_RESULT_RETENTION_SECONDS; the cache forgets its own, and the beat task
`maintenance.prune_results` deletes the database's (`prune_stored_results`), oldest
first as well once they hold more than QUERYBASE_RESULT_STORE_MAX_BYTES.

Two separate things are kept: the *result of a run* (so the job's client can fetch
it, for QUERYBASE_RESULT_RETENTION_SECONDS), and the *cache index* (cache key → the
run whose result may answer the same question again, for the source's cache TTL).

A write that ran on a source makes every cached result of that source stale at once: the
source's *results generation* is part of each cache key, and the write replaces it
(`forget_results_of`), so entries read before the write are never found again and simply
expire.
"""

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.validators import MaxValueValidator
from django.db.models import Q
from django.utils import timezone

from apps.datasources.connectors.base import BoundStatement, Connector, QueryLimits, ResultColumn, RowStream
from apps.datasources.connectors.values import JsonRows, dump_json, is_json_document_type
from apps.datasources.models import DataSource
from apps.queries.exceptions import ResultPageNotFound, RowTooLarge
from apps.queries.models import QueryRun, ResultLocation, ResultPage, StoredResult
from apps.queries.renderers import CappedRows
from querybase import metrics

_RESULT_KEY = "query-result:{}"
# The index is kept per question (without the generation): the entry names the
# generation it was stored under, so one MGET fetches it with the current generation.
_INDEX_KEY = "query-cache:{}"
_QUESTION_CHARS = 32  # 128 bits of SHA-256; a cache key is these and a 32-digit generation
_GENERATION_KEY = "query-cache-generation:{}"
_PAGE_KEYS = frozenset({"columns", "rows", "row_count", "truncated", "took_ms", "page", "page_count"})
# Rows encoded by one json.dumps while a page is filled (see `_pages`).
_ENCODE_SLICE = 100


def cache_key_for(datasource: DataSource, sql: str, params: Any) -> str:
    """Same source, same database user, same settings, same SQL and params, and no write
    on the source since → same key: the question's hash (32 hex digits) followed by the
    source's results generation (32 more).

    The database user is part of the key: results read with one set of grants must
    not answer a question asked under another.
    """
    return _question(datasource, sql, params) + results_generation(datasource.pk)


def _question(datasource: DataSource, sql: str, params: Any) -> str:
    identity = [
        datasource.pk,
        datasource.updated_at.isoformat(),
        datasource.read_username or datasource.username,
        normalise_sql(sql),
        params,
    ]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:_QUESTION_CHARS]


def lookup(
    datasource: DataSource, sql: str, params: Any, max_age_seconds: int | None
) -> tuple[str, "CachedAnswer | None"]:
    """`cache_key_for` and `cached_answer` in one cache round trip: the source's results
    generation and the question's index entry are fetched together, and the entry answers
    only if it was stored under that generation."""
    question = _question(datasource, sql, params)
    generation_key = _GENERATION_KEY.format(datasource.pk)
    found = cache.get_many([generation_key, _INDEX_KEY.format(question)])
    generation = found.get(generation_key) or results_generation(datasource.pk)
    cache_key = question + generation
    answer = _answer_from(found.get(_INDEX_KEY.format(question)), generation, max_age_seconds)
    metrics.count_cache_lookup(hit=answer is not None)
    return cache_key, answer


def results_generation(datasource_id: int) -> str:
    """The source's current results generation. Random rather than a counter: should the
    cache lose it (flushed, evicted), the next one is new, so a result cached before a
    write can never match again by the counter starting over."""
    key = _GENERATION_KEY.format(datasource_id)
    generation = cache.get(key)
    if generation is not None:
        return generation
    fresh = uuid.uuid4().hex
    if cache.add(key, fresh, timeout=None):
        return fresh
    # Another process set one meanwhile (or it was lost again: then this read alone uses
    # the fresh value, which only costs a cache miss).
    return cache.get(key) or fresh


def forget_results_of(datasource_id: int) -> None:
    """A write ran on the source (or may have): no result cached before it answers again.
    Called before the write's request reports its end, so whoever sees it finished and
    reads again gets what the source holds now."""
    cache.set(_GENERATION_KEY.format(datasource_id), uuid.uuid4().hex, timeout=None)


def normalise_sql(sql: str) -> str:
    return sql.strip().rstrip(";").strip()


@dataclass(frozen=True)
class StoredRows:
    """A result now kept: where (ResultLocation), and its first page as the API shows it."""

    location: str
    first_page: dict[str, Any]


def read_into_store(
    run: QueryRun,
    connector: Connector,
    statements: list[BoundStatement],
    limits: QueryLimits,
    on_backend: Callable[[str], None] | None = None,
    *,
    backend_id: str | None = None,
    texts: list[str] | None = None,
) -> StoredRows:
    """Run the read and keep its rows (at most `limits.max_rows`, `truncated` beyond), page
    by page as they arrive: a process holds one page, never the whole result.

    SQL of several statements keeps every statement's result (`statements`, see
    `earlier_result`); `texts` are the statements as the user wrote them.

    A connection lost part-way is retried once on a fresh connection; the pages already
    written are dropped and the result is written again from its first row."""
    started = time.monotonic()
    several = EarlierStatements.of(statements, texts, limits.max_rows)

    def consume(columns: list[ResultColumn], rows: Iterator[Sequence[Any]]) -> StoredRows:
        described = _described(columns)
        parts = several.parts() if several else None
        return store_rows(run, described, rows, limits.max_rows, started, statements=parts)

    return connector.read_with(statements, limits, consume, on_backend, backend_id=backend_id, earlier=several)


class EarlierStatements:
    """The results of the statements before the last of SQL of several, kept as a read
    streams them (a connector's `earlier`), for the result's `statements`."""

    def __init__(self, texts: list[str], row_cap: int):
        self.texts = texts
        self.row_cap = row_cap
        self.results: list[dict[str, Any]] = []

    @classmethod
    def of(cls, statements: list[BoundStatement], texts: list[str] | None, row_cap: int) -> "EarlierStatements | None":
        """One for SQL of several statements, None for one. `texts` are the statements as
        the user wrote them (the bound SQL where they are not given)."""
        if len(statements) < 2:
            return None
        texts = texts if texts is not None and len(texts) == len(statements) else [s.sql for s in statements]
        return cls(texts, row_cap)

    def __call__(self, index: int, stream: RowStream) -> None:
        if index == 0:
            self.results.clear()  # a retried read starts over
        self.results.append(earlier_result(index + 1, self.texts[index], stream, self.row_cap))

    def parts(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """What `store_rows` takes as `statements`: the earlier results, and the last
        statement's number and text."""
        return self.results, {"statement": len(self.texts), "sql": self.texts[-1]}


def earlier_result(number: int, sql: str, stream: RowStream, row_cap: int) -> dict[str, Any]:
    """The result of a statement before the last: its first page of rows is kept (at most
    QUERYBASE_RESULT_PAGE_ROWS, and the row cap), the rest counted and dropped; an export
    of the statement (`statement: N`) gives all of it. `row_count` counts every row up to
    the row cap (`truncated` beyond), as the last statement's does."""
    capped = CappedRows(stream.rows, row_cap)
    rows = iter(capped)
    # Its first page, as a page is cut (rows and bytes; a row over the row limit fails).
    kept, _ = next(_pages(rows, ResultBytes()), ([], "[]"))
    counted = len(kept) + sum(1 for _ in rows)
    return {
        "statement": number,
        "sql": sql,
        "columns": _described(stream.columns),
        "rows": kept,
        "row_count": counted,
        "truncated": capped.truncated,
    }


def _described(columns: list[ResultColumn]) -> list[dict[str, str]]:
    # Not dataclasses.asdict, which deep-copies: it cost more than the rest of storing a small result.
    return [{"name": column.name, "type": column.type} for column in columns]


def store_result(run: QueryRun, result: dict[str, Any]) -> StoredRows:
    """Keep a result already in memory: a sandbox write's, one small row per statement
    (reads, in a sandbox too, stream through `read_into_store`)."""
    started = time.monotonic() - result.get("took_ms", 0) / 1000
    rows = result["rows"]
    # What a sandbox adds (affected_rows) is kept with a result that fits the cache.
    extra = {key: value for key, value in result.items() if key not in _PAGE_KEYS}
    # The rows are all there: a cap of their number keeps them all, `truncated` as it was.
    truncated = result.get("truncated", False)
    return store_rows(run, result["columns"], rows, len(rows), started, truncated=truncated, extra=extra)


def store_rows(
    run: QueryRun,
    columns: list[dict[str, str]],
    rows: Iterable[Sequence[Any]],
    row_cap: int,
    started: float,
    *,
    truncated: bool = False,
    extra: dict[str, Any] | None = None,
    statements: tuple[list[dict[str, Any]], dict[str, Any]] | None = None,
) -> StoredRows:
    """Keep `rows` (up to `row_cap`) as the result of `run`. A result of one page that fits
    QUERYBASE_CACHE_MAX_BYTES goes to the cache whole; anything larger is written to the
    database a page at a time (StoredResult, ResultPage).

    `statements`, for SQL of several statements: the earlier ones' results and the last
    one's number and text; the result then lists them all (`with_statements`)."""
    capped = CappedRows(rows, row_cap)
    budget = ResultBytes()
    pages = _pages(capped, budget)
    first_rows, first_text = next(pages, ([], "[]"))
    second = next(pages, None)
    earlier, last = statements if statements is not None else ([], None)
    earlier_text = dump_json(earlier) if earlier else ""
    if second is None and len(first_text) + len(earlier_text) <= settings.QUERYBASE_CACHE_MAX_BYTES:
        cut = truncated or capped.truncated or budget.cut
        result = _page_body(columns, first_rows, len(first_rows), cut, started, 1, 1)
        result.update(extra or {})
        if last is not None:
            result["statement"] = last["statement"]
            result["statements"] = [*earlier, _last_summary(last, result)]
        cache.set(_RESULT_KEY.format(run.pk), dump_json(result), settings.QUERYBASE_RESULT_RETENTION_SECONDS)
        return StoredRows(location=ResultLocation.CACHE, first_page=result)
    # What a process that died while writing this run's result left (the sweeper queued
    # the run again) goes first; a small result above never costs this query.
    StoredResult.objects.filter(run_id=run.pk).delete()
    stored = StoredResult.objects.create(run=run, columns=columns, page_rows=settings.QUERYBASE_RESULT_PAGE_ROWS)
    try:
        written = _write_pages(stored, chain([(first_rows, first_text)], [second] if second else [], pages))
    except BaseException:
        StoredResult.objects.filter(pk=stored.pk).delete()  # never half a result
        raise
    stored.row_count, stored.page_count, stored.size_bytes = written
    stored.truncated = truncated or capped.truncated or budget.cut
    stored.took_ms = _ms_since(started)
    stored.completed_at = timezone.now()
    first_page = _page_body(columns, first_rows, stored.row_count, stored.truncated, started, 1, stored.page_count)
    first_page["took_ms"] = stored.took_ms
    if last is not None:
        stored.statements = [*earlier, _last_summary(last, first_page)]
        first_page["statement"] = last["statement"]
        first_page["statements"] = stored.statements
    stored.save(
        update_fields=["row_count", "page_count", "size_bytes", "truncated", "took_ms", "completed_at", "statements"]
    )
    return StoredRows(location=ResultLocation.DATABASE, first_page=first_page)


def _last_summary(last: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The last statement in a result's `statements`: no rows of its own, since they are
    the result's (paged with `next`)."""
    return {
        **last,
        "columns": result["columns"],
        "row_count": result["row_count"],
        "truncated": result["truncated"],
        "rows_in_result": True,
    }


class ResultBytes:
    """How much JSON a result may keep, and whether it was cut there.

    The row cap bounds how many rows a result keeps, not how large they are: without a
    bound in bytes one read (`SELECT repeat('x', 100000000) FROM generate_series(1,
    1000)`) would fill the metadata database and the cache. A result keeps rows while
    they fit QUERYBASE_MAX_RESULT_BYTES of JSON and is cut before the first that does not
    (`truncated`, as at the row cap); one row larger than QUERYBASE_MAX_ROW_BYTES fails
    the read instead (RowTooLarge): cutting there would answer with none of its rows."""

    def __init__(self) -> None:
        self.limit = settings.QUERYBASE_MAX_RESULT_BYTES
        self.row_limit = settings.QUERYBASE_MAX_ROW_BYTES
        self.used = 0
        self.cut = False

    def fits(self, text: str) -> bool:
        return self.used + len(text) + 1 <= self.limit

    def take(self, text: str) -> None:
        self.used += len(text) + 1

    def rows_that_fit(self, rows: list[Sequence[Any]], first_number: int) -> list[str]:
        """`rows` one at a time (each checked against the row limit) while they fit."""
        texts = []
        for offset, row in enumerate(rows):
            text = dump_json(row)
            if len(text) > self.row_limit:
                raise RowTooLarge(first_number + offset, len(text), self.row_limit)
            if not self.fits(text):
                self.cut = True
                break
            self.take(text)
            texts.append(text)
        return texts


def _pages(rows: Iterable[Sequence[Any]], budget: ResultBytes) -> Iterator[tuple[list[Sequence[Any]], str]]:
    """The rows in pages: (rows, their JSON array), each at most QUERYBASE_RESULT_PAGE_ROWS
    rows and about QUERYBASE_RESULT_PAGE_BYTES of JSON (wide rows make shorter pages),
    until `budget` is spent (it then says `cut`, and no more rows are read).

    Rows are encoded a slice at a time (one json.dumps per slice, C code), which is what
    lets a page be measured in bytes without a dumps per row; only a slice that would go
    over a limit is encoded again row by row."""
    max_rows = settings.QUERYBASE_RESULT_PAGE_ROWS
    max_bytes = settings.QUERYBASE_RESULT_PAGE_BYTES
    page: list[Sequence[Any]] = []
    pieces: list[str] = []
    size = 0
    start = 0
    before = 0  # rows in the pages before this one
    for row in rows:
        page.append(row)
        if len(page) - start == _ENCODE_SLICE or len(page) == max_rows:
            size += _encode_slice(page, start, pieces, budget, before)
            start = len(page)
            if budget.cut:
                break
            if len(page) == max_rows or size >= max_bytes:
                yield page, "[" + ",".join(pieces) + "]"
                before += len(page)
                page, pieces, size, start = [], [], 0, 0
    if start < len(page) and not budget.cut:
        _encode_slice(page, start, pieces, budget, before)
    if page:
        yield page, "[" + ",".join(pieces) + "]"


def _encode_slice(page: list[Sequence[Any]], start: int, pieces: list[str], budget: ResultBytes, before: int) -> int:
    """Encode `page[start:]` onto `pieces` (the rows that do not fit the budget leave the
    page); the bytes added."""
    text = dump_json(page[start:])[1:-1]
    if len(text) <= budget.row_limit and budget.fits(text):
        budget.take(text)
        pieces.append(text)
        return len(text) + 1
    texts = budget.rows_that_fit(page[start:], before + start + 1)
    del page[start + len(texts) :]
    if not texts:
        return 0
    pieces.append(",".join(texts))
    return len(pieces[-1]) + 1


def _write_pages(stored: StoredResult, pages: Iterable[tuple[list[Sequence[Any]], str]]) -> tuple[int, int, int]:
    """Insert each page as it comes; (rows, pages, bytes) written."""
    rows = number = size = 0
    for page_rows, text in pages:
        number += 1
        ResultPage.objects.create(result=stored, number=number, rows=text, row_count=len(page_rows))
        rows += len(page_rows)
        size += len(text)
    return rows, number, size


def _page_body(
    columns: list[dict[str, str]],
    rows: list[Sequence[Any]],
    row_count: int,
    truncated: bool,
    started: float,
    page: int,
    page_count: int,
) -> dict[str, Any]:
    return {
        "columns": columns,
        "rows": rows,
        "row_count": row_count,
        "truncated": truncated,
        "took_ms": _ms_since(started),
        "page": page,
        "page_count": page_count,
    }


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _origin(run: QueryRun) -> QueryRun:
    """The run whose result answers for `run`: itself, or for a cache hit the run it was answered from."""
    return run.source_run if run.from_cache and run.source_run is not None else run


def load_result(run: QueryRun) -> dict[str, Any] | None:
    """The first page of the kept result of `run`, None if it is no longer kept."""
    return load_page(run, 1)


def load_page(run: QueryRun, number: int) -> dict[str, Any] | None:
    """Page `number` (from 1) of the kept result of `run` (or of the run it was answered
    from); None if the result is no longer kept. A page beyond the last raises
    ResultPageNotFound."""
    origin = _origin(run)
    if origin.result_location == ResultLocation.CACHE:
        encoded = cache.get(_RESULT_KEY.format(origin.pk))
        if encoded is None:
            return None
        if number != 1:
            raise ResultPageNotFound("This result has 1 page.")
        return {"page": 1, "page_count": 1, **json.loads(encoded)}
    if origin.result_location == ResultLocation.DATABASE:
        return _database_page(origin.pk, number)
    return None


def _database_page(run_id: Any, number: int) -> dict[str, Any] | None:
    stored = StoredResult.objects.filter(run_id=run_id, completed_at__isnull=False).first()
    if stored is None:
        return None
    if number > stored.page_count:
        raise ResultPageNotFound(f"This result has {stored.page_count} pages.")
    text = ResultPage.objects.filter(result_id=run_id, number=number).values_list("rows", flat=True).first()
    if text is None:
        return None
    documents = any(is_json_document_type(column.get("type", "")) for column in stored.columns)
    page = {
        "columns": stored.columns,
        # A page goes out as it was written, unless documents in it must be unquoted.
        "rows": json.loads(text) if documents else JsonRows(text),
        "row_count": stored.row_count,
        "truncated": stored.truncated,
        "took_ms": stored.took_ms,
        "page": number,
        "page_count": stored.page_count,
    }
    if stored.statements and number == 1:  # the other pages are the last statement's alone
        page["statement"] = len(stored.statements)
        page["statements"] = stored.statements
    return page


def statement_result(page: dict[str, Any], number: int) -> dict[str, Any]:
    """Statement `number`'s result out of a run's first page: an earlier statement's entry
    in `statements`, or the page itself for the last statement (and for SQL of one
    statement, number 1). Raises ResultPageNotFound for a statement the SQL lacks."""
    statements = page.get("statements") or []
    count = len(statements) or 1
    if not 1 <= number <= count:
        raise ResultPageNotFound(f"This result has {count} statement{'s' if count != 1 else ''}.")
    if number == count:
        return page
    return {**statements[number - 1], "page": 1, "page_count": 1}


@dataclass(frozen=True)
class CachedAnswer:
    run_id: str
    computed_at: datetime
    result: dict[str, Any]


def remember_for_cache(run: QueryRun, result: dict[str, Any], location: str, ttl_seconds: int) -> None:
    """Let later identical questions be answered by `run`. A small result travels inside
    the index entry itself, so a cache hit costs one cache round trip; a large one is
    answered with its first page, read from the database."""
    if ttl_seconds <= 0 or not run.cache_key:
        return
    question, generation = _split(run.cache_key)
    entry = {
        "generation": generation,
        "run": str(run.pk),
        "computed_at": (run.finished_at or timezone.now()).isoformat(),
        "result": result if location == ResultLocation.CACHE else None,
    }
    cache.set(_INDEX_KEY.format(question), entry, ttl_seconds)


def cached_answer(cache_key: str, max_age_seconds: int | None) -> CachedAnswer | None:
    """A stored answer to `cache_key`, if it is young enough and still kept; counted as a
    hit or a miss of the results cache (querybase_result_cache_lookups_total)."""
    answer = _cached_answer(cache_key, max_age_seconds)
    metrics.count_cache_lookup(hit=answer is not None)
    return answer


def _cached_answer(cache_key: str, max_age_seconds: int | None) -> CachedAnswer | None:
    question, generation = _split(cache_key)
    return _answer_from(cache.get(_INDEX_KEY.format(question)), generation, max_age_seconds)


def _split(cache_key: str) -> tuple[str, str]:
    """(the question's hash, the results generation) of a cache key."""
    return cache_key[:_QUESTION_CHARS], cache_key[_QUESTION_CHARS:]


def _answer_from(entry: dict[str, Any] | None, generation: str, max_age_seconds: int | None) -> CachedAnswer | None:
    # An entry stored before a write on the source (another generation) never answers.
    if entry is None or entry.get("generation") != generation:
        return None
    computed_at = datetime.fromisoformat(entry["computed_at"])
    if max_age_seconds is not None and (timezone.now() - computed_at).total_seconds() > max_age_seconds:
        return None
    result = entry["result"]
    if result is None:
        try:
            result = _database_page(entry["run"], 1)
        except ResultPageNotFound:
            result = None
    if result is None:
        return None
    return CachedAnswer(run_id=entry["run"], computed_at=computed_at, result=result)


def prune_stored_results(now: datetime | None = None) -> int:
    """Delete stored results past their retention, then the oldest ones beyond the store's
    size bound, and any left unfinished by a process that died while writing one; returns
    how many went. Their runs then answer `result_expired`."""
    now = now or timezone.now()
    expired = now - timedelta(seconds=settings.QUERYBASE_RESULT_RETENTION_SECONDS)
    # An unfinished result older than any read may run was left by a dead process.
    abandoned = now - timedelta(milliseconds=_longest_read_ms()) - timedelta(minutes=5)
    doomed = set(
        StoredResult.objects.filter(
            Q(created_at__lt=expired) | Q(completed_at__isnull=True, created_at__lt=abandoned)
        ).values_list("pk", flat=True)
    )
    kept = 0
    newest_first = StoredResult.objects.filter(completed_at__isnull=False).exclude(pk__in=doomed)
    for pk, size in newest_first.order_by("-created_at").values_list("pk", "size_bytes").iterator():
        kept += size
        if kept > settings.QUERYBASE_RESULT_STORE_MAX_BYTES:
            doomed.add(pk)
    for batch in _batches(sorted(doomed, key=str), 100):
        ResultPage.objects.filter(result_id__in=batch).delete()
        StoredResult.objects.filter(pk__in=batch).delete()
    return len(doomed)


def _longest_read_ms() -> int:
    """The longest time limit a source may have (DataSource.statement_timeout_ms's bound)."""
    validators = DataSource._meta.get_field("statement_timeout_ms").validators
    return max(int(v.limit_value) for v in validators if isinstance(v, MaxValueValidator))


def _batches(items: list[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
