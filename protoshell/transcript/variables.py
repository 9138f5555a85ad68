"""``$name`` variables and ``*`` wildcards in transcript lines.

A server puts values in its replies that a later command needs (an IMAP
``UIDVALIDITY``, a POP3 APOP timestamp, a message number); a password must
not be stored in the transcript at all.  Both are variables:

``S:`` lines (expected text, see ``compile_expected``)
    ``$name`` (or ``${name}``) captures one or more characters that are not
    space, TAB, CR or LF, and as few of them as let the rest of the line
    match: it stops at the next literal character of the pattern, so
    ``[UIDVALIDITY $uv]`` captures the number without the ``]``.  A name
    used twice in one line must capture the same text both times.  Every
    ``$name`` captures afresh; nothing is compared with an older value.
    ``*`` matches any run of characters, possibly empty (the checker uses the
    whole-line match only under ``--strict``), except a ``*`` that opens the
    line followed by a space: that is IMAP's untagged marker (RFC 3501
    2.2.2) and literal.  ``<redacted>`` matches like ``*``: a recorded
    ``Set-Cookie`` value can never match again anyway.
``C:`` lines (text to send, see ``substitute``)
    ``$name`` is replaced by the variable's value; ``*`` is just a star
    (``A1 LIST "" *``).  A line still holding ``<redacted>`` is refused:
    edit ``C: PASS <redacted>`` into ``C: PASS $password`` and replay with
    ``--set password=...``.

Literals: ``\\$`` is a dollar; ``\\*`` is the two characters backslash and
star (IMAP's ``\\*`` flag), never a wildcard; a lone literal star in a
pattern is ``\\x2a``.  Everything else follows escape.py.

Values are stored in transcript notation, exactly as ``escape_line`` writes
the captured bytes, so they go back on the wire byte for byte.  A value
coming from outside (``--set name=value``) should be stored as
``escape_line(value.encode())``; stored as typed, ``\\x41`` in it means "A".

The whole-line pattern is a Python regular expression built from the
tokens; lines are short in practice, but a pattern with many wildcards
against a megabyte-long line can be slow (backtracking).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Final

from .escape import (
    Token,
    escape_line,
    line_to_text,
    terminator_of,
    text_to_line,
    tokenize,
    unescape_line,
)

__all__ = [
    "Pattern",
    "RedactedLineError",
    "VariableError",
    "compile_expected",
    "is_redacted",
    "match_expected",
    "substitute",
    "substitute_bytes",
    "variables_in",
]

_CAPTURE: Final = rb"[^ \t\r\n]+?"
_ANY: Final = rb".*?"


class VariableError(ValueError):
    """A ``C:`` line names variables that have no value; ``names`` lists them
    in order of first use."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        listed = ", ".join(f"${n}" for n in names)
        plural = "s" if len(names) > 1 else ""
        super().__init__(
            f"unknown variable{plural} {listed} (capture it from an S: line or pass --set NAME=VALUE)"
        )


class RedactedLineError(ValueError):
    """A ``C:`` line still holds ``<redacted>``: the secret was never recorded."""

    def __init__(self) -> None:
        super().__init__(
            "this line was redacted when it was recorded: write $name where it says "
            "<redacted> and pass --set name=..."
        )


class Pattern:
    """A compiled expected line.  ``names``: variables it captures.

    The regular expression is compiled when first needed: a replay checked
    by status alone (the default) asks only for ``names``, and compiling one
    per distinct line of a 60,000-line RETR took seconds."""

    __slots__ = ("_body", "_regex", "names", "text")

    def __init__(self, text: str, body: bytes, names: tuple[str, ...]) -> None:
        self.text = text
        self.names = names
        self._body = body
        self._regex: re.Pattern[bytes] | None = None

    @property
    def regex(self) -> re.Pattern[bytes]:
        if self._regex is None:
            self._regex = re.compile(self._body, re.DOTALL)
        return self._regex

    def match(self, actual: bytes | str) -> dict[str, str] | None:
        """Captured variables if the whole line matches, else None.

        ``actual`` is the line as received, terminator included
        (``ServerLine.raw``), or transcript notation (a ``str``, turned into
        bytes with ``text_to_line``).  Values come back in notation.
        """
        data = text_to_line(actual) if isinstance(actual, str) else actual
        m = self.regex.fullmatch(data)
        if m is None:
            return None
        return {name: escape_line(m.group(name)) for name in self.names}


def _pattern_bytes(tokens: tuple[Token, ...]) -> tuple[bytes, tuple[str, ...]]:
    parts: list[bytes] = []
    names: list[str] = []
    for tok in tokens:
        if tok.kind == "lit":
            parts.append(re.escape(tok.data))
        elif tok.kind == "var":
            if tok.name in names:
                parts.append(b"(?P=" + tok.name.encode("ascii") + b")")
            else:
                names.append(tok.name)
                parts.append(b"(?P<" + tok.name.encode("ascii") + b">" + _CAPTURE + b")")
        elif tok.kind in ("star", "redacted") and (not parts or parts[-1] != _ANY):
            parts.append(_ANY)  # "**" is "*": fewer backtracking paths
        # "noeol" adds no bytes; the terminator is appended by the caller.
    parts.append(re.escape(terminator_of(tokens)))
    return b"".join(parts), tuple(names)


@functools.lru_cache(maxsize=512)
def compile_expected(text: str) -> Pattern:
    """Compile an ``S:`` line's text into a whole-line pattern (see module doc).

    The pattern includes the terminator the text implies (CRLF unless the
    text ends with ``\\n`` or ``\\c``).  Raises ValueError for text that
    cannot be encoded.
    """
    body, names = _pattern_bytes(tokenize(text))
    return Pattern(text, body, names)


def match_expected(text: str, actual: bytes | str) -> dict[str, str] | None:
    """``compile_expected(text).match(actual)``: captures, or None."""
    return compile_expected(text).match(actual)


def variables_in(text: str) -> tuple[str, ...]:
    """Variable names a line uses, in order of first use."""
    seen: list[str] = []
    for tok in tokenize(text):
        if tok.kind == "var" and tok.name not in seen:
            seen.append(tok.name)
    return tuple(seen)


def is_redacted(text: str) -> bool:
    """Whether a line still holds the ``<redacted>`` marker (user text that
    spells it is written ``\\x3credacted>`` and does not count)."""
    return any(tok.kind == "redacted" for tok in tokenize(text))


def substitute_bytes(text: str, variables: Mapping[str, str]) -> bytes:
    """The wire bytes of a ``C:`` line with its variables replaced,
    terminator included.

    Raises ``RedactedLineError`` if the line holds ``<redacted>``,
    ``VariableError`` listing every unknown name, ValueError for text that
    cannot be encoded.
    """
    tokens = tokenize(text)
    if any(tok.kind == "redacted" for tok in tokens):
        raise RedactedLineError()
    missing = tuple(
        dict.fromkeys(t.name for t in tokens if t.kind == "var" and t.name not in variables)
    )
    if missing:
        raise VariableError(missing)
    out: list[bytes] = []
    for tok in tokens:
        out.append(unescape_line(variables[tok.name]) if tok.kind == "var" else tok.data)
    out.append(terminator_of(tokens))
    return b"".join(out)


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """A ``C:`` line's text with its variables replaced, in notation (what
    the shell shows before sending); same errors as ``substitute_bytes``.

    The result is re-escaped from the bytes, so a value can never turn the
    text around it into an escape.
    """
    return line_to_text(substitute_bytes(text, variables))
