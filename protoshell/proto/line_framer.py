"""What the SMTP and POP3 client framers share: one reply line at a time.

Both read CRLF lines, keep a FIFO of lines sent and not yet answered, and
obey the same STARTTLS rule: once the server accepts, every byte it sends
before the handshake is kept aside (bounded) and never parsed, and nothing
may be sent.  The protocol-specific parts are the subclass's: ``_on_line``
(one complete line -> an event), ``_closed`` (the event at EOF) and
``_push`` (what a line sent means for the replies to expect).
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar, NoReturn

from .base import (
    DEFAULT_LIMITS,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Limits,
    LineBuffer,
    LocalProtocolError,
    RemoteProtocolError,
    _NeedData,
)


class LineReplyFramer:
    # How the protocol names its upgrade, and the rule about plaintext after
    # it, for error messages: ("STARTTLS", "RFC 3207 4.2"), ("STLS", "RFC 2595 4").
    STARTTLS_WORD: ClassVar[str] = "STARTTLS"
    STARTTLS_RFC: ClassVar[str] = ""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._buf = LineBuffer(limits.max_line)
        self._ready: deque[Event] = deque()
        self._tls_pending = False
        self._trailing = bytearray()
        self._trailing_over = False
        self._raw_partial = b""  # send_raw bytes after the last CRLF
        self._eof = False
        self._closed_sent = False
        self._error: str | None = None

    # -- hooks --------------------------------------------------------------

    def _on_line(self, line: bytes) -> Event:
        raise NotImplementedError

    def _closed(self) -> ConnectionClosed:
        raise NotImplementedError

    def _push(self, line: bytes) -> None:
        raise NotImplementedError

    def _line_error(self, exc: RemoteProtocolError) -> str:
        """The message for a line over the limit (a subclass may cite its RFC)."""
        return str(exc)

    # -- receiving ----------------------------------------------------------

    @property
    def trailing_data(self) -> bytes:
        """Plaintext received after the server accepted the TLS upgrade."""
        return bytes(self._trailing)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` is EOF."""
        if self._eof:
            return  # nothing can follow EOF; ignore rather than corrupt state
        if not data:
            self._eof = True
            self._buf.feed(b"")
            return
        if self._tls_pending:
            self._keep_trailing(data)
            return
        self._buf.feed(data)

    def _keep_trailing(self, data: bytes) -> None:
        room = self.limits.max_line - len(self._trailing)
        if len(data) > room:
            self._trailing_over = True
            data = data[: max(room, 0)]
        self._trailing += data

    def next_event(self) -> Event | _NeedData:
        if self._ready:
            return self._ready.popleft()
        if self._error is not None:
            raise RemoteProtocolError(self._error)
        if self._closed_sent:
            return NEED_DATA
        if self._tls_pending:
            if self._trailing_over:
                self._fail(
                    f"server sent more than {self.limits.max_line} bytes of plaintext "
                    f"after accepting {self.STARTTLS_WORD} ({self.STARTTLS_RFC})"
                )
            if self._eof:
                return self._closed()
            return NEED_DATA
        try:
            line = self._buf.readline()
        except RemoteProtocolError as exc:
            self._fail(self._line_error(exc))
        if line is None:
            return self._closed() if self._eof else NEED_DATA
        return self._on_line(line)

    def _fail(self, message: str) -> NoReturn:
        """Record the error (the framer is dead from now on) and raise it."""
        self._error = message
        raise RemoteProtocolError(message)

    # -- sending ------------------------------------------------------------

    def _check_can_send(self) -> None:
        if self._tls_pending:
            raise LocalProtocolError(
                f"the server accepted {self.STARTTLS_WORD}: finish the TLS handshake before "
                f"sending ({self.STARTTLS_RFC})"
            )
        if self._eof:
            raise LocalProtocolError("the server has closed the connection")

    def send_raw(self, data: bytes) -> bytes:
        """``data`` unchanged; every complete CRLF line in it is counted as if
        sent with send() (without any transfer encoding)."""
        self._check_can_send()
        *lines, rest = (self._raw_partial + data).split(b"\r\n")
        for line in lines:
            self._push(line)
        self._raw_partial = rest[: self.limits.max_line]
        return data

    def _reset_after_tls(self) -> None:
        """The plaintext buffers go; parsing starts afresh over TLS."""
        if not self._tls_pending:
            raise LocalProtocolError(
                f"tls_started() without a {self.STARTTLS_WORD} accepted by the server"
            )
        self._tls_pending = False
        self._trailing.clear()
        self._trailing_over = False
        self._buf = LineBuffer(self.limits.max_line)
        self._raw_partial = b""
