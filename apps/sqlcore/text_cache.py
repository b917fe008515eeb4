"""Results of pure functions of SQL text, kept per process for the texts seen lately.

A dashboard sends the same few queries again and again, and every read scans its text
more than once (classification, credential rule, placeholders): for a one-row read from
the cache those scans were a tenth of the request. Texts up to SHORT_TEXT_CHARS are
kept (MAX_TEXTS of them per function), so the memory they take stays small; longer ones
are scanned each time (a classification cache without that bound could hold 512 long
scripts in a worker). Only functions whose answer is immutable and depends
on nothing but their arguments may be wrapped.
"""

from collections.abc import Callable, Hashable
from functools import lru_cache, wraps
from typing import TypeVar

SHORT_TEXT_CHARS = 10_000
MAX_TEXTS = 512

R = TypeVar("R")


def kept_for_short_texts(function: Callable[..., R]) -> Callable[..., R]:
    """`function(sql, *more)`, remembered for short `sql`; its arguments are positional and
    hashable."""
    remembered = lru_cache(maxsize=MAX_TEXTS)(function)

    @wraps(function)
    def answer(sql: str, *more: Hashable) -> R:
        if isinstance(sql, str) and len(sql) <= SHORT_TEXT_CHARS:
            return remembered(sql, *more)
        return function(sql, *more)

    return answer
