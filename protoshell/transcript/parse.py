"""Read the lecture's notation into a ``Transcript``.

One file line is one step.  What a line may be (leading spaces and TABs are
ignored, so an indented block pasted from a page parses too):

``C: text`` / ``S: text``
    A line the client sends / the server must send; exactly one space after
    the colon, the rest is the line in escape.py notation.  ``C:`` or ``S:``
    alone is the empty line (HTTP's blank line after the headers).  Special
    whole texts: ``<...>`` (no ``<``/``>`` inside) is a ``Narration``;
    ``...`` an elision; ``<CRLF>`` is the lecture's spelling of the empty
    line; ``<redacted>`` is a redacted line, not a narration.
unprefixed ``<...>`` or ``...``
    Narration, as in the lecture's IMAP example (``<server sends 1425
    octets of message payload>`` follows ``S: * 1 FETCH ... {1425}``
    without a prefix).  It is the client's if the text starts with
    "client" (or "the client"), else the server's.
``# text``
    A comment.  A first line ``# protoshell transcript · key: value · ...``
    is the header instead.
``:command args``
    A meta-command, returned as data (``Meta``); never run by the parser.
blank lines
    Ignored.

The lecture's HTTP examples have no prefixes at all; to replay one, give
each line its side and write the blank line as ``C:``, ``C: <CRLF>`` or
``C: \\r\\n`` (all three are the bytes CRLF)::

    C: GET /index.html HTTP/1.1
    C: Host: www.example.com
    C: \\r\\n
    S: HTTP/1.1 200 OK
    S: Content-Length: 438
    S:
    <438 bytes of content>

Any other unprefixed line is an error: guessing its side could send a typo
to a server.  Errors are ``TranscriptError`` with ``file:line: message``.
"""

from __future__ import annotations

import functools
import re
from types import MappingProxyType
from typing import Final, TextIO

from .escape import REDACTED, text_to_line
from .model import (
    ClientLine,
    Comment,
    Meta,
    Narration,
    NarrationKind,
    ServerLine,
    Side,
    Step,
    Transcript,
)

__all__ = ["HEADER_PREFIX", "TranscriptError", "parse_transcript", "read_transcript"]

HEADER_PREFIX: Final = "# protoshell transcript"


class TranscriptError(ValueError):
    """A transcript line that cannot be read.  ``str()`` is one line:
    ``file:line: what was expected``."""

    def __init__(self, filename: str, lineno: int, message: str) -> None:
        super().__init__(filename, lineno, message)
        self.filename = filename
        self.lineno = lineno
        self.message = " ".join(message.split("\n"))

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno}: {self.message}"


_NARRATION: Final = re.compile(r"<([^<>]*)>")
_META: Final = re.compile(r":([A-Za-z][A-Za-z0-9_-]*)(?:[ \t]+(.*))?")
_HEADER_KEY: Final = re.compile(r"([A-Za-z][A-Za-z0-9_-]*): (.*)")
_HEADER_SEP: Final = re.compile(r"\s+[·|]\s+")
_CONNECT: Final = re.compile(r"\bconnect(?:s|ed|ing)?\b", re.IGNORECASE)
_PORT: Final = re.compile(r"\bport\s+(\d{1,6})\b", re.IGNORECASE)
_HANGUP: Final = re.compile(
    r"\b(?:hangs?\s+up|hung\s+up|hang-?up|clos(?:es|ed|ing)|disconnect(?:s|ed)?)\b", re.IGNORECASE
)
_OCTETS: Final = re.compile(r"\b(\d{1,18})\s+(?:octets?|bytes?)\b", re.IGNORECASE)
_SENDS: Final = re.compile(r"\bsend(?:s|ing)?\b", re.IGNORECASE)
_CLIENT_FIRST: Final = re.compile(r"(?:the\s+)?client\b", re.IGNORECASE)


def _show(text: str, limit: int = 60) -> str:
    shown = repr(text if len(text) <= limit else text[:limit] + "...")
    # A byte that is not UTF-8, read with surrogateescape, as \xNN (not \udcNN).
    return re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", shown)


def _narration(side: Side, inner: str, lineno: int, filename: str) -> Narration:
    kind: NarrationKind = "other"
    port: int | None = None
    octets: int | None = None
    if _CONNECT.search(inner):
        kind = "connect"
        m = _PORT.search(inner)
        if m is not None:
            port = int(m.group(1))
            if not 0 < port < 65536:
                raise TranscriptError(filename, lineno, f"port {port} is not between 1 and 65535")
    elif _HANGUP.search(inner):
        kind = "hangup"
    else:
        m = _OCTETS.search(inner)
        if m is not None:
            kind = "payload"
            octets = int(m.group(1))
        elif _SENDS.search(inner):
            kind = "payload"
    return Narration(side, inner, lineno, kind, port, octets)


# A long transcript repeats its lines ("S: 250 OK"): each is decoded once.
_line_bytes: Final = functools.lru_cache(maxsize=1024)(text_to_line)


def _side_line(side: Side, text: str, lineno: int, filename: str) -> Step:
    if text == "...":
        return Narration(side, "...", lineno, "elision")
    if text == "<CRLF>":
        # The lecture's name for the empty line (HTTP's end of headers).
        text = ""
    m = _NARRATION.fullmatch(text) if text[:1] == "<" else None
    if m is not None and text != REDACTED:
        return _narration(side, m.group(1), lineno, filename)
    try:
        raw = _line_bytes(text)
    except ValueError as exc:
        raise TranscriptError(filename, lineno, str(exc)) from None
    if side == "C":
        return ClientLine(text, raw, lineno)
    return ServerLine(text, raw, lineno)


def _parse_header(line: str) -> dict[str, str]:
    header: dict[str, str] = {}
    rest = line[len(HEADER_PREFIX) :]
    for part in _HEADER_SEP.split(rest):
        part = part.strip()
        if not part:
            continue
        m = _HEADER_KEY.fullmatch(part)
        if m is not None:
            header.setdefault(m.group(1).lower(), m.group(2).strip())
        else:
            header.setdefault("date", part)
    return header


def _parse_line(line: str, lineno: int, filename: str) -> Step | None:
    head = line[:3]
    if head == "C: " or head == "S: ":  # most lines: no indent to strip
        return _side_line("C" if head == "C: " else "S", line[3:], lineno, filename)
    stripped = line.lstrip(" \t")
    if not stripped.strip():
        return None
    head = stripped[:2]
    if head in ("C:", "S:"):
        side: Side = "C" if head == "C:" else "S"
        rest = stripped[2:]
        if rest and rest[0] != " ":
            raise TranscriptError(
                filename, lineno, f"expected one space after {head!r}, got {_show(stripped)}"
            )
        return _side_line(side, rest[1:], lineno, filename)
    first = stripped[0]
    if first == "#":
        text = stripped[1:]
        return Comment(text.removeprefix(" "), lineno)
    if first == ":":
        m = _META.fullmatch(stripped)
        if m is None:
            if stripped.startswith("::"):
                msg = "a line starting with ':' is sent as 'C: :...', not '::...'"
            else:
                msg = f"expected a meta-command name after ':', got {_show(stripped)}"
            raise TranscriptError(filename, lineno, msg)
        argtext = (m.group(2) or "").strip()
        return Meta(m.group(1).lower(), tuple(argtext.split()), lineno, argtext)
    bare = stripped.rstrip(" \t")
    if bare == "...":
        return Narration("S", "...", lineno, "elision")
    m = _NARRATION.fullmatch(bare)
    if m is not None:
        if bare in ("<CRLF>", REDACTED):
            raise TranscriptError(
                filename,
                lineno,
                f"{bare} is a line, not an action: write 'C: {bare}' or 'S: {bare}'",
            )
        inner = m.group(1)
        side = "C" if _CLIENT_FIRST.match(inner.lstrip()) else "S"
        return _narration(side, inner, lineno, filename)
    raise TranscriptError(
        filename,
        lineno,
        f"expected 'C: ', 'S: ', '# comment', ':command' or '<narration>', got {_show(stripped)}",
    )


def parse_transcript(text: str, filename: str = "<transcript>") -> Transcript:
    """Parse a whole transcript; raises ``TranscriptError`` at the first bad
    line.  File lines may end with LF or CRLF; a UTF-8 BOM is ignored."""
    text = text.removeprefix("\ufeff")
    header: dict[str, str] = {}
    steps: list[Step] = []
    # split("\n"), not splitlines(): a form feed or U+2028 inside a line is
    # part of it, not a line break.
    for index, line in enumerate(text.split("\n")):
        lineno = index + 1
        line = line.removesuffix("\r")
        if lineno == 1 and (line == HEADER_PREFIX or line.startswith(HEADER_PREFIX + " ")):
            header = _parse_header(line)
            continue
        step = _parse_line(line, lineno, filename)
        if step is not None:
            steps.append(step)
    return Transcript(MappingProxyType(header), tuple(steps), filename)


def read_transcript(stream: TextIO, filename: str | None = None) -> Transcript:
    """Parse a transcript from an open text stream (its ``name`` is used for
    messages unless ``filename`` is given)."""
    name = filename if filename is not None else str(getattr(stream, "name", "<transcript>"))
    return parse_transcript(stream.read(), name)
