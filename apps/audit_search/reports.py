"""The audit reports: a record's lifetime, a user's impact, a time window, full text.

They read the search store only (apps/audit_search/search_store), never the metadata database:
a heavy audit search must not slow the product down. Who may ask is decided first
(`authorise`), from the user's rights; the report itself makes no query on the metadata
database, and a test keeps it so.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import psycopg_pool
from django.contrib.auth.models import User

from apps.accounts import policy
from apps.audit_search.exceptions import AuditNotAllowed, AuditSearchUnavailable
from apps.audit_search.search_store import AuditPage, AuditQuery, get_store

MAX_PAGE_SIZE = 500
# A CSV export walks the report page by page, up to this many rows.
EXPORT_PAGE_SIZE = 1000
EXPORT_MAX_ROWS = 100_000

CSV_COLUMNS = (
    "event_id",
    "created_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "datasource_id",
    "ip_address",
    "request_id",
    "outcome",
    "error",
    "tables",
    "sql",
    "text",
)


def authorise(user: User, query: AuditQuery) -> AuditQuery:
    """The query `user` may run: auditors (admins and members of a group with the auditor
    right) any; anyone else only their own events, asked for by name, and only from when
    they joined. A username is free again once its user is deleted (or renamed): the
    events under it from before are someone else's."""
    if policy.may_audit(user):
        return query
    if query.actor != user.get_username() or query.table is not None or query.key is not None or query.text:
        raise AuditNotAllowed("Only admins and auditors may see other users' events or search the audit log.")
    joined = user.date_joined
    return replace(query, after=joined if query.after is None else max(query.after, joined))


def run_report(query: AuditQuery, *, page: int, page_size: int) -> AuditPage:
    try:
        return get_store().search(query, offset=(page - 1) * page_size, limit=page_size)
    except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as error:
        raise AuditSearchUnavailable("The audit search store does not answer; try again shortly.") from error


def csv_lines(query: AuditQuery) -> Iterator[str]:
    """The whole report as CSV, header first, page after page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    written = 0
    page = 1
    while written < EXPORT_MAX_ROWS:
        found = run_report(query, page=page, page_size=EXPORT_PAGE_SIZE)
        for document in found.documents:
            row = document.as_dict()
            row["tables"] = " ".join(document.tables)
            writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
        written += len(found.documents)
        yield flush()
        if not found.has_more:
            return
        page += 1


# What a spreadsheet reads as the start of a formula, tab and carriage return included
# (spreadsheets skip them before an =; OWASP's CSV injection list).
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading '."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_LEADS) else text


def timeline(query: AuditQuery) -> AuditQuery:
    """A record's lifetime reads oldest first."""
    return replace(query, oldest_first=True)
