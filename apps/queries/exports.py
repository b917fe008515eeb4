"""Use case: export a read as CSV or JSON, streamed with flat memory, saying so when it
fails part-way or stops at the row cap."""

import re
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

from django.contrib.auth.models import User

from apps.audit.services import record_event
from apps.datasources.connectors import CredentialRole, connector_for
from apps.datasources.connectors.base import Connector, ConnectorError, QueryLimits
from apps.datasources.crypto import CredentialDecryptionError
from apps.datasources.models import DataSource
from apps.queries.exceptions import QueryError, error_code_of
from apps.queries.plan import limits_for, prepare_read, sha256_of
from apps.queries.renderers import RENDERERS, CappedRows, failure_trailer, server_csv_chunks
from apps.queries.selectors import saved_queries_for
from apps.sqlcore import invisible
from apps.sqlcore.parameters import Params
from apps.sqlcore.sqltext import single_query_text
from apps.sqlcore.statements import BoundStatement
from apps.sqlcore.tables import referenced_tables
from querybase.errors import InvalidInput
from querybase.logs import get_logger
from querybase.types import ClientRequest

logger = get_logger(__name__)


@dataclass
class Export:
    """An export under way: its chunks, the first already read (see `export_stream`)."""

    chunks: Iterator[bytes]
    row_cap: int
    file_name: str = ""


# Longest file name offered (without its extension); browsers and file systems cut longer.
_FILE_NAME_CHARS = 100
_UNSAFE_IN_FILE_NAMES = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_NOT_PLAIN_ASCII = re.compile(r"[^A-Za-z0-9.-]+")


def export_file_name(user: User, datasource: DataSource, sql: str, export_format: str) -> str:
    """What the export's file is called: after the user's saved query of this SQL on this
    source (their own or shared with them), else after the first table the SQL reads,
    else `querybase-export`. Without path separators, control, invisible or direction-changing
    characters."""
    text = sql.strip()
    saved = next(
        (query.name for query in saved_queries_for(user).filter(datasource=datasource) if query.sql.strip() == text),
        None,
    )
    if saved is None:
        tables = referenced_tables(sql, datasource.engine)
        saved = tables[0].name if tables else ""
    # Invisible and direction-changing characters go: a browser shows the name they reorder.
    hidden = set(invisible.characters_in(saved))
    visible = "".join(character for character in saved if character not in hidden)
    name = _UNSAFE_IN_FILE_NAMES.sub("_", visible).strip(" ._")[:_FILE_NAME_CHARS] or "querybase-export"
    return f"{name}.{export_format}"


def ascii_file_name(file_name: str) -> str:
    """The name for clients that only read `filename=`: ASCII letters, digits, `._-`."""
    stem, _, extension = file_name.rpartition(".")
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return f"{_NOT_PLAIN_ASCII.sub('_', folded).strip('._') or 'querybase-export'}.{extension}"


@dataclass(frozen=True)
class ExportedRead:
    """A read ready to export, whatever it reads: the source (`export_stream`) or a
    sandbox's copy (apps/sandboxes/exports.py). From here on both go the same way."""

    datasource: DataSource  # the source, or the one the sandbox copies: its engine, row cap, file name
    sql: str
    statements: list[BoundStatement]
    connector: Connector
    limits: QueryLimits
    # Named in the audit event: the export read a sandbox's copy, not the source.
    sandbox_id: int | None = None


def export_stream(
    user: User,
    *,
    datasource_id: int,
    sql: str,
    params: Params,
    export_format: str,
    statement: int | None = None,
    request: ClientRequest | None = None,
) -> AbstractContextManager[Export]:
    """A context manager giving the export of a read on the source as byte chunks (see
    `export_read`): the user's rights and the classification first (`prepare_read`)."""
    prepared = prepare_read(user, datasource_id=datasource_id, sql=sql, params=params)
    try:
        connector = connector_for(prepared.datasource, CredentialRole.READ)
    except CredentialDecryptionError as error:
        raise QueryError(CredentialDecryptionError.code, str(error)) from error
    read = ExportedRead(
        datasource=prepared.datasource,
        sql=sql,
        statements=prepared.statements,
        connector=connector,
        limits=limits_for(prepared.datasource),
    )
    return export_read(user, read, export_format=export_format, statement=statement, request=request)


def export_read(
    user: User,
    read: ExportedRead,
    *,
    export_format: str,
    statement: int | None = None,
    request: ClientRequest | None = None,
) -> AbstractContextManager[Export]:
    """A context manager giving the export of a read its caller has checked, as byte
    chunks: every row up to the row cap (a capped export says so: see
    apps/queries/renderers.py). Nothing is collected, so memory stays flat however large
    the result.

    CSV of a single parameterless query comes from the engine itself where it can
    (PostgreSQL's COPY); everything else is rendered from the row stream.

    SQL of several statements exports the last one's result, or with `statement` (from 1)
    that one's: the statements up to it run, in the same read-only transaction.

    Errors before the first chunk raise QueryError on entering, so they are answered
    with an error status. Later ones raise QueryError from the chunks, once part of the
    body has gone out: the caller must then end the response as broken, not cleanly.
    """
    statements = _up_to(read.statements, statement)
    file_name = export_file_name(user, read.datasource, read.sql, export_format)
    detail: dict[str, Any] = {"sql_sha256": sha256_of(read.sql)}
    if read.sandbox_id is not None:
        detail["sandbox"] = read.sandbox_id
    record_event("query.export", actor=user, target=read.datasource, request=request, detail=detail)
    connector, limits = read.connector, read.limits
    # One row beyond the cap is asked for, to tell a cut result from one of exactly that size.
    probe = replace(limits, max_rows=limits.max_rows + 1)
    if export_format == "csv" and len(statements) == 1 and not statements[0].args:
        query = single_query_text(read.sql, read.datasource.engine)
        native = connector.server_csv(query, probe) if query is not None else None
        if native is not None:
            return _export(
                native,
                export_format,
                limits.max_rows,
                lambda csv: server_csv_chunks(csv.header, CappedRows(csv.rows, limits.max_rows)),
                file_name,
            )
    _, render = RENDERERS[export_format]
    return _export(
        connector.read_stream(statements, probe, text=export_format == "csv"),
        export_format,
        limits.max_rows,
        lambda stream: render(stream, limits.max_rows),
        file_name,
    )


def _up_to(statements: list[BoundStatement], number: int | None) -> list[BoundStatement]:
    """The statements to run to export statement `number` (all of them without one)."""
    if number is None:
        return statements
    if number > len(statements):
        count = len(statements)
        raise InvalidInput(
            f"statement must be from 1 to {count}: the SQL has {count} statement{'s' if count != 1 else ''}.",
            details={"statement": number},
        )
    return statements[:number]


@contextmanager
def _export(
    source_context, export_format: str, row_cap: int, render: Callable[[Any], Iterator[bytes]], file_name: str
) -> Iterator[Export]:
    """Open the source, render it, and read the first chunk before anything is answered."""
    with _query_errors(source_context) as source:
        chunks = render(source)
        first = next(chunks, b"")
        yield Export(
            chunks=_saying_why_it_stopped(chain([first], chunks), export_format), row_cap=row_cap, file_name=file_name
        )


def _saying_why_it_stopped(chunks: Iterator[bytes], export_format: str) -> Iterator[bytes]:
    """The chunks; if the read fails midway, the body's last words say so before the
    error goes on up (see `failure_trailer`)."""
    try:
        yield from chunks
    except ConnectorError as error:
        logger.warning("export failed after its first chunk: %s", error.message)
        trailer = failure_trailer(export_format, error_code_of(error), error.message)
        if trailer:
            yield trailer
        raise


@contextmanager
def _query_errors(context):
    """Connector failures, when opening the stream or while reading it, become QueryError."""
    try:
        with context as value:
            yield value
    except ConnectorError as error:
        raise QueryError.of_connector(error) from error
