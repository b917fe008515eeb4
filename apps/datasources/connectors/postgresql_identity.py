"""Whether a PostgreSQL source is one of QueryBase's own databases (the metadata database, or
the audit search store on the same server), which it must never serve.

QueryBase's own database holds what would let a reader become anyone: users' password
hashes, session keys, refresh tokens, API key digests, every source's encrypted
credentials. An outside attack registered it as a source (an admin's mistake, or a
"reporting copy" that is the real thing), and every analyst with read on it could read
them. SQLite sources are kept out by QUERYBASE_SQLITE_ROOTS; PostgreSQL ones are told apart
by what the server says it is, not by the host name an admin typed (127.0.0.1,
localhost, the machine's name and its addresses all reach the same server): the
cluster's system identifier and the database's name.
"""

import threading
from urllib.parse import unquote, urlsplit

import psycopg
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from apps.datasources.connectors.base import QueryBaseOwnDatabase

_IDENTITY_SQL = "SELECT system_identifier::text, current_database() FROM pg_control_system()"


_lock = threading.Lock()
_own: tuple[str, frozenset[str]] | None = None
_known = False


def _audit_store_name() -> str | None:
    parts = urlsplit(settings.AUDIT_SEARCH_URL)
    if not parts.scheme.startswith("postgres"):
        return None
    return unquote(parts.path.lstrip("/")) or None


def _own_identity() -> tuple[str, frozenset[str]] | None:
    """(system identifier, database names) of QueryBase's own PostgreSQL databases, asked
    of the metadata connection once per process; None where the metadata database is not
    PostgreSQL (the embedded default) or does not say."""
    global _own, _known
    with _lock:
        if _known:
            return _own
        metadata = connections["default"]
        if metadata.vendor == "postgresql":
            try:
                # In a savepoint: a refusal must not break a transaction the caller is in.
                with transaction.atomic(using="default"), metadata.cursor() as cursor:
                    cursor.execute(_IDENTITY_SQL)
                    system_identifier, name = cursor.fetchone()
                _own = (system_identifier, frozenset(filter(None, (name, _audit_store_name()))))
            except DatabaseError:
                _own = None  # a server that hides its identifier: nothing to compare with
        _known = True
        return _own


def refuse_querybase_database(connection: psycopg.Connection) -> None:
    """Raise QueryBaseOwnDatabase if `connection` reached one of QueryBase's own databases.
    The connection is left idle, as it came."""
    own = _own_identity()
    if own is None:
        return
    try:
        identity = connection.execute(_IDENTITY_SQL).fetchone()
    except psycopg.Error:
        # A login that may not read the identifier: nothing to compare it with.
        identity = None
    finally:
        connection.rollback()
    if identity is not None and identity[0] == own[0] and identity[1] in own[1]:
        raise QueryBaseOwnDatabase(
            "This data source is QueryBase's own database, which holds users' credentials: "
            "QueryBase never reads or writes it as a data source."
        )
