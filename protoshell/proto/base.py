"""The contract every sans-IO framer in ``proto/`` follows.

A framer is fed the bytes a peer sent (``receive_data``; ``b""`` means EOF) and
hands back events one at a time (``next_event``), or ``NEED_DATA`` when it
cannot say more yet.  Outgoing commands go through ``send``, which returns the
exact bytes to put on the wire and teaches the framer what response to expect.
No framer touches a socket, a clock or a thread: that is what lets the same
code serve the shell, the replayer, the servers and the tests.

Events are frozen dataclasses that keep the raw bytes beside the parsed
fields, so nothing the peer sent is lost or reformatted on the way to the
screen or to a transcript.

Memory is bounded by construction: a framer buffers at most one line
(``Limits.max_line``) and hands bodies and literals out as ``Payload`` chunks
as they arrive, never accumulating them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal, Protocol


class _NeedData:
    """Sentinel type: the framer needs more bytes before it can emit an event."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


class ProtocolError(Exception):
    """Base of the two errors a framer may raise; the message is for a human."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow (or over a limit).

    After this error the framer is dead: the connection cannot be trusted to
    be in sync any more.
    """


class LocalProtocolError(ProtocolError):
    """We were asked to send something the protocol cannot carry (a bare CR
    in a command line, a second request while the first is unanswered where
    that is not allowed...)."""


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep memory finite whatever the peer does.

    All are overridable because a teacher may want to show what happens when
    they are hit.
    """

    max_line: int = 1 << 20  # one protocol line, terminator included
    max_header_bytes: int = 32 << 10  # HTTP: the whole header block
    max_headers: int = 100  # HTTP: header field count
    max_request_line: int = 8 << 10  # HTTP server role: 414 above this
    chunk_size: int = 256 << 10  # largest Payload event handed out at once (asyncio reads 256 KiB)


DEFAULT_LIMITS: Final = Limits()

# How a status reads to a person; drives colour (render), checking (replay)
# and the exit code of pipe mode.  "ok": 2xx/+OK/OK; "continue": 3xx, IMAP
# "+", SMTP 354; "temporary": 4xx SMTP, IMAP NO; "error": 5xx, -ERR, BAD,
# HTTP 4xx/5xx; "info": untagged IMAP data, HTTP 1xx, greeting text;
# "data": lines that carry content, not status.
Outcome = Literal["ok", "continue", "temporary", "error", "info", "data"]

# Framer ``state`` values in which the server has said goodbye and closes
# next: SMTP after 221/421 ("closed"), POP3 after +OK to QUIT ("update" from
# a mailbox, RFC 1939 6; "closed" before login), IMAP after BYE or LOGOUT
# ("logout"), HTTP after Connection: close ("closing").
GOODBYE_STATES: Final = frozenset({"closed", "update", "logout", "closing"})

# The words a client asks for TLS with on an open connection: SMTP's
# STARTTLS (RFC 3207 4), POP3's STLS (RFC 2595 4), IMAP's STARTTLS after a
# tag (RFC 3501 6.2.1).
STARTTLS_WORDS: Final = frozenset({b"STARTTLS", b"STLS"})


def empty_line_is_content(framer: object, last_outcome: str | None) -> bool:
    """Whether an empty line the user types means something to the server:
    message text (SMTP after 354, RFC 5321 4.1.1.4; an IMAP literal or a
    BDAT chunk still owed), the rest of an IMAP command after a literal
    (RFC 3501 4.3), or the answer to a challenge (SMTP 334, ``+``: an empty
    SASL response, RFC 4954 4).  Elsewhere it is no command (IMAP answers
    BAD, and Dovecot hangs up after three): the shell and pipe mode send
    nothing for it."""
    return bool(
        getattr(framer, "in_data", False)
        or getattr(framer, "mid_command", False)
        or getattr(framer, "literal_remaining", None) is not None
        or last_outcome == "continue"
    )


def asks_starttls(line: bytes) -> bool:
    """A client line that asks for TLS (the replayer and the proxy ask)."""
    words = line.upper().split()
    return bool(words) and (words[0] in STARTTLS_WORDS or (len(words) == 2 and words[1] == b"STARTTLS"))


@dataclass(frozen=True, slots=True)
class Event:
    """Anything a framer emits.  ``raw`` is exactly what was on the wire."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class ServerLine(Event):
    """One CRLF-terminated line of a response (or a request, in the server role).

    ``status`` is the token the replay checker compares in its default mode:
    ``"250"`` / ``"250-"`` (SMTP code and continuation mark), ``"+OK"`` /
    ``"-ERR"``, ``"A0001 OK"`` or ``"* EXISTS"`` (IMAP), ``"HTTP 200"``.  Data
    lines carry ``status=None``.
    """

    status: str | None
    outcome: Outcome

    @property
    def text(self) -> str:
        """The line without its terminator, decoded for display (lossless
        for valid UTF-8; invalid bytes become U+FFFD here, while ``raw`` keeps
        them)."""
        return strip_eol(self.raw).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class BodyLine(ServerLine):
    """One line of a body a protocol sends as lines, not as a counted
    payload (POP3's RETR, TOP, LIST, UIDL, CAPA answers: RFC 1939 3).

    ``data`` is the line as content, its transfer encoding undone (POP3's
    byte-stuffing dot removed) and its terminator kept, so joining the
    ``data`` of a body gives it exactly; ``raw`` is what was on the wire.
    ``message`` is true when the body is a message (POP3 RETR, TOP), which
    is what ``--save-body`` saves.  A run of these lines is one block on
    screen, cut at ``--max-lines`` like a payload.
    """

    data: bytes
    message: bool = False


@dataclass(frozen=True, slots=True)
class BodyEnd(ServerLine):
    """The line that ends a line body (POP3's ``.``); not part of the body.
    ``message`` as in ``BodyLine``, so an empty message is seen too."""

    message: bool = False


@dataclass(frozen=True, slots=True)
class Payload(Event):
    """A chunk of a body or literal, in wire order.

    ``offset`` is where this chunk starts within the whole payload and
    ``total`` its declared size when the protocol declares one (IMAP ``{n}``,
    HTTP Content-Length), else ``None``.  For HTTP chunked bodies ``raw`` is
    the de-chunked data and the chunk framing is reported in ``ServerLine``
    events, so raw bytes are still all accounted for.
    """

    offset: int
    total: int | None


@dataclass(frozen=True, slots=True)
class ResponseEnd(Event):
    """The response to the oldest outstanding command is complete.

    ``raw`` is ``b""``: the bytes were in the events before it.  ``starttls``
    is true when the server agreed to STARTTLS/STLS: the caller must now take
    ``trailing_data`` (and discard it, RFC 3207 section 4.2), do the TLS
    handshake and call ``tls_started()``.
    """

    status: str | None
    outcome: Outcome
    starttls: bool = False


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """EOF from the peer.  ``clean`` is false when it cut a response short."""

    clean: bool
    reason: str = ""


class Framer(Protocol):
    """What session.py and the servers rely on; each protocol implements it."""

    protocol: str
    role: Role

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` signals EOF."""

    def next_event(self) -> Event | _NeedData:
        """Return the next event, or ``NEED_DATA``.  Raises RemoteProtocolError."""

    def send(self, line: bytes) -> bytes:
        """Wire bytes for one command line (no terminator in ``line``).

        The framer adds exactly one CRLF, applies the protocol's transfer
        rules (SMTP dot-stuffing inside DATA) and records what response to
        expect.  Raises LocalProtocolError for lines it cannot carry.
        """

    def send_raw(self, data: bytes) -> bytes:
        """Bytes the user wants sent verbatim (``:raw``); returns them
        unchanged but lets the framer learn from every complete line in them,
        so replies are still framed."""

    @property
    def pending(self) -> int:
        """How many responses are still awaited (the greeting counts)."""

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the point where the protocol switched (to TLS)."""

    def tls_started(self) -> None:
        """The TLS handshake after a STARTTLS ResponseEnd succeeded; resume."""


def strip_eol(raw: bytes) -> bytes:
    """A line without its CRLF (or lone LF) terminator."""
    if raw.endswith(b"\r\n"):
        return raw[:-2]
    if raw.endswith(b"\n"):
        return raw[:-1]
    return raw


def chop_eol(line: bytes) -> bytes:
    """Strip one trailing CRLF, LF or CR: a pasted terminator is not doubled
    (openssl s_client's -crlf trap)."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith((b"\n", b"\r")):
        return line[:-1]
    return line


def short_repr(data: bytes, limit: int = 60) -> str:
    """A peer's or user's bytes, shortened for a one-line error message."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"


def one_line(line: bytes) -> bytes:
    """A command line as typed, without one trailing terminator; any other CR
    or LF is refused, since a second line would desynchronise the counting of
    replies (RFC 5321 2.3.8 and its kin): ``:raw`` exists to send those."""
    line = chop_eol(line)
    if b"\r" in line or b"\n" in line:
        raise LocalProtocolError(
            f"a command line cannot contain CR or LF (use :raw to send several lines): "
            f"{short_repr(line)}"
        )
    return line


def counted_piece(line: bytes, left: int, what: str) -> bytes:
    """The wire bytes of one typed line that is part of data counted in
    octets (an IMAP literal, RFC 3501 4.3; a BDAT chunk, RFC 3030 2), when
    ``left`` octets are still owed; ``what`` names the data for the error.

    A person or a pipe gives such data a line at a time: a line that exactly
    fills what is left is sent as is, without CRLF; a shorter one is sent with
    its CRLF, and both count; a line that does not fit (longer than what is
    left, or one byte short of room for its CRLF) is refused with
    LocalProtocolError, since a guess would desynchronise the conversation."""
    n = len(line)
    if n == left:
        return line
    if n + 2 <= left:
        return line + b"\r\n"
    if n > left:
        raise LocalProtocolError(f"{what} needs {left} more byte(s) but this line has {n}")
    raise LocalProtocolError(
        f"{what} needs {left} more byte(s): this {n}-byte line fits but its CRLF does not "
        "(type exactly the remaining bytes)"
    )


class LineBuffer:
    """Incoming bytes, split into CRLF lines without quadratic copying.

    Keeps a bytearray plus a scan position so that a line that arrives byte
    by byte is found in linear time, and refuses to hold more than
    ``max_line`` bytes of an unfinished line.  Also hands out raw byte counts
    for literals and bodies, which is why framers share it: when a whole
    received chunk is asked for (the common case inside a large body), the
    very bytes object that arrived is handed on, with no copy at all.

    Lines end at LF; a CR before it is part of the terminator.  Whether a bare
    LF is acceptable is the framer's call (``line.endswith(b"\\r\\n")``).
    """

    __slots__ = ("_buf", "_scan", "_whole", "eof", "max_line")

    def __init__(self, max_line: int = DEFAULT_LIMITS.max_line) -> None:
        self._buf = bytearray()
        self._whole: bytes | None = None  # one chunk held as received, buffer otherwise empty
        self._scan = 0  # bytes of _buf already known to contain no LF
        self.max_line = max_line
        self.eof = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
        elif not self._buf and self._whole is None:
            self._whole = bytes(data)
        else:
            self._spill()
            self._buf += data

    def _spill(self) -> None:
        if self._whole is not None:
            self._buf += self._whole
            self._whole = None

    def __len__(self) -> int:
        return len(self._buf) + (len(self._whole) if self._whole is not None else 0)

    def readline(self) -> bytes | None:
        """One line with its terminator, or None if no full line is buffered.

        Raises RemoteProtocolError when an unfinished line exceeds max_line.
        """
        self._spill()
        idx = self._buf.find(b"\n", self._scan)
        if idx < 0:
            self._scan = len(self._buf)
            if self._scan > self.max_line:
                raise RemoteProtocolError(
                    f"line longer than {self.max_line} bytes without a line ending"
                )
            return None
        if idx + 1 > self.max_line:
            raise RemoteProtocolError(f"line longer than {self.max_line} bytes")
        line = bytes(self._buf[: idx + 1])
        del self._buf[: idx + 1]
        self._scan = 0
        return line

    def read(self, n: int) -> bytes:
        """Up to n buffered bytes (possibly fewer, possibly none)."""
        whole = self._whole
        if whole is not None and n >= len(whole):
            self._whole = None
            return whole
        self._spill()
        if n >= len(self._buf):
            return self.take_all()
        with memoryview(self._buf) as view:  # one copy, not two
            out = bytes(view[:n])
        del self._buf[:n]
        self._scan = max(0, self._scan - len(out))
        return out

    def read_through(self, sep: bytes, limit: int) -> bytes | None:
        """Everything up to and including the first ``sep``, if it ends
        within ``limit`` bytes; else None, consuming nothing (the caller
        then falls back to reading line by line, with its own errors)."""
        self._spill()
        idx = self._buf.find(sep, 0, limit)
        if idx < 0:
            return None
        end = idx + len(sep)
        out = bytes(self._buf[:end])
        del self._buf[:end]
        self._scan = 0
        return out

    def peek(self, n: int) -> bytes:
        """The first n buffered bytes, left in the buffer."""
        if self._whole is not None:
            return self._whole[:n]
        return bytes(self._buf[:n])

    def take_all(self) -> bytes:
        if self._whole is not None:
            out = self._whole
            self._whole = None
            return out
        out = bytes(self._buf)
        self._buf.clear()
        self._scan = 0
        return out
