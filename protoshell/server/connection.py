"""One HTTP connection of the embedded server, without I/O.

The asyncio server (``http_server.py``) only moves bytes; everything it
decides is decided here, so it can be tested by feeding bytes:

    conn.receive_data(bytes)       # b"" is EOF
    reply = conn.next_reply()      # a Reply to write, or None (need data / closed)
    conn.file_sent(n)              # after a Reply with a file: n bytes went out
    conn.timeout_reply()           # the 408 to send when the client took too long

A ``Reply`` is the bytes to write now (head, and the body when it is small
or in memory), optionally followed by ``file_length`` bytes of an open
``file`` for ``sendfile``, and whether to close afterwards.  Requests are
answered strictly in order: after a reply with a file, ``next_reply`` returns
None until ``file_sent`` is called, so pipelined requests wait their turn and
at most one file is open per connection.

The framer (``proto/http.py``, server role) parses requests and writes
response heads (Content-Length, Connection); this module adds ``Date`` and
``Server`` to every response (RFC 9110 6.6.1, 10.2.4), asks the router for
the answer, turns framer errors into 400/414/431/501/505 pages and formats
the access-log line.  The head of a response the router marks as repeatable
(``Response.key``: a cached file, checked against this request's ``stat``) is
serialised once a second and then reused, with the framer's consent
(``reuse_response_head``), as long as it would come out the same.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Final

from ..proto.base import NEED_DATA, ConnectionClosed, Limits
from ..proto.http import (
    HttpRequest,
    HttpRequestEnd,
    HttpRequestError,
    HttpServerFramer,
    http_date,
)
from .routes import SERVER_NAME, Response, Router, error_response


@dataclass(slots=True)
class Reply:
    """What the server must do next for this connection."""

    data: bytes
    status: int
    file: BinaryIO | None = None
    file_length: int = 0
    close: bool = False


_LOG_SAFE: Final = re.compile(rb"[ !#-\[\]-~]*\Z")  # printable ASCII but " and \\


def escape_log(data: bytes | str) -> str:
    """Printable ASCII as is; ``"`` and ``\\`` backslash-escaped; every other
    byte (control characters, ESC sequences, non-ASCII) as ``\\xNN``, so a log
    line can never move the cursor, recolour a terminal or forge a second
    line."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if _LOG_SAFE.match(data):
        return data.decode("ascii")
    out: list[str] = []
    for b in data:
        if b == 0x22:
            out.append('\\"')
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


_LOG_SAFE_TEXT: Final = re.compile(r"[ !#-\[\]-~]*\Z")


def _escape_field(value: str) -> str:
    """A request field (a header value, the request line) for the log; the
    framer decoded it as Latin-1 (or ASCII), so its bytes are recovered
    exactly before escaping."""
    if _LOG_SAFE_TEXT.match(value):
        return value
    return escape_log(value.encode("latin-1", "replace"))


#: Response heads kept per connection for reuse within one second (see
#: ``_current_heads``); a browser asks for a handful of files at a time.
HEAD_CACHE_ENTRIES: Final = 16


class _Clock:
    """The Date header and the log timestamp change once a second; format
    them once a second, not once a request."""

    __slots__ = ("_now", "date", "log_time", "second")

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.second = -1  # the second ``date`` and ``log_time`` show
        self.date = ""
        self.log_time = ""

    def tick(self) -> float:
        now = self._now()
        second = int(now)
        if second != self.second:
            self.second = second
            self.date = http_date(second)
            self.log_time = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))
        return now


class ServerConnection:
    """The server side of one client connection; see the module docstring."""

    def __init__(
        self,
        router: Router,
        *,
        peer: str = "-",
        limits: Limits | None = None,
        log: Callable[[str], None] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.peer = peer
        self.framer = HttpServerFramer(limits) if limits is not None else HttpServerFramer()
        self._log = log
        self._clock = _Clock(now)
        self._request: HttpRequest | None = None
        self._file_pending = 0  # body bytes of a file reply not yet confirmed sent
        self._file_keep = False
        self._heads: dict[object, bytes] = {}  # see _current_heads
        self._heads_second = -1
        self.closed = False  # no more replies: close once the writes are done
        self.requests = 0  # responses sent, for tests and statistics

    # -- input --------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.closed:
            return
        self.framer.receive_data(data)

    # -- output -------------------------------------------------------------

    def next_reply(self) -> Reply | None:
        """The reply to the next complete request, or None when more bytes
        are needed, a file is still being sent, or the connection is done
        (then ``closed`` is true)."""
        if self.closed or self._file_pending:
            return None
        framer = self.framer
        while True:
            try:
                event = framer.next_event()
            except HttpRequestError as exc:
                return self._refuse(exc.status, str(exc))
            if event is NEED_DATA:
                return None
            if isinstance(event, HttpRequest):
                self._request = event
                if event.expects_continue:
                    # RFC 9110 10.1.1: answer now instead of "100 Continue";
                    # the body is never read, so the framer closes afterwards.
                    return self._answer(event)
                continue
            if isinstance(event, HttpRequestEnd):
                assert self._request is not None
                return self._answer(self._request)
            if isinstance(event, ConnectionClosed):
                self.closed = True
                return None
            # Payload: a request body; nothing here takes one, so it is dropped.

    def file_sent(self, n: int) -> None:
        """``n`` bytes of the pending file went out.  Fewer than promised
        (the file shrank, the client went away) closes the connection, since
        its Content-Length can no longer be honoured."""
        pending = self._file_pending
        if pending <= 0:
            return
        self._file_pending = 0
        if n < pending:
            self.closed = True
            return
        self.framer.body_sent(pending)
        self._finish(self._file_keep)

    def timeout_reply(self) -> Reply:
        """408 and close: the client idled or trickled past the deadline
        (RFC 9110 15.5.9)."""
        return self._refuse(408, "the request did not arrive in time")

    # -- internals ----------------------------------------------------------

    def _answer(self, request: HttpRequest) -> Reply:
        now = self._clock.tick()
        try:
            response = self.router.route(request, now=now)
        except Exception as exc:  # noqa: BLE001 - a bug costs one response, not the server
            response = error_response(500, f"internal error: {type(exc).__name__}")
        return self._reply(response, request)

    def _refuse(self, status: int, message: str) -> Reply:
        self._clock.tick()
        response = error_response(status, message, close=True)
        return self._reply(response, None)

    def _reply(self, response: Response, request: HttpRequest | None) -> Reply:
        framer = self.framer
        status = response.status
        length = response.length
        no_body = status == 304 or status < 200
        head = self._reused_head(response, request)
        if head is None:
            head = self._make_head(response, request, None if no_body else length)
        keep = framer.keep_alive and not response.close
        self.requests += 1
        head_request = request is not None and request.method == "HEAD"
        self._log_line(request, response, 0 if head_request or no_body else length)
        file = response.file
        if file is not None:
            if head_request:  # pragma: no cover - router
                response.close_file()
            else:
                self._file_pending = length
                self._file_keep = keep
                return Reply(head, status, file, length, close=not keep)
        body = response.body
        data = head + framer.send_body(body) if body else head
        self._finish(keep)
        return Reply(data, status, close=not keep)

    def _reused_head(self, response: Response, request: HttpRequest | None) -> bytes | None:
        """The head made earlier this second for a response with the same
        ``key``, when the framer may send it again as is (see
        ``HttpServerFramer.reuse_response_head``); it then counts as sent."""
        key = response.key
        if key is None or request is None or response.close:
            return None
        head = self._current_heads().get(key)
        if head is None or not self.framer.reuse_response_head(response.status, response.length):
            return None
        return head

    def _make_head(
        self, response: Response, request: HttpRequest | None, body_length: int | None
    ) -> bytes:
        framer = self.framer
        headers = [("Date", self._clock.date), ("Server", SERVER_NAME), *response.headers]
        if response.close:
            headers.append(("Connection", "close"))
        head = framer.send_response_head(response.status, None, headers, body_length=body_length)
        key = response.key
        if (
            key is not None
            and request is not None
            and not response.close
            and framer.keep_alive
            and request.version != "HTTP/1.0"
        ):
            # The terms of reuse_response_head: no Connection field in it.
            heads = self._current_heads()
            if len(heads) >= HEAD_CACHE_ENTRIES:
                heads.clear()
            heads[key] = head
        return head

    def _current_heads(self) -> dict[object, bytes]:
        """The response heads made this second, by ``Response.key``: their
        Date is still the current one.  Cleared when the second changes."""
        second = self._clock.second
        if self._heads_second != second:
            self._heads.clear()
            self._heads_second = second
        return self._heads

    def _finish(self, keep: bool) -> None:
        self._request = None
        if keep:
            self.framer.start_next_request()
        else:
            self.closed = True

    def _log_line(self, request: HttpRequest | None, response: Response, length: int) -> None:
        if self._log is None:
            return
        line = referer = agent = "-"
        if request is not None:
            # The framer checked the request line to be exactly these three
            # words with single spaces, so this is its text as received.
            line = _escape_field(f"{request.method} {request.target} {request.version}")
            for name, value in request.headers:  # one pass, first of each wins
                lname = name.lower()
                if lname == "user-agent" and agent == "-":
                    agent = _escape_field(value)
                elif lname == "referer" and referer == "-":
                    referer = _escape_field(value)
        # The Combined Log Format of Apache and nginx, plus why, for errors.
        text = (
            f'{self.peer} - - [{self._clock.log_time}] "{line}" {response.status} {length} '
            f'"{referer}" "{agent}"'
        )
        if response.status >= 400 and response.note:
            text += f" ({escape_log(response.note)})"
        self._log(text)
