"""Characters that hide what SQL does from the person reading it, and how to show them.

An approver reads the SQL in a browser, a Chat card or a terminal, where a right-to-left
override reorders the text on screen, a zero-width space or a Hangul filler shows as
nothing, and a lone carriage return may not break the line (yet ends a PostgreSQL `--`
comment). The server reads the characters, not the picture. So every such character
raises a write's risk to high (classification) and is shown as a visible marker
wherever SQL is shown for review.
"""

import re
import unicodedata

# Blank-looking letters and marks that Unicode does not class as format characters.
_BLANK_LOOKING = "\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f"
_PATTERN = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # control characters but tab, newline and CR
    "\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufe00-\ufe0f\ufff0-\ufffb"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef"  # tags and variation selectors
    f"{_BLANK_LOOKING}"
    "]"
    r"|\r(?!\n)"  # a carriage return that does not start a CRLF
)
_NAMES = {"\r": "CARRIAGE RETURN", "\x0b": "LINE TABULATION", "\x0c": "FORM FEED"}


def characters_in(text: str) -> list[str]:
    """The hidden characters of `text`, each once, in order of appearance."""
    if text.isascii() and _PATTERN.search(text) is None:
        return []  # the common case, decided in C
    found = _PATTERN.findall(text)
    if not text.isascii():
        found.extend(character for character in text if _is_other_hidden(character))
    return list(dict.fromkeys(found))


def _is_other_hidden(character: str) -> bool:
    # Other format, private-use and unassigned characters beyond the ranges above.
    return ord(character) > 0x7F and unicodedata.category(character) in ("Cf", "Co", "Cn", "Cs")


def describe(character: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`."""
    name = _NAMES.get(character) or unicodedata.name(character, "UNNAMED CHARACTER")
    return f"U+{ord(character):04X} {name}"


def marker(character: str) -> str:
    """The visible stand-in for one hidden character."""
    return f"⟦U+{ord(character):04X}⟧"


def reveal(text: str) -> str:
    """`text` with a visible marker for each hidden character (a lone CR keeps its line
    break after the marker, so the layout the server sees stays readable)."""
    hidden = set(characters_in(text))
    if not hidden:
        return text
    return "".join(marker(c) + ("\n" if c == "\r" else "") if c in hidden else c for c in _lone_cr_split(text))


def _lone_cr_split(text: str) -> list[str]:
    # CRLF stays one unit (it is not hidden); a lone CR is its own unit.
    return re.findall(r"\r\n|[\s\S]", text)
