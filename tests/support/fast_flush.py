"""A quicker way to empty the suite's PostgreSQL database after each `transactional_db` test.

Django empties the database after every such test with one `TRUNCATE` of all its tables.
On PostgreSQL a TRUNCATE makes a new file for every table and its indexes, which costs
about a second for our ~30 tables on this machine, after each of several hundred tests.
A `DELETE` of the few rows a test leaves behind costs a few milliseconds per table.

What the tests see after the flush is the same: every table empty except the content
types and permissions, which Django's flush truncates and its post_migrate signal writes
back at once (same rows, new ids); here they are simply left in place, and post_migrate
still runs and adds any that are missing. Triggers are switched off for the DELETE, as a
TRUNCATE skips them: the audit log's append-only trigger refuses row deletes, and the
foreign keys' triggers would otherwise check every row on the way out.
"""

from django.db.backends.postgresql.operations import DatabaseOperations

# Written back by post_migrate after every stock flush, and never changed by a test.
_KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})

_stock_sql_flush = DatabaseOperations.sql_flush


def _sql_flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences:
        # A test that asks for fresh sequences gets Django's own flush, unchanged.
        return _stock_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    emptied = [table for table in tables if table not in _KEPT_TABLES]
    if not emptied:
        return []
    # Django runs these in one transaction: SET LOCAL ends with it, and the second SET
    # restores the default even if that transaction is ever nested in another.
    return [
        "SET LOCAL session_replication_role = replica;",
        *(f"DELETE FROM {self.quote_name(table)};" for table in emptied),
        "SET LOCAL session_replication_role = DEFAULT;",
    ]


def install() -> None:
    """Use the DELETE flush for the rest of this test process."""
    DatabaseOperations.sql_flush = _sql_flush_by_delete
