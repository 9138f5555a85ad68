"""HTTP/1.1 in the server role: parse requests, serialize response heads.

Like h11's ``Connection(our_role=SERVER)``, without I/O: the embedded server
feeds the bytes it reads (``receive_data``; ``b""`` is EOF) and pulls events:

    HttpRequest   the request head (method, target, version, headers)
    Payload       request body chunks (Content-Length or chunked)
    HttpRequestEnd
    ConnectionClosed

Then it answers with ``send_response_head(...)`` and ``send_body(...)``,
writes the returned bytes, and calls ``start_next_request()`` to go on with
the next (possibly already buffered, pipelined) request when ``keep_alive``
is true, or closes the connection when it is false.

A request the framer cannot accept raises ``HttpRequestError`` whose
``status`` is the answer the server should send (400, 414, 431, 501, 505)
before closing; ``send_response_head`` still works after such an error.

While a request is complete and its response is not (``state == "done"``),
nothing more is parsed: bytes the client pipelines stay buffered, so a server
should stop reading from the socket until it calls ``start_next_request()``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Limits,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    Role,
    _NeedData,
    strip_eol,
)
from .http_vocab import REASONS
from .http_wire import (
    TOKEN_RE,
    BodyReader,
    ChunkedReader,
    Framing,
    HttpBuffer,
    HttpChunkLine,
    LengthReader,
    ReceivingSide,
    analyze_framing,
    header_value,
    is_continuation,
    keep_alive_allowed,
    parse_field_line,
    preview,
    split_tokens,
)


class HttpRequestError(RemoteProtocolError):
    """A request the server must refuse; ``status`` is the code to answer
    with (then close the connection: the stream is out of sync)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpRequest(Event):
    """A complete request head.  ``raw`` is its exact bytes from the request
    line to the blank line (empty lines before the request line, which RFC
    9112 2.2 says to ignore, are not included).  Header names keep the case
    the client used; obs-folded values are joined with a space."""

    method: str
    target: str
    version: str  # as sent, e.g. "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]
    keep_alive: bool  # what the request allows (RFC 9112 9.3)
    content_length: int | None = None
    chunked: bool = False

    def header(self, name: str) -> str | None:
        """The field's value, case-insensitively; several fields of that name
        are combined with ", " (RFC 9110 5.3); None if absent."""
        return header_value(self.headers, name)

    @property
    def expects_continue(self) -> bool:
        """``Expect: 100-continue`` (RFC 9110 10.1.1): the client waits for a
        ``100 Continue`` (or a final response) before sending the body.
        Without a body there is nothing to wait for (RFC 9110 10.1.1 lets a
        server ignore it then), which also spares most requests the scan."""
        if not self.content_length and not self.chunked:
            return False
        value = self.header("expect")
        return value is not None and "100-continue" in split_tokens(value)


@dataclass(frozen=True, slots=True)
class HttpRequestEnd(Event):
    """The request (head and body) is complete.  ``raw`` is ``b""``."""


# Events are immutable, so every request can end with the same one.
_REQUEST_END: Final = HttpRequestEnd(b"")


ServerState = Literal["idle", "headers", "body", "done", "closed", "error", "switched"]

# RFC 9112 3: request-line = method SP request-target SP HTTP-version
_REQUEST_LINE_RE: Final = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP/([0-9])\.([0-9]))\Z"
)
# The same with its CRLF, as the fast path sees it at the start of a head
# (HTTP/1.x only: anything else takes the slow path, which explains it).
_FAST_REQUEST_LINE_RE: Final = re.compile(
    rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) (HTTP/1\.([0-9]))\r\n"
)
_TCHAR: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_BAD_VALUE_RE: Final = re.compile(r"[\r\n\x00]")
_BAD_REASON_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HttpServerFramer(ReceivingSide):
    """The server side of one HTTP/1.1 connection (sans-IO).  See the module
    docstring for the event flow."""

    protocol = "http"
    role = Role.SERVER

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = HttpBuffer(limits.max_request_line)
        self._state: ServerState = "idle"
        self._error: HttpRequestError | None = None
        self._events: deque[Event] = deque()
        self._closed_reported = False
        self._trailing = bytearray()
        self._reset_request()

    def _reset_request(self) -> None:
        self._head = bytearray()
        self._request_line: tuple[str, str, str, tuple[int, int]] | None = None
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._reader: BodyReader | None = None
        self._request: HttpRequest | None = None
        self._request_done = False
        # response side
        self._final_sent = False
        self._response_has_body = False
        self._response_remaining: int | None = 0  # None: until close
        self._keep_alive = True

    # -- state ------------------------------------------------------------

    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def request(self) -> HttpRequest | None:
        """The request being answered (None before its head has arrived)."""
        return self._request

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this
        response: false when the request said ``Connection: close``, was
        HTTP/1.0 without keep-alive, could not be parsed or was not read to
        its end, or when the response closes (``Connection: close`` or a body
        without a length)."""
        if self._error is not None or self._state == "switched":
            return False
        if self._request is not None and not self._request.keep_alive:
            return False
        return self._keep_alive

    @property
    def response_complete(self) -> bool:
        """A final response head was sent and all its declared body bytes."""
        return self._final_sent and self._response_remaining == 0

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after a 101 Switching Protocols response."""
        return bytes(self._trailing)

    # -- receiving ------------------------------------------------------------

    def next_event(self) -> Event | _NeedData:
        """The next event, or ``NEED_DATA``.  Raises ``HttpRequestError``
        (a ``RemoteProtocolError``) for a request to refuse, again on every
        later call."""
        if self._events:
            return self._events.popleft()
        if self._error is not None:
            raise self._error
        try:
            while not self._events:
                if not self._step():
                    return NEED_DATA
        except HttpRequestError as exc:
            self._fail(exc)
        except RemoteProtocolError as exc:
            self._fail(HttpRequestError(400, str(exc)))
        return self._events.popleft()

    def _fail(self, exc: HttpRequestError) -> None:
        self._error = exc
        self._state = "error"
        self._events.clear()
        raise exc from None

    def _step(self) -> bool:
        if self._state == "idle":
            if not self._buf and not self._buf.eof:
                return False  # between requests: the usual answer, found cheaply
            return self._read_whole_head() or self._read_request_line()
        if self._state == "headers":
            return self._read_header_line()
        if self._state == "body":
            return self._read_body()
        if self._state in ("done", "closed") and self._buf.eof and not self._buf:
            return self._report_close(True, "client closed the connection")
        if self._state == "switched" and self._buf.eof:
            return self._report_close(True, "client closed the switched connection")
        return False

    def _report_close(self, clean: bool, reason: str) -> bool:
        if self._closed_reported:
            return False
        self._closed_reported = True
        if self._state not in ("done", "switched"):
            self._state = "closed"
        self._events.append(ConnectionClosed(b"", clean, reason))
        return True

    def _read_whole_head(self) -> bool:
        """Fast path: a whole, ordinary request head already buffered is
        parsed in one pass.  Anything unusual (bare LF or CR, obs-fold, empty
        lines first, a limit reached, a field that does not match) is left
        untouched for the line-by-line path, which explains it precisely."""
        limits = self.limits
        head = self._buf.peek_head(limits.max_request_line + limits.max_header_bytes)
        if head is None:
            return False
        m = _FAST_REQUEST_LINE_RE.match(head)
        if m is None or m.end() > limits.max_request_line:
            return False
        header_bytes = len(head) - m.end() - 2  # field lines with their CRLFs
        if header_bytes > limits.max_header_bytes:
            return False
        block = head[m.end() : -2]  # the field lines, each with its CRLF
        if _FAST_FIELDS_RE.fullmatch(block) is None:
            return False
        fields = _FAST_FIELD_RE.findall(block)
        if len(fields) > limits.max_headers:
            return False
        # RFC 9110 5.5: leading and trailing whitespace is not part of a value
        headers = [(n.decode("ascii"), v.rstrip(b" \t").decode("latin-1")) for n, v in fields]
        self._buf.skip(len(head))
        method, target, version, minor = m.groups()
        self._request_line = (
            method.decode("ascii"),
            target.decode("ascii"),
            version.decode("ascii"),
            (1, min(int(minor), 1)),
        )
        self._headers = headers
        self._header_bytes = header_bytes
        self._finish_head(head)
        return True

    def _read_request_line(self) -> bool:
        buf = self._buf
        first = buf.peek(1)
        if first and first[0] not in _TCHAR and first not in (b"\r", b"\n"):
            # A TLS ClientHello (0x16) or other binary: say so at once rather
            # than wait for 8 KiB without a line ending.
            raise HttpRequestError(400, f"not an HTTP request (starts with {preview(first)})")
        buf.max_line = self.limits.max_request_line
        try:
            line = buf.readline()
        except RemoteProtocolError:
            raise HttpRequestError(
                414, f"request line longer than {self.limits.max_request_line} bytes"
            ) from None
        if line is None:
            if buf.eof:
                if buf:
                    return self._report_close(False, "client closed inside a request line")
                return self._report_close(True, "client closed the connection")
            return False
        text = strip_eol(line)
        if not text:
            return True  # RFC 9112 2.2: ignore empty lines before a request line
        m = _REQUEST_LINE_RE.match(text)
        if m is None:
            raise HttpRequestError(400, self._explain_request_line(text))
        major, minor = int(m.group(4)), int(m.group(5))
        if major != 1:
            # RFC 9110 6.2: a 1.x minor above 1 is processed as 1.1; another
            # major version is not ours to speak.
            raise HttpRequestError(505, f"HTTP version {m.group(3).decode()} not supported")
        self._request_line = (
            m.group(1).decode("ascii"),
            m.group(2).decode("ascii"),
            m.group(3).decode("ascii"),
            (1, min(minor, 1)),
        )
        self._head += line
        self._state = "headers"
        return True

    @staticmethod
    def _explain_request_line(text: bytes) -> str:
        words = text.split(b" ")
        if b"\r" in text:
            return f"bare CR in the request line: {preview(text)}"
        if len(words) == 2 and TOKEN_RE.fullmatch(words[0]):
            return f"no HTTP version in the request line (HTTP/0.9 is not supported): {preview(text)}"
        if len(words) == 3 and words[2].startswith(b"HTTP/"):
            if not words[1]:
                return f"empty request target: {preview(text)}"
            return f"malformed request line (target or version): {preview(text)}"
        return f"not an HTTP request line (want 'METHOD target HTTP/1.1'): {preview(text)}"

    def _read_header_line(self) -> bool:
        buf, limits = self._buf, self.limits
        buf.max_line = max(limits.max_header_bytes - self._header_bytes, 2)
        try:
            line = buf.readline()
        except RemoteProtocolError:
            raise HttpRequestError(
                431, f"request header section over {limits.max_header_bytes} bytes"
            ) from None
        if line is None:
            if buf.eof:
                return self._report_close(False, "client closed inside the request head")
            return False
        self._head += line
        text = strip_eol(line)
        if not text:
            self._finish_head(bytes(self._head))
            return True
        self._header_bytes += len(line)
        if self._header_bytes > limits.max_header_bytes:
            raise HttpRequestError(
                431, f"request header section over {limits.max_header_bytes} bytes"
            )
        if is_continuation(text):
            # RFC 9112 5.2: obs-fold; a server may replace it with SP.
            if not self._headers:
                raise HttpRequestError(400, "continuation line before any header (RFC 9112 5.2)")
            value = text.strip(b" \t")
            if b"\r" in value or b"\x00" in value:
                raise HttpRequestError(400, f"CR or NUL inside a field value: {preview(text)}")
            name, prev = self._headers[-1]
            extra = value.decode("latin-1")
            self._headers[-1] = (name, f"{prev} {extra}" if prev and extra else prev or extra)
            return True
        if len(self._headers) >= limits.max_headers:
            raise HttpRequestError(431, f"more than {limits.max_headers} header fields")
        self._headers.append(parse_field_line(text))
        return True

    def _finish_head(self, raw: bytes) -> None:
        assert self._request_line is not None
        method, target, version, vtuple = self._request_line
        headers = tuple(self._headers)
        hosts = 0
        framing_fields = False
        for name, _ in headers:  # one pass; most requests have no framing field
            lname = name.lower()
            if lname == "host":
                hosts += 1
            elif lname in _FRAMING_NAMES:
                framing_fields = True
        # RemoteProtocolError -> 400
        framing = analyze_framing(headers) if framing_fields else _NO_FRAMING
        if hosts > 1:
            raise HttpRequestError(400, "more than one Host header field (RFC 9112 3.2)")
        if not hosts and vtuple >= (1, 1):
            raise HttpRequestError(400, "HTTP/1.1 request without a Host header (RFC 9112 3.2)")
        if framing.te_present:
            if vtuple < (1, 1):
                raise HttpRequestError(
                    400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1)"
                )
            if framing.content_length is not None:
                raise HttpRequestError(
                    400,
                    "both Content-Length and Transfer-Encoding (RFC 9112 6.1): "
                    "refused as a request-smuggling attempt",
                )
            if not framing.chunked:
                raise HttpRequestError(
                    400, "Transfer-Encoding without chunked last (RFC 9112 6.3)"
                )
            if len(framing.transfer_codings) > 1:
                others = ", ".join(framing.transfer_codings[:-1])
                raise HttpRequestError(501, f"transfer coding {others} not implemented")
        request = HttpRequest(
            raw,
            method,
            target,
            version,
            headers,
            keep_alive_allowed(vtuple, framing.connection),
            framing.content_length,
            framing.chunked,
        )
        self._request = request
        self._events.append(request)
        if framing.chunked:
            self._reader = ChunkedReader(self.limits)
        elif framing.content_length:
            self._reader = LengthReader(framing.content_length, self.limits)
        if self._reader is None:
            self._end_request()
        else:
            self._state = "body"

    def _end_request(self) -> None:
        self._request_done = True
        self._state = "done"
        self._reader = None
        self._events.append(_REQUEST_END)

    def _read_body(self) -> bool:
        reader = self._reader
        assert reader is not None
        while True:
            event = reader.step(self._buf)
            if isinstance(event, HttpChunkLine):
                continue  # the framing is the client's business, not the app's
            break
        if isinstance(event, Payload):
            self._events.append(event)
            return True
        if reader.done:
            self._end_request()
            return True
        if self._buf.eof:
            return self._report_close(False, f"client {reader.eof_reason() or 'closed'}")
        return False

    # -- sending ----------------------------------------------------------------

    def send_response_head(
        self,
        code: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        *,
        body_length: int | None,
    ) -> bytes:
        """The bytes of a response head: status line, fields, blank line.

        ``body_length`` is the size of the body that follows (``None``: not
        known, so the body ends when the connection closes).  The framer adds
        ``Content-Length`` (unless ``headers`` has one, which must agree), and
        ``Connection: close`` whenever the connection cannot be kept
        (``Connection: keep-alive`` for a kept HTTP/1.0 client).  For a HEAD
        request ``body_length`` is the size the GET body would have: it goes
        into Content-Length and ``send_body`` then drops the body (RFC 9110
        9.3.2).  204 and 304 never have a body (RFC 9110 6.4.1); 1xx heads are
        interim (101 switches the connection: later bytes go to
        ``trailing_data``).  The framer adds no Date or Server: the caller has
        the clock (``http_date``).

        Raises LocalProtocolError for a header name that is not a token, a
        value or reason with CR, LF or NUL (response splitting), a second
        final response, or a body length the status cannot carry.
        """
        if self._final_sent:
            raise LocalProtocolError("a final response was already sent for this request")
        if self._state == "switched":
            raise LocalProtocolError("the connection has switched protocols")
        if type(code) is not int or not 100 <= code <= 599:
            raise LocalProtocolError(f"status code {code!r} is not in 100..599")
        if reason is None:
            reason = REASONS.get(code, "")
        if _BAD_REASON_RE.search(reason):
            raise LocalProtocolError(f"control character in reason phrase {reason!r}")
        fields = list(headers)
        for name, value in fields:
            if name not in _CHECKED_NAMES:
                if not name.isascii() or not TOKEN_RE.fullmatch(name.encode("ascii")):
                    raise LocalProtocolError(f"header name {name!r} is not a token")
                if len(_CHECKED_NAMES) < 1024:  # a server's names are few; stay bounded
                    _CHECKED_NAMES.add(name)
            if "\r" in value or "\n" in value or "\x00" in value:
                raise LocalProtocolError(
                    f"CR, LF or NUL in the value of {name} (response splitting)"
                )
        framing = _local_framing(fields)
        request = self._request
        if framing.te_present:
            raise LocalProtocolError("Transfer-Encoding responses are not supported here")
        if framing.content_length is not None:
            if body_length is not None and body_length != framing.content_length:
                raise LocalProtocolError(
                    f"Content-Length {framing.content_length} disagrees with "
                    f"body_length={body_length}"
                )
            body_length = framing.content_length
        if body_length is not None and body_length < 0:
            raise LocalProtocolError(f"negative body_length {body_length}")

        no_body_status = code < 200 or code in (204, 304)
        if no_body_status and body_length:
            raise LocalProtocolError(f"a {code} response has no body (RFC 9110 6.4.1)")
        if code < 200:
            if request is None or request.version == "HTTP/1.0":
                raise LocalProtocolError(
                    "a 1xx response needs an HTTP/1.1 request (RFC 9110 15.2: never to HTTP/1.0)"
                )
            wire = _serialize(code, reason, fields)
            if code == 101:
                self._final_sent = True
                self._state = "switched"
                self._trailing += self._buf.take_all()
            return wire

        head_request = request is not None and request.method == "HEAD"
        has_body = not no_body_status and not head_request
        keep = self.keep_alive and self._request_done and "close" not in framing.connection
        if has_body and body_length is None:
            keep = False  # RFC 9112 6.3 rule 8: the close delimits the body
        if body_length is not None and not no_body_status and framing.content_length is None:
            fields.append(("Content-Length", str(body_length)))
        if not keep and "close" not in framing.connection:
            fields.append(("Connection", "close"))
        elif (
            keep
            and request is not None
            and request.version == "HTTP/1.0"
            and "keep-alive" not in framing.connection
        ):
            fields.append(("Connection", "keep-alive"))
        self._keep_alive = keep
        self._final_sent = True
        self._response_has_body = has_body
        self._response_remaining = (body_length if has_body else 0)
        return _serialize(code, reason, fields)

    def reuse_response_head(self, code: int, body_length: int) -> bool:
        """Account for a final response head made earlier, instead of
        checking and serialising it again: a server answering the same small
        file many times a second sends the same head every time.

        The head must be one that ``send_response_head(code, reason, fields,
        body_length=body_length)`` returned for an earlier request that was
        not HTTP/1.0, with no Connection field among ``fields``, and after
        which ``keep_alive`` was true: such a head has no Connection field,
        and it is what ``send_response_head`` would return now when this
        request, too, may be kept alive and is not HTTP/1.0.  Then the framer
        records the head as sent (for HEAD without a body, like
        ``send_response_head``) and returns True; otherwise it changes
        nothing and returns False, and the caller makes the head anew.
        """
        request = self._request
        if (
            request is None
            or self._final_sent
            or not self._request_done
            or not self.keep_alive
            or request.version == "HTTP/1.0"
            or code < 200
            or code in (204, 304)
        ):
            return False
        if body_length < 0:
            raise LocalProtocolError(f"negative body_length {body_length}")
        has_body = request.method != "HEAD"
        self._keep_alive = True
        self._final_sent = True
        self._response_has_body = has_body
        self._response_remaining = body_length if has_body else 0
        return True

    def send_body(self, data: bytes) -> bytes:
        """Body bytes of the response, returned to be written.  Counted
        against the declared length (LocalProtocolError past it); for HEAD,
        204 and 304 responses the body is dropped (returns ``b""``), so a
        server can treat HEAD exactly like GET."""
        if not self._final_sent or self._state == "switched":
            raise LocalProtocolError("send_body() before a final response head")
        if not self._response_has_body:
            return b""
        remaining = self._response_remaining
        if remaining is not None:
            if len(data) > remaining:
                raise LocalProtocolError(
                    f"{len(data)} body bytes but only {remaining} left of the declared length"
                )
            self._response_remaining = remaining - len(data)
        return data

    def body_sent(self, n: int) -> None:
        """``n`` body bytes went out without passing through ``send_body``
        (``sendfile``): count them the same way."""
        if n < 0:
            raise LocalProtocolError(f"negative byte count {n}")
        if not self._final_sent or self._state == "switched":
            raise LocalProtocolError("body_sent() before a final response head")
        if not self._response_has_body:
            return
        remaining = self._response_remaining
        if remaining is not None:
            if n > remaining:
                raise LocalProtocolError(f"{n} body bytes but only {remaining} left of the declared length")
            self._response_remaining = remaining - n

    def start_next_request(self) -> None:
        """Reset for the next request on this kept-alive connection.

        Requires the request read to its HttpRequestEnd, a complete response
        and ``keep_alive``; otherwise LocalProtocolError (close instead).
        Requests the client pipelined are parsed by the next ``next_event``.
        """
        if not self._request_done:
            raise LocalProtocolError("the request was not read to its end")
        if not self.response_complete:
            raise LocalProtocolError("the response is not complete")
        if not self.keep_alive:
            raise LocalProtocolError("the connection is not kept alive: close it")
        self._reset_request()
        self._state = "closed" if self._closed_reported else "idle"


def _local_framing(fields: list[tuple[str, str]]) -> Framing:
    """Framing of headers *we* send: errors are LocalProtocolError."""
    try:
        return _framing_of(fields)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(str(exc)) from None


_FRAMING_NAMES: Final = frozenset({"content-length", "transfer-encoding", "connection"})
_NO_FRAMING: Final = Framing()


def _framing_of(fields: Iterable[tuple[str, str]]) -> Framing:
    """``analyze_framing``, skipped when no field bears on framing (most
    requests and responses): per-request cost matters in a server."""
    fields = tuple(fields)
    for name, _ in fields:
        if name.lower() in _FRAMING_NAMES:
            return analyze_framing(fields)
    return _NO_FRAMING


# Response header names already checked to be tokens (they repeat).
_CHECKED_NAMES: set[str] = set()
# Ordinary field lines, each with its CRLF: token, colon, a value of any
# bytes but NUL, CR and LF (obs-text included).  The first says the whole
# block is made of them; the second takes each apart, its value without
# leading whitespace (trailing whitespace is stripped after).
_FAST_FIELDS_RE: Final = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00\r\n]*\r\n)*")
_FAST_FIELD_RE: Final = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00\r\n]*)\r\n")


def _serialize(code: int, reason: str, fields: list[tuple[str, str]]) -> bytes:
    # Names were checked to be ASCII tokens, so one Latin-1 encode of the
    # whole head is exact (and one call instead of two per field).
    text = "".join([f"HTTP/1.1 {code} {reason}\r\n", *(f"{n}: {v}\r\n" for n, v in fields), "\r\n"])
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"not encodable in a header (Latin-1 only): {exc}") from None
