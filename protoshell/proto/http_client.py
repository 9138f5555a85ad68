"""HTTP/1.1 in the client role: frame responses, follow typed requests.

Message syntax is RFC 9112, semantics RFC 9110.  Events for one response, in
wire order::

    HttpStatusLine      "HTTP/1.1 200 OK"           status "HTTP 200"
    HttpHeaderLine*     one per field line (obs-fold continuations too)
    HttpHeaderEnd       the blank line
    HttpResponseHead    raw b"": the head, consolidated, with framing and warnings
    Payload* / HttpChunkLine*   the body (chunk framing as lines, data de-chunked)
    ResponseEnd         the turn end (not after 1xx interim responses, except 101)

The concatenated ``raw`` of all events is exactly the bytes received (plus
``trailing_data`` after a 101 or a CONNECT tunnel); ``HttpFragment`` carries an
unfinished line cut short by EOF, or an empty line before a status line.

Requests are typed line by line (``HttpClientFramer.send``); the framer
follows them to know how many responses are awaited (``pending``) and which
of them answers a HEAD (RFC 9112 6.3: no body).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Limits,
    LocalProtocolError,
    Outcome,
    RemoteProtocolError,
    ResponseEnd,
    Role,
    ServerLine,
    _NeedData,
    one_line,
    strip_eol,
)
from .http_vocab import parse_status_line, status_outcome
from .http_wire import (
    CRLF,
    CTL_RE,
    BodyReader,
    ChunkedReader,
    HttpBuffer,
    HttpFragment,
    LengthReader,
    ReceivingSide,
    UntilCloseReader,
    analyze_framing,
    header_value,
    is_continuation,
    keep_alive_allowed,
    parse_field_line,
    preview,
)

# RFC 9112 3: method SP request-target SP HTTP-version (what a client sends).
_REQUEST_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP/\d\.\d\Z")


# ---------------------------------------------------------------------------
# Events (client role)

@dataclass(frozen=True, slots=True)
class HttpStatusLine(ServerLine):
    """``HTTP/1.1 200 OK``: status ``"HTTP 200"``, outcome by class."""

    version: str
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class HttpHeaderLine(ServerLine):
    """One field line.  A ``continuation`` (obs-fold, RFC 9112 5.2: a line
    starting with SP/HTAB) carries the name of the field it extends."""

    name: str
    value: str
    continuation: bool = False


@dataclass(frozen=True, slots=True)
class HttpHeaderEnd(ServerLine):
    """The blank line that ends a head (or a 1xx interim head)."""


# none: HEAD, 1xx, 204, 304; length: Content-Length; chunked; close: until
# EOF; switch: 101 or CONNECT 2xx, after which the connection is not HTTP.
BodyFraming = Literal["none", "length", "chunked", "close", "switch"]


@dataclass(frozen=True, slots=True)
class HttpResponseHead(Event):
    """The response head, consolidated, after ``HttpHeaderEnd`` (``raw`` is
    ``b""``: the bytes were in the line events).  For the renderer's
    ``:last`` and for anyone who wants the headers without re-parsing.

    ``headers`` keeps names as sent and obs-folded values joined with SP.
    ``framing`` says how the body is delimited; ``content_length`` is what
    the header said even when it does not delimit the body (HEAD, 304, or
    beaten by chunked).  ``keep_alive`` is false when the connection closes
    after this response.  ``method`` is the request's (None: unsolicited).
    ``warnings`` are things a debugger should point out (CL with chunked,
    bare LF line ends, obs-fold, codings not decoded...).
    """

    version: str
    code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    content_length: int | None
    chunked: bool
    framing: BodyFraming
    keep_alive: bool
    method: str | None
    warnings: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """Case-insensitive field value; repeated fields joined with ", "."""
        return header_value(self.headers, name)

    @property
    def status(self) -> str:
        return f"HTTP {self.code:03d}"

    @property
    def outcome(self) -> Outcome:
        return status_outcome(self.code)


# ---------------------------------------------------------------------------
# The client framer

ClientState = Literal["status", "headers", "body", "closing", "switched", "closed"]
SendState = Literal["request-line", "headers", "body", "chunked-body"]

_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection"})


@dataclass(slots=True)
class _Exchange:
    """A request the user sent, as far as response framing cares."""

    method: str
    version: str | None  # None: an HTTP/0.9-style "GET /" simple request
    head_done: bool = False
    close: bool = False  # the request itself ends the connection


@dataclass(slots=True)
class _Head:
    """A response head being read."""

    version: str
    code: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0
    warnings: list[str] = field(default_factory=list)


def _version_tuple(version: str | None) -> tuple[int, int]:
    if version and len(version) == 8 and version[5].isdigit() and version[7].isdigit():
        return int(version[5]), int(version[7])
    return (1, 1)


class HttpClientFramer(ReceivingSide):
    """The client side of one HTTP/1.1 connection (sans-IO).

    No greeting: ``pending`` is 0 until a request head is complete.
    Requests may be pipelined; responses are matched to them in order.
    """

    protocol = "http"
    role = Role.CLIENT

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = HttpBuffer(limits.max_line)
        self._state: ClientState = "status"
        self._events: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None
        self._head: _Head | None = None
        self._reader: BodyReader | None = None
        self._response_keep_alive = True
        self._response_status: str | None = None
        self._response_outcome: Outcome = "ok"
        self._trailing = bytearray()
        self._awaiting: deque[_Exchange] = deque()
        self._answered = 0  # final responses on this connection, for the idle-close hint
        # outgoing side
        self._send_state: SendState = "request-line"
        self._current: _Exchange | None = None
        self._out_fields: list[tuple[str, str]] = []
        self._out_partial = bytearray()
        self._out_skip_line = False
        self._body_remaining = 0
        self._out_buf = HttpBuffer(limits.max_line)
        self._out_reader: ChunkedReader | None = None

    # -- state --------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Responses still awaited: requests whose head is complete and
        whose final response has not ended."""
        return sum(1 for ex in self._awaiting if ex.head_done)

    @property
    def state(self) -> ClientState:
        """Where the response parser is: "status" (between responses),
        "headers", "body", "closing" (the server must close now),
        "switched" (101 / CONNECT tunnel: bytes go to trailing_data),
        "closed" (EOF reported)."""
        return self._state

    @property
    def send_state(self) -> SendState:
        """What the next outgoing line is: a "request-line", a field line
        ("headers"), Content-Length "body" bytes, or "chunked-body" framing."""
        return self._send_state

    @property
    def holds_writes(self) -> bool:
        """True while a request head is being sent (its request line is out,
        its empty line not yet): the lines are one message (RFC 9112 2.1)
        and the session writes them together once it is complete."""
        return self._send_state == "headers"

    @property
    def body_remaining(self) -> int:
        """Request body bytes still owed under Content-Length (0 otherwise)."""
        return self._body_remaining if self._send_state == "body" else 0

    @property
    def switched(self) -> bool:
        return self._state == "switched"

    @property
    def trailing_data(self) -> bytes:
        """Bytes after a 101 Switching Protocols / CONNECT 2xx head: no
        longer HTTP, not parsed."""
        return bytes(self._trailing)

    def tls_started(self) -> None:
        """HTTP has no STARTTLS (https is TLS from the first byte): no-op."""

    # -- sending ------------------------------------------------------------

    def send(self, line: bytes) -> bytes:
        """Wire bytes for one line the user typed, and what it teaches us.

        Head lines get CRLF.  A request line with a version (three words)
        opens a head that an empty line closes; a one- or two-word line
        (``GET /``) is an HTTP/0.9-style simple request, complete at once.
        After a head with ``Content-Length: N``, lines are body: each is sent
        with its CRLF, which counts as body bytes, except the line that fills
        the length exactly, which is sent without CRLF (the CRLF would be a
        stray byte after the message).  A line that does not fit raises
        LocalProtocolError (``:raw`` sends anything).  After a head with
        ``Transfer-Encoding: chunked``, typed lines are the chunked framing
        itself (``5`` / ``hello`` / ``0`` / empty line) and are followed
        leniently.  Empty lines before a request line are sent and ignored
        (RFC 9112 2.2).
        """
        line = one_line(line)
        if self._send_state == "body":
            remaining = self._body_remaining
            if len(line) == remaining:
                wire = line
            elif len(line) + 2 <= remaining:
                wire = line + CRLF
            else:
                raise LocalProtocolError(
                    f"the body has {remaining} bytes left of its Content-Length, and this "
                    f"line is {len(line)} + 2 for CRLF: fix Content-Length or use :raw"
                )
        else:
            wire = line + CRLF
        self._learn(wire)
        return wire

    def send_raw(self, data: bytes) -> bytes:
        """``data`` unchanged; the framer follows it as if it had been typed
        (complete lines, body bytes), so responses are still framed."""
        self._learn(data)
        return data

    def send_body(self, data: bytes) -> bytes:
        """Request body bytes, unchanged (no CRLF added), counted against
        Content-Length (LocalProtocolError past it).  For a chunked request
        ``data`` must already be chunk-framed; ``send_chunk`` frames it."""
        if self._send_state == "body":
            if len(data) > self._body_remaining:
                raise LocalProtocolError(
                    f"{len(data)} body bytes but only {self._body_remaining} left of "
                    "the Content-Length"
                )
        elif self._send_state != "chunked-body":
            raise LocalProtocolError("no request body is being sent (no Content-Length head)")
        self._learn(data)
        return data

    def send_chunk(self, data: bytes) -> bytes:
        """One chunk of a chunked request body, framed (RFC 9112 7.1);
        ``b""`` sends the last chunk and the empty trailer section."""
        reader = self._out_reader
        if self._send_state != "chunked-body" or reader is None:
            raise LocalProtocolError("no chunked request body is being sent")
        if reader.state != "size" or self._out_buf:
            raise LocalProtocolError("a chunk is partly sent: finish it first")
        wire = b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"
        self._learn(wire)
        return wire

    def _learn(self, data: bytes) -> None:
        """Follow outgoing bytes through the request grammar."""
        pos = 0
        while pos < len(data):
            state = self._send_state
            if state == "body":
                n = min(self._body_remaining, len(data) - pos)
                self._body_remaining -= n
                pos += n
                if self._body_remaining == 0:
                    self._send_state = "request-line"
            elif state == "chunked-body":
                rest = self._follow_chunked(data[pos:])
                data, pos = rest, 0
            else:
                idx = data.find(b"\n", pos)
                if idx < 0:
                    self._out_partial += data[pos:]
                    if len(self._out_partial) > self.limits.max_line:
                        self._out_partial.clear()
                        self._out_skip_line = True
                    return
                line = bytes(self._out_partial) + data[pos : idx + 1]
                self._out_partial.clear()
                pos = idx + 1
                if self._out_skip_line:
                    self._out_skip_line = False
                    continue
                self._learn_line(strip_eol(line))

    def _follow_chunked(self, data: bytes) -> bytes:
        """Feed a chunked request body to a reader; returns the bytes after
        its end (the next request), or b"" while it goes on.  Bad framing is
        the user's experiment: we stop following the body, not the session."""
        reader = self._out_reader
        assert reader is not None
        self._out_buf.feed(data)
        try:
            while reader.step(self._out_buf) is not None:
                pass
        except RemoteProtocolError:
            self._out_buf = HttpBuffer(self.limits.max_line)
            self._out_reader = None
            self._send_state = "request-line"
            return b""
        if not reader.done:
            return b""
        self._out_reader = None
        self._send_state = "request-line"
        return self._out_buf.take_all()

    def _learn_line(self, text: bytes) -> None:
        if self._send_state == "request-line":
            words = text.split()
            if not words:
                return  # RFC 9112 2.2: servers ignore empty lines before a request
            method = words[0].decode("latin-1")
            if len(words) >= 3:
                self._current = _Exchange(method, words[-1].decode("latin-1"))
                self._out_fields = []
                self._send_state = "headers"
            else:
                self._current = _Exchange(method, None, head_done=True, close=True)
            self._awaiting.append(self._current)
            return
        # headers
        ex = self._current
        assert ex is not None
        if text:
            name, sep, value = text.partition(b":")
            lname = name.strip().decode("latin-1").lower()
            if sep and lname in _FRAMING_HEADERS and len(self._out_fields) < 64:
                self._out_fields.append((lname, value.strip().decode("latin-1")))
            return
        ex.head_done = True
        self._send_state = "request-line"
        try:
            framing = analyze_framing(self._out_fields)
        except RemoteProtocolError:
            return  # invalid Content-Length: the server will say 400
        ex.close = not keep_alive_allowed(_version_tuple(ex.version), framing.connection)
        if framing.te_present and framing.chunked:
            self._send_state = "chunked-body"
            self._out_reader = ChunkedReader(self.limits)
            self._out_buf = HttpBuffer(self.limits.max_line)
        elif framing.content_length:
            self._send_state = "body"
            self._body_remaining = framing.content_length

    # -- receiving ----------------------------------------------------------

    def next_event(self) -> Event | _NeedData:
        """The next event or ``NEED_DATA``; raises RemoteProtocolError (and
        again on every later call: the connection is out of sync)."""
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise self._error
        try:
            while not self._events:
                if not self._step():
                    return NEED_DATA
        except RemoteProtocolError as exc:
            self._error = exc
            self._events.clear()
            raise
        return self._events.popleft()

    def _step(self) -> bool:
        """Make progress: queue events or change state; False if stuck."""
        state = self._state
        if state == "status":
            return self._read_status_line()
        if state == "headers":
            return self._read_header_line()
        if state == "body":
            return self._read_body()
        if state == "closing":
            if self._buf:
                raise RemoteProtocolError(
                    f"server sent {len(self._buf)} bytes after a response that closes the "
                    f"connection: {preview(self._buf.peek(80))}"
                )
            if self._buf.eof:
                n = self.pending
                unanswered = f"; {n} later request(s) unanswered" if n else ""
                return self._close(True, f"server closed the connection, as announced{unanswered}")
            return False
        if state == "switched" and self._buf.eof:
            return self._close(True, "server closed the connection (after switching protocols)")
        return False

    def _close(self, clean: bool, reason: str) -> bool:
        self._state = "closed"
        self._events.append(ConnectionClosed(b"", clean, reason))
        return True

    def _close_unfinished(self, where: str) -> bool:
        rest = self._buf.take_all()
        if rest:
            self._events.append(HttpFragment(rest, None, "data"))
        return self._close(False, f"server closed the connection {where}")

    def _read_status_line(self) -> bool:
        buf = self._buf
        oldest = self._awaiting[0] if self._awaiting else None
        if oldest is not None and oldest.version is None:
            # An HTTP/0.9-style request may get a bare body (no status line).
            start = buf.peek(5)
            if start and not start.startswith(b"HTTP/"):
                if b"HTTP/".startswith(start) and not buf.eof:
                    return False
                self._head = None
                self._reader = UntilCloseReader(self.limits)
                self._response_keep_alive = False
                self._response_status, self._response_outcome = None, "ok"
                self._state = "body"
                return True
        buf.max_line = self.limits.max_line
        line = buf.readline()
        if line is None:
            if not buf.eof:
                return False
            if buf:
                return self._close_unfinished("in the middle of a status line")
            n = self.pending
            if n and self._answered:
                # RFC 9112 9.3.1, 9.6: a server closes a kept-alive connection
                # when it has been idle a while (lighttpd after 5 s, nginx 75 s);
                # a request that goes out as it does is never read.  Not a
                # fault of the request: it can simply be sent again.
                return self._close(
                    False,
                    f"server closed the connection with {n} request(s) unanswered, not a "
                    "byte of an answer: it had kept the connection open after its last "
                    "answer and closed it as the request went out (an idle timeout, RFC "
                    "9112 9.3.1); send the request again (a new connection opens)",
                )
            if n:
                return self._close(
                    False, f"server closed the connection with {n} request(s) unanswered"
                )
            return self._close(True, "server closed the connection")
        text = strip_eol(line)
        if not text:
            # Some servers send a stray CRLF after a body; show it, skip it.
            self._events.append(HttpFragment(line, None, "data"))
            return True
        parsed = parse_status_line(text.decode("latin-1"))
        if parsed is None:
            hint = ""
            if _REQUEST_LINE.match(text):
                # The lecture's lab, step 1: the echo server sends the request back.
                hint = " (a request line: the server sent a request back, as an echo server does)"
            raise RemoteProtocolError(f"not an HTTP status line: {preview(line)}{hint}")
        version, code, reason = parsed
        if CTL_RE.search(text):
            raise RemoteProtocolError(f"control character in the status line: {preview(line)}")
        head = _Head(version, code, reason)
        if not line.endswith(CRLF):
            head.warnings.append("bare LF line endings (RFC 9112 2.2 tolerates them)")
        if oldest is None:
            head.warnings.append("unsolicited response: no request was waiting for it")
        if not 100 <= code <= 599:
            head.warnings.append(f"status {code:03d} is outside 100..599: read as a 5xx")
        self._head = head
        status = f"HTTP {code:03d}"
        self._events.append(HttpStatusLine(line, status, status_outcome(code), version, code, reason))
        self._state = "headers"
        return True

    def _read_header_line(self) -> bool:
        buf, head = self._buf, self._head
        assert head is not None
        budget = self.limits.max_header_bytes - head.size
        buf.max_line = max(2, min(self.limits.max_line, budget))
        try:
            line = buf.readline()
        except RemoteProtocolError:
            raise RemoteProtocolError(
                f"response header section over {self.limits.max_header_bytes} bytes"
            ) from None
        if line is None:
            if buf.eof:
                return self._close_unfinished("inside the response head")
            return False
        if not line.endswith(CRLF) and not any("bare LF" in w for w in head.warnings):
            head.warnings.append("bare LF line endings (RFC 9112 2.2 tolerates them)")
        text = strip_eol(line)
        if not text:
            self._events.append(HttpHeaderEnd(line, None, "data"))
            self._finish_head(head)
            return True
        head.size += len(line)
        if is_continuation(text):
            if not head.headers:
                raise RemoteProtocolError(f"continuation line before any header: {preview(line)}")
            folded = text.strip(b" \t")
            if b"\r" in folded or b"\x00" in folded:
                raise RemoteProtocolError(f"CR or NUL inside a field value: {preview(line)}")
            name, prev = head.headers[-1]
            extra = folded.decode("latin-1")
            head.headers[-1] = (name, f"{prev} {extra}" if prev and extra else prev or extra)
            note = "obsolete line folding (RFC 9112 5.2): joined with a space"
            if note not in head.warnings:
                head.warnings.append(note)
            self._events.append(HttpHeaderLine(line, None, "data", name, extra, True))
            return True
        name, value = parse_field_line(text)
        head.headers.append((name, value))
        self._events.append(HttpHeaderLine(line, None, "data", name, value))
        return True

    def _finish_head(self, head: _Head) -> None:
        """RFC 9112 6.3: decide how the body is delimited, then go on."""
        framing = analyze_framing(head.headers)
        warnings = head.warnings + framing.warnings
        oldest = self._awaiting[0] if self._awaiting else None
        method = oldest.method if oldest is not None else None
        code = head.code
        kind: BodyFraming
        if code == 101 or (method == "CONNECT" and 200 <= code < 300):
            kind = "switch"
        elif code < 200 or code in (204, 304) or method == "HEAD":
            kind = "none"
            if (code < 200 or code == 204) and (framing.te_present or framing.content_length):
                warnings.append(
                    f"a {code} response must not carry a body length (RFC 9110 8.6, RFC 9112 6.1)"
                )
        elif framing.te_present:
            if framing.chunked:
                kind = "chunked"
            else:
                kind = "close"
                warnings.append("Transfer-Encoding without chunked last: body read until "
                                "close (RFC 9112 6.3)")
            coded = [c for c in framing.transfer_codings if c != "chunked"]
            if coded:
                warnings.append(f"transfer coding {', '.join(coded)} not decoded")
        elif framing.content_length is not None:
            kind = "length"
        else:
            kind = "close"
        keep_alive = (
            kind not in ("close", "switch")
            and keep_alive_allowed(_version_tuple(head.version), framing.connection)
            and not (oldest is not None and oldest.close)
        )
        self._events.append(
            HttpResponseHead(
                b"",
                head.version,
                code,
                head.reason,
                tuple(head.headers),
                framing.content_length,
                framing.chunked,
                kind,
                keep_alive,
                method,
                tuple(warnings),
            )
        )
        self._head = None
        if 100 <= code < 200 and code != 101:
            self._state = "status"  # interim: the final response is still to come
            return
        self._response_keep_alive = keep_alive
        self._response_status = f"HTTP {code:03d}"
        self._response_outcome = status_outcome(code)
        if kind == "chunked":
            self._start_body(ChunkedReader(self.limits))
        elif kind == "length" and framing.content_length:
            self._start_body(LengthReader(framing.content_length, self.limits))
        elif kind == "close":
            self._start_body(UntilCloseReader(self.limits))
        else:
            self._end_response(switch=kind == "switch")

    def _start_body(self, reader: BodyReader) -> None:
        self._reader = reader
        self._state = "body"

    def _end_response(self, switch: bool = False) -> None:
        self._events.append(ResponseEnd(b"", self._response_status, self._response_outcome))
        self._answered += 1
        if self._awaiting:
            self._awaiting.popleft()
        self._reader = None
        if switch:
            self._state = "switched"
            self._trailing += self._buf.take_all()
        elif self._response_keep_alive:
            self._state = "status"
        else:
            self._state = "closing"

    def _read_body(self) -> bool:
        reader = self._reader
        assert reader is not None
        event = reader.step(self._buf)
        if event is not None:
            self._events.append(event)
            if reader.done:
                self._end_response()
            return True
        if reader.done:
            self._end_response()
            return True
        if not self._buf.eof:
            return False
        reason = reader.eof_reason()
        if reason is None:  # close-delimited: EOF ends the body
            self._end_response()
            return self._close(True, "server closed the connection to end the body")
        return self._close_unfinished(f"inside the body ({reason})")
