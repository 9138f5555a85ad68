"""HTTP/1.1 message syntax shared by the client and server framers.

Field lines, the framing headers (Content-Length, Transfer-Encoding,
Connection), the three body readers of RFC 9112 section 6.3 (length,
chunked, until-close) and HTTP dates.  Everything here raises
``RemoteProtocolError`` with a message for a person; the server role turns
those into ``HttpRequestError(400)``.

Body readers never hold a body: each ``step`` hands out at most
``limits.chunk_size`` bytes as a ``Payload`` and forgets them.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    Event,
    Limits,
    LineBuffer,
    Payload,
    RemoteProtocolError,
    ServerLine,
    strip_eol,
)

CRLF: Final = b"\r\n"

# RFC 9110 5.6.2: token = 1*tchar
TOKEN_RE: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_NAME_RE: Final = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):")


def preview(data: bytes, limit: int = 80) -> str:
    """A short, printable rendering of peer bytes for an error message."""
    if len(data) > limit:
        return repr(data[:limit]) + f"... ({len(data)} bytes)"
    return repr(data)


class HttpBuffer(LineBuffer):
    """``LineBuffer`` under the name HTTP code uses; ``peek`` (to check the
    CRLF after chunk data, and to tell an HTTP/0.9 body from a status line)
    is LineBuffer's own now."""

    __slots__ = ()

    def peek_head(self, limit: int) -> bytes | None:
        """The buffered bytes through the first blank line (``CRLF CRLF``),
        left in the buffer, if it ends within ``limit`` bytes; else None.

        The server's fast path looks at a whole request head before it
        decides to take it.  When the head is exactly the chunk that arrived
        (one request per read, the usual case), that very bytes object is
        returned: no copy."""
        whole = self._whole
        if whole is not None:
            end = whole.find(b"\r\n\r\n", 0, limit)
            if end < 0:
                return None
            return whole if end + 4 == len(whole) else whole[: end + 4]
        end = self._buf.find(b"\r\n\r\n", 0, limit)
        return None if end < 0 else bytes(self._buf[: end + 4])

    def skip(self, n: int) -> None:
        """Drop the first ``n`` buffered bytes (already seen with a peek)."""
        whole = self._whole
        if whole is not None:
            self._whole = None
            if n < len(whole):
                # Pipelined requests follow: copy them once into the
                # bytearray, whose front is cheap to cut (slicing the chunk
                # for each request would copy the rest again every time).
                self._buf += memoryview(whole)[n:]
            return
        del self._buf[:n]
        self._scan = max(0, self._scan - n)


class ReceivingSide:
    """``receive_data`` for both roles: the peer's bytes go to the parser,
    except after a protocol switch (101, CONNECT), when they are no longer
    HTTP and are kept as ``trailing_data``.  ``b""`` is EOF."""

    _state: str
    _trailing: bytearray
    _buf: HttpBuffer

    def receive_data(self, data: bytes) -> None:
        if self._state == "switched":
            if data:
                self._trailing += data
            else:
                self._buf.eof = True
            return
        if self._buf.eof and data:
            raise RuntimeError("receive_data() after EOF")
        self._buf.feed(data)


# ---------------------------------------------------------------------------
# Field lines (RFC 9112 section 5, RFC 9110 section 5)


def parse_field_line(line: bytes) -> tuple[str, str]:
    """``(name, value)`` of one field line without its terminator.

    RFC 9112 5.1: no whitespace between name and colon (a request-smuggling
    vector, so it is an error, not a repair).  RFC 9110 5.5: CR and NUL in a
    value are invalid.  Leading/trailing OWS is not part of the value.  The
    value is decoded as Latin-1, which is lossless for the obs-text octets
    RFC 9110 5.5 lets through; names are ASCII tokens.
    """
    m = _FIELD_NAME_RE.match(line)
    if m is None:
        colon = line.find(b":")
        if colon > 0 and TOKEN_RE.fullmatch(line[:colon].rstrip(b" \t")):
            raise RemoteProtocolError(
                f"whitespace between field name and colon (RFC 9112 5.1): {preview(line)}"
            )
        raise RemoteProtocolError(f"invalid header line (want 'Name: value'): {preview(line)}")
    value = line[m.end() :].strip(b" \t")
    if b"\r" in value or b"\x00" in value:
        raise RemoteProtocolError(f"CR or NUL inside a field value (RFC 9110 5.5): {preview(line)}")
    return m.group(1).decode("ascii"), value.decode("latin-1")


def is_continuation(line: bytes) -> bool:
    """RFC 9112 5.2 obs-fold: a field line that starts with SP or HTAB
    continues the previous field's value."""
    return line[:1] in (b" ", b"\t")


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """All values of a field, case-insensitively, combined with ", " as
    RFC 9110 5.3 allows (None if absent)."""
    lname = name.lower()
    found: str | None = None
    for n, v in headers:  # no list: a server asks this for every request
        if n.lower() == lname:
            found = v if found is None else f"{found}, {v}"
    return found


def split_tokens(value: str) -> list[str]:
    """The lower-cased elements of a comma-separated list (RFC 9110 5.6.1),
    each without parameters (``gzip;q=1`` -> ``gzip``)."""
    out = []
    for item in value.split(","):
        token = item.split(";", 1)[0].strip(" \t").lower()
        if token:
            out.append(token)
    return out


# ---------------------------------------------------------------------------
# Message framing (RFC 9112 section 6)

_MAX_CL_DIGITS: Final = 19  # fits a signed 64-bit integer, like most peers


@dataclass(slots=True)
class Framing:
    """What the framing headers of one message say, before the role decides.

    ``transfer_codings`` keeps the order in which they were applied; the
    message is chunked when ``chunked`` is the last one (RFC 9112 6.3).
    """

    content_length: int | None = None
    te_present: bool = False
    transfer_codings: tuple[str, ...] = ()
    connection: frozenset[str] = frozenset()
    warnings: list[str] = field(default_factory=list)

    @property
    def chunked(self) -> bool:
        return bool(self.transfer_codings) and self.transfer_codings[-1] == "chunked"


def analyze_framing(headers: Iterable[tuple[str, str]]) -> Framing:
    """Read Content-Length, Transfer-Encoding and Connection.

    Raises RemoteProtocolError for an invalid Content-Length, for different
    Content-Length values (RFC 9110 8.6 / RFC 9112 6.3 rule 5: the length is
    unknowable) and for chunked applied twice (RFC 9112 6.1).  Identical
    repeated lengths are accepted with a warning, as RFC 9110 8.6 allows.
    """
    lengths: list[str] = []
    codings: list[str] = []
    te_present = False
    connection: set[str] = set()
    for name, value in headers:
        lname = name.lower()
        if lname == "content-length":
            lengths.extend(v.strip(" \t") for v in value.split(","))
        elif lname == "transfer-encoding":
            te_present = True
            codings.extend(split_tokens(value))
        elif lname == "connection":
            connection.update(split_tokens(value))
    out = Framing(
        te_present=te_present, transfer_codings=tuple(codings), connection=frozenset(connection)
    )
    if lengths:
        for v in lengths:
            if not v.isascii() or not v.isdigit():
                raise RemoteProtocolError(f"invalid Content-Length {v!r} (RFC 9110 8.6)")
            if len(v) > _MAX_CL_DIGITS:
                raise RemoteProtocolError(f"Content-Length {v[:30]!r}... is too large")
        distinct = {int(v) for v in lengths}
        if len(distinct) > 1:
            raise RemoteProtocolError(
                "conflicting Content-Length values "
                f"{', '.join(sorted(set(lengths)))} (RFC 9112 6.3): the body length is unknowable"
            )
        out.content_length = distinct.pop()
        if len(lengths) > 1:
            out.warnings.append(
                f"Content-Length sent {len(lengths)} times with the same value (RFC 9110 8.6)"
            )
    if codings.count("chunked") > 1:
        raise RemoteProtocolError("chunked transfer coding applied twice (RFC 9112 6.1)")
    if te_present and out.content_length is not None:
        out.warnings.append(
            "both Transfer-Encoding and Content-Length: Transfer-Encoding wins and "
            "Content-Length is ignored (RFC 9112 6.3); a request-smuggling smell"
        )
    return out


def keep_alive_allowed(version: tuple[int, int], connection: frozenset[str]) -> bool:
    """RFC 9112 9.3: "close" ends the connection; HTTP/1.1 persists by
    default; HTTP/1.0 only with "keep-alive" (RFC 9112 appendix C.2.2)."""
    if "close" in connection:
        return False
    return version >= (1, 1) or "keep-alive" in connection


# ---------------------------------------------------------------------------
# Events shared by the body readers

ChunkLineKind = Literal["size", "last", "data-end", "trailer", "end"]


@dataclass(frozen=True, slots=True)
class HttpChunkLine(ServerLine):
    """Chunked framing bytes (RFC 9112 section 7.1), so every wire byte of a
    chunked body is accounted for while ``Payload`` carries de-chunked data.

    ``kind``: "size" (``1a;ext=v``), "last" (the ``0`` last-chunk), "data-end"
    (the CRLF after a chunk's data; ``raw == b"\\r\\n"``), "trailer" (a trailer
    field; ``name``/``value`` set) and "end" (the blank line ending the body).
    """

    kind: ChunkLineKind
    size: int | None = None
    extensions: str = ""  # the raw chunk-ext, e.g. ";name=value", Latin-1
    name: str = ""
    value: str = ""


@dataclass(frozen=True, slots=True)
class HttpFragment(ServerLine):
    """Bytes the peer sent before closing that never became a complete line
    (a status line or chunk-size line cut by EOF).  Emitted just before the
    unclean ``ConnectionClosed`` so that no received byte goes unshown."""


def _chunk_line(
    raw: bytes,
    kind: ChunkLineKind,
    size: int | None = None,
    extensions: str = "",
    name: str = "",
    value: str = "",
) -> HttpChunkLine:
    return HttpChunkLine(raw, None, "data", kind, size, extensions, name, value)


_CHUNK_SIZE_RE: Final = re.compile(rb"([0-9A-Fa-f]+)[ \t]*")
_MAX_CHUNK_DIGITS: Final = 16  # 64-bit sizes; more digits is an overflow attack
CTL_RE: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # controls but HTAB


def parse_chunk_size(line: bytes) -> tuple[int, str]:
    """``(size, extensions)`` of a chunk-size line with its terminator.

    RFC 9112 7.1: ``chunk-size [ chunk-ext ] CRLF``.  A bare LF here is an
    error even though head lines may end in one: lenient chunk parsing is a
    known request-smuggling vector, and RFC 9112 2.2's MAY covers only the
    start line and fields.
    """
    if not line.endswith(CRLF):
        raise RemoteProtocolError(
            f"chunk-size line not ended by CRLF (bare LF, RFC 9112 7.1): {preview(line)}"
        )
    body = line[:-2]
    m = _CHUNK_SIZE_RE.match(body)
    if m is None:
        raise RemoteProtocolError(f"invalid chunk-size line (want hex digits): {preview(line)}")
    digits = body[: m.end()].rstrip(b" \t")
    if len(digits) > _MAX_CHUNK_DIGITS:
        raise RemoteProtocolError(
            f"chunk size has {len(digits)} hex digits (more than {_MAX_CHUNK_DIGITS})"
        )
    ext = body[m.end() :]
    if ext and (not ext.startswith(b";") or CTL_RE.search(ext)):
        raise RemoteProtocolError(f"invalid chunk extension (RFC 9112 7.1.1): {preview(line)}")
    return int(digits, 16), ext.decode("latin-1")


# ---------------------------------------------------------------------------
# Body readers: step(buf) -> event or None (needs data, or done: see .done)


class LengthReader:
    """A body of exactly ``total`` bytes (Content-Length, RFC 9112 6.3 rule 6)."""

    __slots__ = ("chunk_size", "done", "offset", "total")

    def __init__(self, total: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self.total = total
        self.offset = 0
        self.chunk_size = limits.chunk_size
        self.done = total == 0

    def step(self, buf: HttpBuffer) -> Event | None:
        if self.done:
            return None
        data = buf.read(min(self.total - self.offset, self.chunk_size))
        if not data:
            return None
        event = Payload(data, self.offset, self.total)
        self.offset += len(data)
        self.done = self.offset == self.total
        return event

    def eof_reason(self) -> str | None:
        return f"closed after {self.offset} of {self.total} body bytes"


class UntilCloseReader:
    """A body delimited by the close of the connection (RFC 9112 6.3 rule 8)."""

    __slots__ = ("chunk_size", "done", "offset")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.offset = 0
        self.chunk_size = limits.chunk_size
        self.done = False

    def step(self, buf: HttpBuffer) -> Event | None:
        data = buf.read(self.chunk_size)
        if not data:
            return None
        event = Payload(data, self.offset, None)
        self.offset += len(data)
        return event

    def eof_reason(self) -> str | None:
        self.done = True
        return None  # EOF is how this body ends


class ChunkedReader:
    """A chunked body (RFC 9112 section 7.1), trailers included.

    Emits ``HttpChunkLine`` for the framing and ``Payload`` (offsets in the
    de-chunked body, ``total=None``) for the data.
    """

    __slots__ = ("done", "limits", "offset", "remaining", "state", "trailer_bytes")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self.state: Literal["size", "data", "data-end", "trailer"] = "size"
        self.remaining = 0
        self.offset = 0
        self.trailer_bytes = 0
        self.done = False

    def step(self, buf: HttpBuffer) -> Event | None:
        if self.done:
            return None
        if self.state == "size":
            buf.max_line = self.limits.max_line
            line = buf.readline()
            if line is None:
                return None
            size, ext = parse_chunk_size(line)
            if size == 0:
                self.state = "trailer"
                return _chunk_line(line, "last", size=0, extensions=ext)
            self.state, self.remaining = "data", size
            return _chunk_line(line, "size", size=size, extensions=ext)
        if self.state == "data":
            data = buf.read(min(self.remaining, self.limits.chunk_size))
            if not data:
                return None
            event = Payload(data, self.offset, None)
            self.offset += len(data)
            self.remaining -= len(data)
            if self.remaining == 0:
                self.state = "data-end"
            return event
        if self.state == "data-end":
            head = buf.peek(2)
            if head == CRLF:
                buf.read(2)
                self.state = "size"
                return _chunk_line(CRLF, "data-end")
            if head in (b"", b"\r"):
                return None
            raise RemoteProtocolError(
                f"chunk data not followed by CRLF (RFC 9112 7.1): got {preview(head)}"
            )
        # trailer section (RFC 9112 7.1.2), bounded like a header section
        budget = self.limits.max_header_bytes - self.trailer_bytes
        buf.max_line = max(budget, 2)
        try:
            line = buf.readline()
        except RemoteProtocolError:
            raise RemoteProtocolError(
                f"trailer section over {self.limits.max_header_bytes} bytes"
            ) from None
        if line is None:
            return None
        if not line.endswith(CRLF):
            raise RemoteProtocolError(
                f"trailer line not ended by CRLF (bare LF): {preview(line)}"
            )
        if line == CRLF:
            self.done = True
            return _chunk_line(line, "end")
        self.trailer_bytes += len(line)
        name, value = parse_field_line(strip_eol(line))
        return _chunk_line(line, "trailer", name=name, value=value)

    def eof_reason(self) -> str | None:
        return "closed inside a chunked body (no last chunk)"


BodyReader = LengthReader | UntilCloseReader | ChunkedReader


# ---------------------------------------------------------------------------
# HTTP dates (RFC 9110 section 5.6.7)


def http_date(timestamp: float) -> str:
    """IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT`` (the lecture's
    "RFC 1123" date).  The caller passes the clock: proto/ never reads it."""
    return formatdate(timestamp, usegmt=True)


_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun",
                  "jul", "aug", "sep", "oct", "nov", "dec")
_DAY: Final = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_MON: Final = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
_TIME: Final = r"(\d\d):(\d\d):(\d\d)"
_IMF_RE: Final = re.compile(rf"{_DAY}, (\d\d) {_MON} (\d{{4}}) {_TIME} GMT\Z", re.IGNORECASE | re.ASCII)
_RFC850_RE: Final = re.compile(
    rf"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), "
    rf"(\d\d)-{_MON}-(\d\d) {_TIME} GMT\Z",
    re.IGNORECASE | re.ASCII,
)
_ASCTIME_RE: Final = re.compile(rf"{_DAY} {_MON} ([ \d]\d) {_TIME} (\d{{4}})\Z", re.IGNORECASE | re.ASCII)


def parse_http_date(text: str) -> float | None:
    """Seconds since the epoch for any of RFC 9110 5.6.7's three formats
    (IMF-fixdate, obsolete RFC 850, asctime), or None if it is not one.

    RFC 850's two-digit year is read with a fixed pivot (00-69 -> 20xx,
    70-99 -> 19xx, as POSIX ``%y``) instead of RFC 9110's "not more than 50
    years in the future" rule, which would need a clock.
    """
    text = text.strip(" \t")
    if m := _IMF_RE.match(text):
        day, mon, year, hh, mm, ss = m.groups()
    elif m := _RFC850_RE.match(text):
        day, mon, yy, hh, mm, ss = m.groups()
        year = str((2000 if int(yy) < 70 else 1900) + int(yy))
    elif m := _ASCTIME_RE.match(text):
        mon, day, hh, mm, ss, year = m.groups()
    else:
        return None
    y, mo, d = int(year), _MONTHS.index(mon.lower()) + 1, int(day)
    h, mi, s = int(hh), int(mm), int(ss)
    if not (1 <= y and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24 and mi < 60 and s <= 60):
        return None
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))
