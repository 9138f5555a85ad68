"""The client's byte stream cut into what it means: command lines and payloads.

Sans-IO and pure (stdlib and ``proto`` only).  The proxy forwards every
byte the client sends unchanged; this splitter only says what those bytes
were, for the view and the recording, and teaches the client-role framer
(``proto.framer_for``) every command as it passes, through the framer's
own ``send_raw``: the framer is the one place that knows which response a
command expects, when a literal or a body starts and how long it is (IMAP
``{n}`` / ``{n+}``, HTTP Content-Length or chunked), and whether a line is
SMTP message text.  Nothing here parses a protocol a second time.

Feeding stops after a line that asks for TLS (``STARTTLS``, ``STLS``): the
bytes after it are handed back unread (``Split.held``), because until the
server answers nobody knows whether they are plaintext to forward or
plaintext the client sent too early, which must be thrown away (RFC 3207
4.2, RFC 2595 3.1).

Memory is bounded: at most ``max_line`` bytes of an unfinished line are
kept; a longer one is handed out in pieces, and payload bytes are never
kept at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..proto.base import DEFAULT_LIMITS, Framer, asks_starttls

PieceKind = Literal["line", "body"]


@dataclass(frozen=True, slots=True)
class ClientPiece:
    """Bytes the client sent, in order, exactly as they arrived.

    ``kind`` "line": a command line (or a piece of an over-long one) with
    its terminator; "body": payload bytes (an IMAP literal, an HTTP body,
    an SMTP message line), ``offset`` into that payload.  ``line``: for an
    SMTP message line, the text as a user would type it (without the
    dot-stuffing, RFC 5321 4.5.2, and the CRLF), which is what a transcript
    records so that a replay stuffs it once; None otherwise.  ``starttls``:
    the line asks for TLS.
    """

    raw: bytes
    kind: PieceKind
    offset: int = 0
    total: int | None = None
    line: bytes | None = None
    starttls: bool = False


@dataclass(slots=True)
class Split:
    pieces: list[ClientPiece] = field(default_factory=list)
    held: bytes = b""  # not looked at: they follow a line that asked for TLS


class ClientSplitter:
    """Follows one client's stream; ``feed`` each chunk as it arrives."""

    def __init__(self, framer: Framer, max_line: int = DEFAULT_LIMITS.max_line) -> None:
        self.framer = framer
        self.protocol = framer.protocol
        self.max_line = max_line
        self._partial = bytearray()  # an unfinished line, at most max_line bytes
        self._offset = 0  # bytes into the payload under way
        self._in_payload = False

    def feed(self, data: bytes) -> Split:
        """Learn ``data`` (the bytes the client just sent) and cut it into pieces."""
        out = Split()
        pieces = out.pieces
        i, n = 0, len(data)
        while i < n:
            left = self._payload_left() if not self._partial else None
            if left is not None:
                take = n - i if left < 0 else min(left, n - i)
                chunk = data[i : i + take] if (i or take < n) else data
                self.framer.send_raw(chunk)
                pieces.append(self._body(chunk, None if left < 0 else left))
                i += take
                continue
            j = data.find(b"\n", i)
            if j < 0:
                self._partial += data[i:]
                if len(self._partial) > self.max_line:
                    # Over-long: shown and recorded in pieces, as received.
                    pieces.extend(self._line(bytes(self._partial)))
                    self._partial.clear()
                return out
            if self._partial:
                self._partial += data[i : j + 1]
                raw = bytes(self._partial)
                self._partial.clear()
            else:
                raw = data[i : j + 1] if (i or j + 1 < n) else data
            i = j + 1
            line_pieces = self._line(raw)
            pieces.extend(line_pieces)
            if line_pieces[-1].starttls:
                out.held = data[i:]
                return out
        return out

    def _body(self, raw: bytes, left: int | None, typed: bytes | None = None) -> ClientPiece:
        if not self._in_payload:
            self._in_payload = True
            self._offset = 0
        offset = self._offset
        self._offset += len(raw)
        return ClientPiece(raw, "body", offset, None if left is None else offset + left, typed)

    def _line(self, raw: bytes) -> list[ClientPiece]:
        """Learn one line (or piece of one) and say what it was."""
        framer = self.framer
        message_text = bool(getattr(framer, "sending_data", False))
        framer.send_raw(raw)
        if message_text:
            return self._message_line(raw)
        self._in_payload = False
        return [ClientPiece(raw, "line", starttls=self.protocol != "http" and asks_starttls(raw))]

    def _message_line(self, raw: bytes) -> list[ClientPiece]:
        """SMTP message text: a payload on screen, recorded as typed
        (``line``): without the stuffing, RFC 5321 4.5.2, which a replay
        through ``SmtpFramer.send`` puts back."""
        if raw == b"..\r\n":
            # A message line that is a lone ".": typed, it would end the
            # message.  Two pieces: "." without terminator (recorded
            # ``C: .\c``, sent raw) and ".\r\n", which send() does not
            # stuff after an unfinished line, so the wire is "..\r\n" again.
            return [self._body(b".", None), self._body(b".\r\n", None)]
        typed = None
        if raw.endswith(b"\r\n"):
            typed = raw[:-2]
            if typed.startswith(b".") and typed != b".":
                typed = typed[1:]
        return [self._body(raw, None, typed)]

    def _payload_left(self) -> int | None:
        """Payload octets the framer expects next: a count, -1 for a body
        whose end only its framing tells (HTTP chunked), None for lines."""
        framer = self.framer
        if self.protocol == "imap":
            left: int | None = getattr(framer, "literal_remaining", None)
            return left or None
        if self.protocol == "http":
            state = getattr(framer, "send_state", "")
            if state == "body":
                return int(getattr(framer, "body_remaining", 0)) or None
            return -1 if state == "chunked-body" else None
        return None

    @property
    def partial(self) -> bytes:
        """An unfinished line (at the client's EOF: it was sent, unterminated)."""
        return bytes(self._partial)
