r"""A dialect-aware SQL scanner: where code is, where statements end, where placeholders sit.

This is the lexical ground the classifier stands on, so it follows each engine's own
lexer rather than a generic one. sqlparse, the usual Python SQL tokeniser, lexes a
single generic dialect: backslash escapes in every string, `#` comments everywhere, no
nested comments, MySQL's executable `/*! … */` comments as comments. Each of those is a
disguise in one of our dialects (a nested PostgreSQL comment or a `/*! DROP … */` would
hide code from it), and `sqlparse.parse` classifies ~1,000 statements/s where we need
10,000+. So the scanner is one compiled regular expression per dialect, plus hand code for
the two things regexes cannot do: nested comments and `$tag$` quotes.

Rules per dialect (what each server does, which is what matters):
- PostgreSQL: `--` and nested `/* */` comments; '…' strings with '' (backslash is not an
  escape: the connector pins standard_conforming_strings=on); E'…' strings with backslash
  escapes; "…" identifiers; $tag$…$tag$ quotes; `::` casts; the colon of an array
  slice `a[x:y]` (in brackets, after an operand), which is no `:y` placeholder; U&"…"
  identifiers and U&'…' strings whose `\XXXX`, `\+XXXXXX` escapes (or another escape character named by
  UESCAPE 'c') are resolved here, so `U&"dblink_exe\0063"` reaches the rules as the name
  the server will call: dblink_exec.
- MySQL/MariaDB: `#`, `-- ` (dash dash *space*) and `/* */` comments, not nested;
  `/*! … */`, `/*!50100 … */` and `/*M! … */` are *executed* by the server, so their content
  is code; '…' and "…" strings with backslash escapes (the connector switches
  NO_BACKSLASH_ESCAPES and ANSI_QUOTES off); `…` identifiers; `:=`.
- SQLite: `--` and `/* */` comments; '…' strings; "…", `…` and […] identifiers.

Anything left open (string, identifier, comment, quote) becomes an ERROR token that runs to
the end of the text, which the classifier treats as unparsable, hence a write.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from apps.sqlcore.text_cache import kept_for_short_texts

# Token kinds
WORD = "word"  # keyword or bare identifier
QIDENT = "qident"  # quoted identifier
STRING = "string"  # any string constant, dollar quotes included
NUMBER = "number"
PARAM = "param"  # $1 or :name (our API's placeholders)
OP = "op"  # `::` and `:=`, which decide what a colon means
PUNCT = "punct"  # any other single character
ERROR = "error"  # unterminated string/identifier/comment, or a NUL byte


class Token(NamedTuple):
    kind: str
    start: int
    end: int
    value: str  # WORD: upper-cased ASCII (`_word_value`); QIDENT: the name, folded (`fold_name`); else the text


@dataclass(frozen=True)
class Placeholder:
    """A `$n` or `:name` placeholder in code, at sql[start:end]."""

    style: Literal["positional", "named"]
    key: int | str
    start: int
    end: int


@dataclass(frozen=True)
class Statement:
    """One statement: its exact text (comments kept) and its code tokens."""

    text: str
    tokens: tuple[Token, ...]


_WS = r"[ \t\n\r\f\v]+"
_IDENT_START = r"A-Za-z_\x80-\U0010ffff"
_IDENT_CHAR = r"A-Za-z0-9_$\x80-\U0010ffff"
_PLAIN_STRING = r"'[^']*(?:''[^']*)*'"
_BACKSLASH_STRING = r"'[^'\\]*(?:(?:\\[\s\S]|'')[^'\\]*)*'"
_NAMED_PARAM = r":[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?"
_OPEN_QUOTE = r"['\"`\[]"  # reached only when the complete forms above did not match


def _pattern(dialect: str) -> re.Pattern[str]:
    if dialect == "postgresql":
        alternatives = [
            ("ws", _WS),
            ("comment", r"--[^\n\r]*"),  # PostgreSQL ends it at \r too
            ("block", r"/\*"),  # nested: scanned by hand
            ("string", rf"[Ee]{_BACKSLASH_STRING}|{_PLAIN_STRING}"),
            ("qident", r'"[^"]*(?:""[^"]*)*"'),
            ("dollar", rf"\$(?:[{_IDENT_START}][A-Za-z0-9_\x80-\U0010ffff]*)?\$"),
            ("param", r"\$\d+"),
            ("op", r"::|:="),
            ("named", _NAMED_PARAM),
            ("number", _NUMBER),
            # Before "word", which would take the U; late, as the rarest of the forms.
            ("uident", r'[Uu]&"[^"]*(?:""[^"]*)*"'),
            ("ustring", r"[Uu]&'[^']*(?:''[^']*)*'"),
            ("word", rf"[{_IDENT_START}][{_IDENT_CHAR}]*"),
            ("open", r"['\"]"),
        ]
    elif dialect == "mysql":
        alternatives = [
            ("ws", _WS),
            # `--` starts a comment only before a space or control character.
            ("comment", r"#[^\n]*|--(?=[\x00-\x20\x7f]|\Z)[^\n]*"),
            ("exec", r"/\*M?!\d*"),  # executable comment: its content is code
            ("block", r"/\*[\s\S]*?\*/"),
            ("close", r"\*/"),
            ("string", _BACKSLASH_STRING + "|" + _BACKSLASH_STRING.replace("'", '"')),
            ("qident", r"`[^`]*(?:``[^`]*)*`"),
            ("param", r"\$\d+(?![A-Za-z0-9_$\x80-\U0010ffff])"),
            ("op", r"::|:="),
            ("named", _NAMED_PARAM),
            ("number", r"(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?"),
            ("word", r"[A-Za-z0-9_$\x80-\U0010ffff]+"),  # MySQL identifiers may start with a digit
            ("open", r"['\"`]|/\*"),
        ]
    elif dialect == "sqlite":
        alternatives = [
            ("ws", _WS),
            ("comment", r"--[^\n]*"),
            ("block", r"/\*[\s\S]*?\*/"),
            ("string", _PLAIN_STRING),
            ("qident", r'"[^"]*(?:""[^"]*)*"|`[^`]*(?:``[^`]*)*`|\[[^\]]*\]'),
            ("param", r"\$\d+(?![A-Za-z0-9_$\x80-\U0010ffff])"),
            ("op", r"::|:="),
            ("named", _NAMED_PARAM),
            ("number", _NUMBER),
            ("word", rf"[{_IDENT_START}][{_IDENT_CHAR}]*"),
            ("open", _OPEN_QUOTE + r"|/\*"),
        ]
    else:
        raise ValueError(f"unknown SQL dialect: {dialect!r}")
    alternatives.append(("punct", r"[\s\S]"))
    return re.compile("|".join(f"(?P<{name}>{regex})" for name, regex in alternatives))


@lru_cache(maxsize=4)
def _compiled(dialect: str) -> re.Pattern[str]:
    return _pattern(dialect)


_NESTED_COMMENT_MARK = re.compile(r"/\*|\*/")


def _end_of_nested_comment(sql: str, position: int) -> int:
    """End of the PostgreSQL comment whose `/*` ends at `position`, or -1 if it never closes."""
    depth = 1
    for mark in _NESTED_COMMENT_MARK.finditer(sql, position):
        depth += 1 if mark.group() == "/*" else -1
        if depth == 0:
            return mark.end()
    return -1


def scan(
    sql: str, dialect: str, *, executable_comments: bool = True, server: tuple[str, int] | None = None
) -> list[Token]:
    """The code tokens of `sql` (whitespace and comments dropped), with their offsets.

    The text is read as the server reads it through our connectors, which pin the
    settings that change quoting. `executable_comments=False` gives the other reading a
    MySQL server may make: a versioned `/*!50700 … */` comment its version skips.
    `server` ("mariadb" or "mysql", version): the reading of that server, which runs the
    versioned comments up to its version and skips the others (`readings`).
    """
    if "\x00" in sql:
        # Servers disagree on NUL (MySQL ends a comment there); we refuse to guess.
        return [Token(ERROR, sql.index("\x00"), len(sql), "NUL byte in SQL text")]
    if server is not None and server[0] == _TOO_MANY_VERSIONS:
        return [Token(ERROR, 0, len(sql), f"more than {MAX_COMMENT_VERSIONS} versions of executable comments")]
    pattern = _compiled(dialect)
    tokens: list[Token] = []
    append = tokens.append
    length = len(sql)
    position = 0
    in_executable_comment = False
    brackets = 0  # depth of PostgreSQL subscripts, where `x:y` is a slice
    slices = dialect == "postgresql"
    while position < length:
        match = pattern.match(sql, position)
        assert match is not None  # the pattern's last alternative matches any character
        kind, start, end = match.lastgroup, match.start(), match.end()
        if kind in ("ws", "comment", "block"):
            if kind == "block" and dialect == "postgresql":
                end = _end_of_nested_comment(sql, end)
                if end < 0:
                    append(Token(ERROR, start, length, "unterminated comment"))
                    break
            position = end
        elif kind == "word":
            word = _word_value(sql[start:end])
            if word == "UESCAPE" and tokens and sql.startswith(("U&", "u&"), tokens[-1].start):
                # _unicode_literal reads the clause itself; one left over was out of its reach
                # (a nested comment before it), so the literal may have been misread.
                append(Token(ERROR, start, length, "UESCAPE clause that could not be read"))
                break
            append(Token(WORD, start, end, word))
            position = end
        elif kind == "punct":
            character = sql[start]
            if character == "[":
                brackets += 1
            elif character == "]" and brackets:
                brackets -= 1
            append(Token(PUNCT, start, end, character))
            position = end
        elif kind == "named" and brackets and slices and tokens and _ends_operand(tokens[-1]):
            # `a[x:y]`: the colon of an array slice, after its lower bound; `y` is the
            # upper bound, scanned next as a word, not a placeholder. (`a[:lo]` is one.)
            append(Token(PUNCT, start, start + 1, ":"))
            position = start + 1
        elif kind == "string":
            append(Token(STRING, start, end, ""))
            position = end
        elif kind == "qident":
            append(Token(QIDENT, start, end, fold_name(sql[start + 1 : end - 1])))
            position = end
        elif kind == "number":
            append(Token(NUMBER, start, end, sql[start:end]))
            position = end
        elif kind in ("param", "named", "op"):
            append(Token(OP if kind == "op" else PARAM, start, end, sql[start:end]))
            position = end
        elif kind in ("uident", "ustring"):
            token, position = _unicode_literal(sql, match)
            append(token)
            if token.kind == ERROR:
                break
        elif kind == "dollar":
            closing = sql.find(match.group(), end)
            if closing < 0:
                append(Token(ERROR, start, length, "unterminated dollar-quoted string"))
                break
            position = closing + (end - start)
            append(Token(STRING, start, position, ""))
        elif kind == "exec":
            content, runs = _versioned_comment(sql, start, end, server)
            if executable_comments and runs:
                in_executable_comment = True
                position = content
            else:
                closing = sql.find("*/", end)
                if closing < 0:
                    append(Token(ERROR, start, length, "unterminated comment"))
                    break
                position = closing + 2
        elif kind == "close":
            if in_executable_comment:
                in_executable_comment = False
                position = end
            else:  # a `*` operator followed by something else
                append(Token(PUNCT, start, start + 1, "*"))
                position = start + 1
        else:  # "open": a quote or comment that never closes
            append(Token(ERROR, start, length, f"unterminated {_describe_open(sql[start])}"))
            break
    if in_executable_comment:
        append(Token(ERROR, length, length, "unterminated executable comment"))
    return tokens


def fold_name(name: str) -> str:
    """`name` in lower case, one character for one: how names are compared everywhere.

    Python's `upper()` is not: it spells `ß` as `SS` (and the long s as `S`), so a function
    named `größe` became `grösse`, which no catalog knows, and a read called it unasked.
    The servers never fold that way: PostgreSQL folds ASCII letters only, MariaDB looks
    names up with a simple (one-to-one) case mapping. İ is the one letter whose Python
    lower case is two characters."""
    return name.lower() if name.isascii() else name.replace("\u0130", "i").lower()


_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _word_value(word: str) -> str:
    """A WORD's value: upper case in ASCII, where every keyword is; other letters in
    lower case (`fold_name`), so `value.lower()` is the folded name."""
    return word.upper() if word.isascii() else fold_name(word).translate(_ASCII_UPPER)


_OPERATOR_CHARACTERS = frozenset("+-*/<>=~!@#%^&|`?")


def operator_runs(tokens: tuple[Token, ...] | list[Token]) -> list[str]:
    """Every operator written in `tokens`: each run of adjacent operator characters, whole
    (`===`, `<=`, `OPERATOR(public.===)`'s `===`)."""
    runs: list[str] = []
    end = -1
    for token in tokens:
        if token.kind == PUNCT and token.value in _OPERATOR_CHARACTERS:
            if token.start == end:
                runs[-1] += token.value
            else:
                runs.append(token.value)
            end = token.end
    return runs


_OPERAND_KINDS = frozenset({WORD, QIDENT, STRING, NUMBER, PARAM})


def _ends_operand(token: Token) -> bool:
    return token.kind in _OPERAND_KINDS or (token.kind == PUNCT and token.value in ")]")


# What may stand between a U& literal and its UESCAPE clause: whitespace and comments
# (a nested comment there is not matched, which leaves UESCAPE to be refused above).
_GAP = r"(?:[ \t\n\r\f\v]+|--[^\n\r]*|/\*(?:(?!/\*|\*/)[\s\S])*\*/)*"
_UESCAPE_CLAUSE = re.compile(_GAP + r"[Uu][Ee][Ss][Cc][Aa][Pp][Ee]" + _GAP + r"'([^']|'')'")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_HEX6 = re.compile(r"[0-9A-Fa-f]{6}")
_BAD_ESCAPE_CHARACTERS = frozenset("0123456789abcdefABCDEF+'\" \t\n\r\f\v")


def _unicode_literal(sql: str, match: re.Match[str]) -> tuple[Token, int]:
    """A U&"…" identifier or U&'…' string, resolved as PostgreSQL resolves it; an escape
    the server would refuse makes an ERROR token (the statement cannot be read)."""
    start, end = match.start(), match.end()
    quote = sql[start + 2]
    body = sql[start + 3 : end - 1].replace(quote * 2, quote)
    escape = "\\"
    clause = _UESCAPE_CLAUSE.match(sql, end)
    if clause is not None:
        escape = clause.group(1).replace("''", "'")
        end = clause.end()
    resolved = None if escape in _BAD_ESCAPE_CHARACTERS else _unescape_unicode(body, escape)
    if resolved is None:
        return Token(ERROR, start, len(sql), "invalid Unicode escape"), len(sql)
    if quote == "'":
        return Token(STRING, start, end, ""), end
    return Token(QIDENT, start, end, fold_name(resolved)), end


def _unescape_unicode(body: str, escape: str) -> str | None:
    """`body` with escape+XXXX, escape++XXXXXX and escape+escape resolved (UTF-16
    surrogate pairs combined); None where PostgreSQL would raise an error."""
    out: list[str] = []
    index = 0
    pending_high = None  # a high surrogate waiting for its low half
    while index < len(body):
        character = body[index]
        if character != escape:
            if pending_high is not None:
                return None
            out.append(character)
            index += 1
            continue
        if body.startswith(escape, index + 1):
            if pending_high is not None:
                return None
            out.append(escape)
            index += 2
            continue
        if body.startswith("+", index + 1) and _HEX6.fullmatch(body, index + 2, index + 8):
            code, index = int(body[index + 2 : index + 8], 16), index + 8
        elif _HEX4.fullmatch(body, index + 1, index + 5):
            code, index = int(body[index + 1 : index + 5], 16), index + 5
        else:
            return None
        if 0xD800 <= code <= 0xDBFF:
            if pending_high is not None:
                return None
            pending_high = code
            continue
        if 0xDC00 <= code <= 0xDFFF:
            if pending_high is None:
                return None
            code, pending_high = 0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00), None
        elif pending_high is not None:
            return None
        if code == 0 or code > 0x10FFFF:
            return None
        out.append(chr(code))
    return None if pending_high is not None else "".join(out)


def _describe_open(character: str) -> str:
    return {"'": "string", '"': "quoted string or identifier", "`": "quoted identifier", "[": "quoted identifier"}.get(
        character, "comment"
    )


# Statements whose body may hold `;` (procedure and trigger bodies, PostgreSQL rules).
_BLOCK_OPENERS = frozenset({"BEGIN", "CASE"})
_END_FOLLOWERS = frozenset({"IF", "LOOP", "WHILE", "REPEAT"})


def split_tokens(sql: str, tokens: list[Token]) -> list[Statement]:
    """Cut a token list at top-level `;` into statements; comment-only pieces are dropped."""
    statements: list[Statement] = []
    piece_start = 0  # offset in sql where the current statement's text begins
    current: list[Token] = []
    in_create = False
    depth = 0  # BEGIN…END and parenthesis depth, tracked inside CREATE only
    index = 0
    count = len(tokens)
    while index < count:
        token = tokens[index]
        index += 1
        if token.kind == PUNCT and token.value == ";" and depth == 0:
            if current:
                statements.append(Statement(sql[piece_start : token.start].strip(), tuple(current)))
            current, in_create, piece_start = [], False, token.end
            continue
        if not current:
            in_create = token.kind == WORD and token.value == "CREATE"
        current.append(token)
        if in_create:
            depth = _block_depth(depth, token, tokens, index)
            if depth < 0:
                depth = 0
    if current:
        statements.append(Statement(sql[piece_start:].strip(), tuple(current)))
    return statements


def _block_depth(depth: int, token: Token, tokens: list[Token], next_index: int) -> int:
    if token.kind == PUNCT:
        return depth + 1 if token.value == "(" else depth - 1 if token.value == ")" else depth
    if token.kind != WORD:
        return depth
    if token.value in _BLOCK_OPENERS:
        return depth + 1
    if token.value == "END":
        following = tokens[next_index] if next_index < len(tokens) else None
        if following is not None and following.kind == WORD and following.value in _END_FOLLOWERS:
            return depth  # END IF / END LOOP …: their openers were not counted
        return depth - 1
    return depth


def statements_of(
    sql: str, dialect: str, *, executable_comments: bool = True, server: tuple[str, int] | None = None
) -> list[Statement]:
    """Scan and split in one call."""
    return split_tokens(sql, scan(sql, dialect, executable_comments=executable_comments, server=server))


# Beyond this many distinct comment versions the readings are not all made: the text is
# refused as unreadable (no real statement needs them).
MAX_COMMENT_VERSIONS = 16
_TOO_MANY_VERSIONS = "too many versions"
_COMMENT_MARK = re.compile(r"/\*(M?)!(\d*)")


def _comment_version(marker: str, digits: str, family: str) -> tuple[int | None, int]:
    """The version a `family` server reads after `/*!` or `/*M!` and how many of `digits`
    it takes: five (MariaDB: six when there are six), fewer is no version at all."""
    if len(digits) < 5:
        return None, 0
    taken = 6 if family == "mariadb" and len(digits) >= 6 else 5
    return int(digits[:taken]), taken


def _versioned_comment(sql: str, start: int, end: int, server: tuple[str, int] | None) -> tuple[int, bool]:
    """Where the code of the executable comment at sql[start:end] (its mark and digits)
    starts, and whether `server` runs it; None: every comment runs (MariaDB's digits)."""
    marker = "/*M!" if sql.startswith("/*M!", start) else "/*!"
    digits = sql[start + len(marker) : end]
    family, limit = server if server is not None else ("mariadb", None)
    version, taken = _comment_version(marker, digits, family)
    content = start + len(marker) + taken
    if family == "mysql" and marker == "/*M!":
        return content, False  # MySQL reads /*M! as a plain comment
    if limit is not None and limit < 0:
        return content, False
    return content, version is None or limit is None or version <= limit


def readings(sql: str, dialect: str) -> list[dict[str, Any]]:
    """The ways a server may read `sql`, as keyword arguments for `statements_of`: one,
    or on MySQL with executable comments every reading a server may make. A server runs
    a versioned comment up to its own version and skips the later ones, so with several
    versions one text has a reading per version (MariaDB and MySQL apart: MySQL skips
    `/*M!`), besides the first (every comment run) and the one that skips them all.
    Whatever must hold for the text must hold for every reading."""
    if dialect != "mysql" or ("/*!" not in sql and "/*M!" not in sql):
        return [{}]
    found: list[dict[str, Any]] = [{}, {"executable_comments": False}]
    for family in ("mariadb", "mysql"):
        versions = {-1}
        for mark in _COMMENT_MARK.finditer(sql):
            version, _ = _comment_version(mark.group(1), mark.group(2), family)
            if version is not None:
                versions.add(version)
        if len(versions) > MAX_COMMENT_VERSIONS:
            return [{}, {"server": (_TOO_MANY_VERSIONS, 0)}]
        found.extend({"server": (family, version)} for version in sorted(versions))
    return found


_TOO_BIG = 10**18


def find_placeholders(sql: str, dialect: str) -> list[Placeholder]:
    """`$n` and `:name` placeholders in code; never inside strings, comments or quoted names."""
    return list(_placeholders(sql, dialect))


@kept_for_short_texts
def _placeholders(sql: str, dialect: str) -> tuple[Placeholder, ...]:
    placeholders = []
    for token in scan(sql, dialect):
        if token.kind != PARAM:
            continue
        if token.value[0] == "$":
            digits = token.value[1:]
            # Beyond 18 digits every number is "too big" alike; int() of thousands of digits
            # would be slow, or refused outright by Python.
            number = int(digits) if len(digits) <= 18 else _TOO_BIG
            placeholders.append(Placeholder("positional", number, token.start, token.end))
        else:
            placeholders.append(Placeholder("named", token.value[1:], token.start, token.end))
    return tuple(placeholders)


_QUERY_HEADS = frozenset({"SELECT", "WITH", "VALUES", "TABLE"})


def single_query_text(sql: str, dialect: str) -> str | None:
    """The text of `sql` if it is one query that can stand inside a subquery
    (SELECT, WITH, VALUES, TABLE, with balanced parentheses); else None."""
    statements = statements_of(sql, dialect)
    if len(statements) != 1:
        return None
    tokens = statements[0].tokens
    depth = 0
    for token in tokens:
        if token.kind == ERROR:
            return None
        if token.kind == PUNCT and token.value in "()":
            depth += 1 if token.value == "(" else -1
            if depth < 0:
                return None
    head = next((token for token in tokens if not (token.kind == PUNCT and token.value == "(")), None)
    if depth or head is None or head.kind != WORD or head.value not in _QUERY_HEADS:
        return None
    return statements[0].text
