"""The lossless text form of one wire line: what follows ``C: `` or ``S: ``.

A transcript must replay byte for byte, yet stay readable and survive an
editor, and the lecture's lines must mean what they say when pasted in.  The
notation is therefore plain text with a *small, closed* set of escapes; any
other backslash is an ordinary character.  That matters: IMAP flags are
written ``\\Answered \\Flagged \\Seen`` (RFC 3501 2.3.2) and the lecture's
``S: * FLAGS (\\Answered \\Flagged \\Deleted \\Draft \\Seen)`` must keep its
backslashes.

Escapes (case-sensitive; nothing else is one)::

    \\\\      one backslash
    \\r      CR (0x0d)              \\t   TAB (0x09)
    \\n      LF (0x0a); at the very end of the text it is the line's
            terminator: the line ended with a bare LF instead of CRLF
    \\xHH    the byte 0xHH (exactly two hex digits, either case)
    \\$      a literal dollar (``$name`` is a variable, see variables.py)
    \\c      only at the very end: the line has no terminator at all
            (the last bytes before a close); elsewhere it is plain text

``\\*`` is *not* an escape: it stays the two characters backslash and star,
which is IMAP's ``\\*`` in ``PERMANENTFLAGS`` (RFC 3501 7.1), and it keeps
the star from acting as a wildcard in patterns.  A literal ``<redacted>`` in
user data is written ``\\x3credacted>`` so that the redaction marker can
never be confused with it.

Terminators: a line's text stands for its bytes followed by CRLF, except
that a trailing ``\\n`` means "ended with a bare LF" and a trailing ``\\c``
"no terminator".  So the lecture's HTTP line ``\\r\\n`` written as
``C: \\r\\n`` sends exactly CRLF: the blank line it means.  An LF *inside*
a CRLF line's content at its end is written ``\\x0a``.

The writer keeps printable UTF-8 as is and escapes everything else: bytes
that are not valid UTF-8, control characters (C0, DEL, C1), Unicode
separators and format characters (which could break or hide a line in an
editor or a terminal), and trailing spaces (``\\x20``, because editors eat
them).  It doubles a backslash only where the following text would
otherwise read as an escape, so ``\\Seen`` stays ``\\Seen``.

Round trip, proven by a property test over arbitrary bytes::

    unescape_line(escape_line(b)) == b
    text_to_line(line_to_text(w)) == w
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "REDACTED",
    "REDACTED_BYTES",
    "REDACTION",
    "Redaction",
    "Segment",
    "Token",
    "escape_line",
    "line_to_text",
    "segments_to_text",
    "terminator_of",
    "text_to_line",
    "tokenize",
    "unescape_line",
]

REDACTED: Final = "<redacted>"
REDACTED_BYTES: Final = REDACTED.encode("ascii")


class Redaction:
    """Marker for "a secret was here" inside a sequence of segments.

    The redactor hands the writer ``bytes`` segments and this marker, so the
    writer can print the marker literally while any ``<redacted>`` that the
    user really typed is escaped.  Use the instance ``REDACTION``; test with
    ``isinstance``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "REDACTION"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redaction)

    def __hash__(self) -> int:
        return hash(Redaction)


REDACTION: Final = Redaction()
Segment = bytes | Redaction

TokenKind = Literal["lit", "var", "star", "redacted", "noeol"]


@dataclass(frozen=True, slots=True)
class Token:
    """One unit of notation.

    ``data`` is what the token means on the wire when variables and
    wildcards are not interpreted (a variable's data is its own spelling).
    ``source`` is the text it was read from.  ``name`` is set for ``var``.
    """

    kind: TokenKind
    data: bytes
    source: str
    name: str = ""


_SIMPLE_ESCAPES: Final = {"\\": b"\\", "r": b"\r", "n": b"\n", "t": b"\t", "$": b"$"}
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_VAR_RE: Final = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")
# Characters that can start something other than plain text.
_PLAIN_RUN: Final = re.compile(r"[^\\$*<]+")


def _escape_at(text: str, i: int) -> tuple[bytes, int, bool] | None:
    """The escape starting at ``text[i] == "\\\\"``: (bytes, length, is_noeol).

    None means the backslash is an ordinary character.  The writer asks the
    same question, so reader and writer cannot disagree.
    """
    nxt = text[i + 1 : i + 2]
    if nxt in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[nxt], 2, False
    if nxt == "x":
        digits = text[i + 2 : i + 4]
        if len(digits) == 2 and digits[0] in _HEX and digits[1] in _HEX:
            return bytes([int(digits, 16)]), 4, False
        return None
    if nxt == "c" and i + 2 == len(text):
        return b"", 2, True
    return None


def _encode(chars: str) -> bytes:
    # surrogateescape: a text read with errors="surrogateescape" maps back to
    # its bytes; any other lone surrogate cannot be put on a wire.
    try:
        return chars.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        bad = chars[exc.start]
        raise ValueError(f"character U+{ord(bad):04X} cannot be encoded as UTF-8") from None


def tokenize(text: str) -> tuple[Token, ...]:
    """Split notation into tokens (escapes, variables, wildcards, markers).

    Raises ValueError only for characters that cannot be encoded (lone
    surrogates).  Whether ``var``/``star``/``redacted`` tokens mean anything
    is up to the caller: ``unescape_line`` takes them literally,
    ``variables.compile_expected`` does not.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            esc = _escape_at(text, i)
            if esc is not None:
                data, length, noeol = esc
                kind: TokenKind = "noeol" if noeol else "lit"
                tokens.append(Token(kind, data, text[i : i + length]))
                i += length
            elif text[i + 1 : i + 2] == "*":
                # IMAP's \* flag: literal, and the star is no wildcard.
                tokens.append(Token("lit", b"\\*", "\\*"))
                i += 2
            else:
                tokens.append(Token("lit", b"\\", "\\"))
                i += 1
        elif ch == "$":
            m = _VAR_RE.match(text, i)
            if m is not None:
                name = m.group(1) or m.group(2)
                tokens.append(Token("var", m.group(0).encode("ascii"), m.group(0), name))
                i = m.end()
            else:
                tokens.append(Token("lit", b"$", "$"))
                i += 1
        elif ch == "*":
            if i == 0 and text[1:2] == " ":
                # RFC 3501 2.2.2: "* " opens an untagged IMAP response; it
                # is literal so that "S: * OK" does not match "A1 OK".
                tokens.append(Token("lit", b"*", "*"))
            else:
                tokens.append(Token("star", b"*", "*"))
            i += 1
        elif ch == "<":
            if text.startswith(REDACTED, i):
                tokens.append(Token("redacted", REDACTED_BYTES, REDACTED))
                i += len(REDACTED)
            else:
                tokens.append(Token("lit", b"<", "<"))
                i += 1
        else:
            m = _PLAIN_RUN.match(text, i)
            assert m is not None  # ch is not one of the special characters
            tokens.append(Token("lit", _encode(m.group(0)), m.group(0)))
            i = m.end()
    return tuple(tokens)


def terminator_of(tokens: Sequence[Token]) -> bytes:
    """The terminator the text's last token implies: CRLF, LF (already in the
    data of a final ``\\n``) or nothing."""
    if tokens:
        last = tokens[-1]
        if last.kind == "noeol" or (last.kind == "lit" and last.source == "\\n"):
            return b""
    return b"\r\n"


# The escapes alone, for plain decoding: equivalent to joining the data of
# tokenize()'s tokens (a property test checks it), without building tokens,
# so a megabyte of escapes decodes in well under a second.
_ESCAPE_RE: Final = re.compile(r"\\(?:([\\rnt$])|x([0-9a-fA-F]{2})|c\Z)")


def _decode(text: str) -> tuple[bytes, bytes]:
    """(bytes, terminator implied by the text's end)."""
    if "\\" not in text:
        return _encode(text), b"\r\n"  # no escapes: most lines
    out = bytearray()
    pos = 0
    terminator = b"\r\n"
    for m in _ESCAPE_RE.finditer(text):
        out += _encode(text[pos : m.start()])
        simple, hexdigits = m.group(1), m.group(2)
        if simple is not None:
            out += _SIMPLE_ESCAPES[simple]
        elif hexdigits is not None:
            out.append(int(hexdigits, 16))
        pos = m.end()
        if pos == len(text) and (simple == "n" or (simple is None and hexdigits is None)):
            terminator = b""  # final \n (already in the bytes) or \c
    out += _encode(text[pos:])
    return bytes(out), terminator


def unescape_line(text: str) -> bytes:
    """The bytes a line's text stands for, without adding a terminator.

    Inverse of ``escape_line``.  ``$name``, ``*`` and ``<redacted>`` are
    taken literally here; a final ``\\c`` adds nothing.  Raises ValueError
    for characters that cannot be encoded.
    """
    return _decode(text)[0]


def text_to_line(text: str) -> bytes:
    """The exact wire bytes of a ``C:``/``S:`` text, terminator included.

    CRLF is added unless the text ends with ``\\n`` (bare LF: already in the
    bytes) or ``\\c`` (no terminator).  Inverse of ``line_to_text``.
    """
    data, terminator = _decode(text)
    return data + terminator


# ---------------------------------------------------------------- writing

_FIXED, _BACKSLASH, _DOLLAR, _SPACE, _LF, _MARK = range(6)
_NARRATION_RE: Final = re.compile(r"<[^<>]*>")
_NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_{")
_FAST_OK: Final = re.compile(r"[ -#%-\[\]-~]*")  # printable ASCII minus \ $


def _units(segments: Sequence[Segment]) -> tuple[list[str], list[int]]:
    units: list[str] = []
    kinds: list[int] = []
    for seg in segments:
        if isinstance(seg, Redaction):
            units.append(REDACTED)
            kinds.append(_MARK)
            continue
        for ch in seg.decode("utf-8", "surrogateescape"):
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:  # a byte that is not valid UTF-8
                units.append(f"\\x{code - 0xDC00:02x}")
                kinds.append(_FIXED)
            elif ch == "\\":
                units.append("\\")
                kinds.append(_BACKSLASH)
            elif ch == "$":
                units.append("$")
                kinds.append(_DOLLAR)
            elif ch == " ":
                units.append(" ")
                kinds.append(_SPACE)
            elif ch == "\n":
                units.append("\\n")
                kinds.append(_LF)
            elif ch == "\r":
                units.append("\\r")
                kinds.append(_FIXED)
            elif ch == "\t":
                units.append("\\t")
                kinds.append(_FIXED)
            elif ch.isprintable():
                units.append(ch)
                kinds.append(_FIXED)
            else:
                # Controls, separators (U+2028 would end a line in some
                # editors), format characters (bidi overrides): bytes.
                units.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8")))
                kinds.append(_FIXED)
    return units, kinds


def _render(segments: Sequence[Segment], suffix: str) -> str:
    """Notation for content segments plus a terminator suffix ("", ``\\n``
    or ``\\c``)."""
    data = [seg for seg in segments if isinstance(seg, bytes)]
    if len(data) == len(segments):
        # Fast path: plain printable ASCII needs no decision at all.  (A
        # redactor's line with nothing redacted is [content, b""] here.)
        try:
            plain = b"".join(data).decode("ascii")
        except UnicodeDecodeError:
            pass
        else:
            if (
                _FAST_OK.fullmatch(plain)
                and not plain.endswith(" ")
                and plain != "..."
                # "<" matters only where it could start a narration (the
                # whole line) or spell the redaction marker: MAIL FROM:<a@b>
                # is plain.
                and not plain.startswith("<")
                and REDACTED not in plain
            ):
                return plain + suffix
    units, kinds = _units(segments)
    n = len(units)
    if not suffix:
        # A final LF in the content of a CRLF line must not read as a
        # bare-LF terminator; trailing spaces must survive editors.
        if n and kinds[-1] == _LF:
            units[-1] = "\\x0a"
            kinds[-1] = _FIXED
        j = n - 1
        while j >= 0 and kinds[j] == _SPACE:
            units[j] = "\\x20"
            kinds[j] = _FIXED
            j -= 1
    # User text that spells the redaction marker is escaped.
    for i in range(n - len(REDACTED) + 1):
        if (
            units[i] == "<"
            and "".join(units[i : i + len(REDACTED)]) == REDACTED
            and all(k != _MARK for k in kinds[i : i + len(REDACTED)])
        ):
            units[i] = "\\x3c"
    # "$name" / "${" in data is literal: write "\$".
    for i in range(n):
        if kinds[i] == _DOLLAR:
            if i + 1 < n and kinds[i + 1] == _FIXED and units[i + 1] in _NAME_START:
                units[i] = "\\$"
            kinds[i] = _FIXED
    # Whole-line forms the parser gives another meaning: narration, elision.
    whole = "".join(units) + suffix
    if n and units[0] == "<" and kinds[0] == _FIXED and _NARRATION_RE.fullmatch(whole):
        units[0] = "\\x3c"
    elif whole == "...":
        units[0] = "\\x2e"
    # Backslashes, right to left: double one only if what follows it would
    # otherwise read as an escape (the reader's own test decides).
    out: list[str] = [suffix]
    head = suffix[:4]
    for i in range(n - 1, -1, -1):
        unit = units[i]
        if kinds[i] == _BACKSLASH and _escape_at("\\" + head, 0) is not None:
            unit = "\\\\"
        out.append(unit)
        head = (unit + head)[:4]
    out.reverse()
    return "".join(out)


def escape_line(raw: bytes) -> str:
    """Notation for the bytes of one line *without* its CRLF terminator.

    The result never contains a line break and can follow ``C: `` / ``S: ``
    as is.
    """
    return _render([raw], "")


def _split_terminator(segments: Sequence[Segment]) -> tuple[list[Segment], str]:
    parts = list(segments)
    last = parts[-1] if parts else b""
    if isinstance(last, bytes):
        suffix = "" if last.endswith(b"\r\n") else "\\n" if last.endswith(b"\n") else None
        if suffix is not None:
            last = last[: -2 if suffix == "" else -1]
            if last or len(parts) == 1:
                parts[-1] = last
            else:
                # The redactor's [content, b"\r\n"]: one segment again, so a
                # plain line takes _render's fast path (60,000 lines of a
                # recorded RETR: 1.8 s -> a tenth of it).
                parts.pop()
            return parts, suffix
    return parts, "\\c"


def line_to_text(wire: bytes) -> str:
    """Notation for one line as it was on the wire, terminator included.

    CRLF is implied; a bare LF terminator is written as a final ``\\n``; no
    terminator as a final ``\\c``.
    """
    parts, suffix = _split_terminator([wire])
    return _render(parts, suffix)


def segments_to_text(segments: Sequence[Segment]) -> str:
    """Like ``line_to_text`` for a line cut into bytes and ``REDACTION``
    markers (what ``Redactor`` returns): markers are written ``<redacted>``,
    everything else is escaped as usual."""
    parts, suffix = _split_terminator(segments)
    return _render(parts, suffix)
