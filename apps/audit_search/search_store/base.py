"""What the audit search store holds and the one interface its backends implement.

The store is a copy of the audit log shaped for the reports (a record's lifetime, a
user's impact, a time window, full text), kept outside the metadata database so that
searching never loads the database the product runs on. Documents are keyed by event id:
writing one twice leaves one document (indexers may repeat a batch after a lost lease).
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class AuditDocument:
    event_id: int
    created_at: datetime
    action: str
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    object_repr: str = ""
    datasource_id: int | None = None
    ip_address: str = ""
    request_id: str = ""
    # succeeded / failed / cancelled where the event says how something ended; "" if not.
    outcome: str = ""
    error: str = ""
    sql: str = ""
    # Names as written and lower-cased: `orders`, `public.orders` (both kept for a
    # qualified name, so either finds it).
    tables: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    # Other searchable words: a request's reason, a review's comment.
    text: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def search_words(self) -> str:
        """Everything full-text search looks at, as plain words."""
        return words_of(" ".join((self.sql, self.text, self.object_repr, self.error, " ".join(self.tables))))

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "object_repr": self.object_repr,
            "datasource_id": self.datasource_id,
            "ip_address": self.ip_address,
            "request_id": self.request_id,
            "outcome": self.outcome,
            "error": self.error,
            "sql": self.sql,
            "tables": list(self.tables),
            "keys": list(self.keys),
            "text": self.text,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditQuery:
    """Filters of one report; unset ones do not filter."""

    actor: str | None = None
    after: datetime | None = None
    before: datetime | None = None
    datasource_id: int | None = None
    action: str | None = None
    table: str | None = None
    key: str | None = None
    text: str | None = None
    oldest_first: bool = False

    def __post_init__(self) -> None:
        if self.actor is not None:
            object.__setattr__(self, "actor", username_form(self.actor))


def username_form(name: str) -> str:
    """A username as Django keeps it (NFKC): "grösse" typed with a combining diaeresis, or
    "bob" in full-width letters, is the user stored as "grösse" or "bob"."""
    return unicodedata.normalize("NFKC", name)


@dataclass(frozen=True)
class AuditPage:
    documents: list[AuditDocument]
    has_more: bool


class SearchStore(Protocol):
    def ensure_schema(self) -> None:
        """Create the store's tables if they are missing (idempotent)."""

    def upsert(self, documents: list[AuditDocument]) -> None:
        """Write documents, replacing any with the same event id."""

    def search(self, query: AuditQuery, *, offset: int, limit: int) -> AuditPage:
        """Documents matching `query`, newest first (oldest first if asked). A document
        with no outcome of its own shows its object's latest (a run's `query.run` shows
        how the run ended)."""

    def count(self) -> int:
        """How many documents the store holds."""

    def event_ids(self) -> list[int]:
        """Every document's event id (tests and checks)."""

    def clear(self) -> None:
        """Remove every document (tests, and rebuilding the store from the log)."""

    def close(self) -> None: ...


_NOT_A_WORD = re.compile(r"[^\w]+")


def words_of(text: str) -> str:
    """Text as space-separated words: `public.orders` and `id=42` become `public orders`
    and `id 42`, on both sides of a search, whatever each engine's tokenizer would say."""
    return _NOT_A_WORD.sub(" ", text).strip().lower()


def table_forms(names: list[str]) -> tuple[str, ...]:
    """Each name as written and, for a qualified one, its last part too."""
    forms: set[str] = set()
    for name in names:
        lowered = name.lower()
        forms.add(lowered)
        forms.add(lowered.rsplit(".", 1)[-1])
    return tuple(sorted(forms))
