"""Write a session as a transcript, one line at a time, as it happens.

The writer is handed an open text stream and flushes it after every line,
so a crash or a killed shell loses nothing that was already on the wire.
It never opens files and never reads a clock: the start time is passed in.

Every wire line is written in escape.py notation, so ``parse_transcript``
gives back exactly the bytes that were sent (``ClientLine.raw``,
``ServerLine.raw``).  Payloads (IMAP literals, HTTP bodies, a POP3 message)
are not written: ``payload(1425)`` writes ``S: <server sends 1425 octets of
message payload>``, which the replayer accepts for any payload of that size
(of any size when the size is unknown).  Call it once per whole payload,
not once per ``Payload`` chunk.  Client data that must replay (an APPEND
literal, message text in DATA) goes through ``client()`` as lines.
"""

from __future__ import annotations

import re
from typing import Final, TextIO

from .escape import Segment, segments_to_text
from .model import Side
from .parse import HEADER_PREFIX
from .redact import Redactor

__all__ = ["TranscriptWriter"]

_META_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_URL_PASSWORD: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*:)[^/@]*@")


def _one_line(what: str, text: str) -> str:
    if "\n" in text or "\r" in text or len(text.splitlines()) > 1:
        raise ValueError(f"{what} must be a single line: {text!r}")
    return text


def _split_lines(raw: bytes) -> list[bytes]:
    """Wire data cut after every LF; a last piece without LF stays a line
    of its own (written with the no-terminator mark ``\\c``)."""
    lines = raw.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


class TranscriptWriter:
    """Record a session into ``stream``.

    ``target`` is the URL connected to, ``started`` an ISO 8601 time
    (``2026-11-25T16:00:00Z``), ``protocol`` the protocol or URL scheme
    (``smtp``, ``imaps``...).  With ``redact`` (the default) a ``Redactor``
    sees every client and server line and secrets are written as
    ``<redacted>``; a password in the target URL is hidden too.

    The header line is written at once::

        # protoshell transcript · target: smtp://localhost:2525 · 2026-11-25T16:00:00Z · protocol: smtp

    ``close()`` flushes and closes the stream; writing afterwards raises
    ValueError.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        target: str,
        started: str,
        protocol: str,
        redact: bool = True,
    ) -> None:
        self._stream = stream
        self._closed = False
        self.redactor: Redactor | None = Redactor(protocol) if redact else None
        self.lines_written = 0
        if redact:
            target = _URL_PASSWORD.sub(r"\1<redacted>@", target)
        parts = [
            HEADER_PREFIX,
            f"target: {_one_line('target', target)}",
            _one_line("started", started),
            f"protocol: {_one_line('protocol', protocol)}",
        ]
        self._line(" · ".join(parts))

    # -- wire lines

    def client(self, raw: bytes) -> None:
        """Bytes the client sent: one or more lines, terminators included
        (a last piece without LF is written as an unterminated line)."""
        for line in _split_lines(raw):
            segments: list[Segment] = (
                self.redactor.client_segments(line) if self.redactor is not None else [line]
            )
            self._wire("C", segments)

    def server(self, raw: bytes) -> None:
        """Bytes of one or more lines the server sent (``ServerLine.raw``)."""
        for line in _split_lines(raw):
            segments: list[Segment] = (
                self.redactor.server_segments(line) if self.redactor is not None else [line]
            )
            self._wire("S", segments)

    def payload(self, size: int | None, preview: bytes | None = None) -> None:
        """A whole server payload of ``size`` octets (None: size unknown).
        ``preview`` is accepted for the caller's convenience and ignored:
        the bytes are never written."""
        del preview
        if size is None:
            self.narration("S", "server sends message payload")
        else:
            if size < 0:
                raise ValueError(f"payload size must not be negative: {size}")
            self.narration("S", f"server sends {size} octets of message payload")

    # -- actions, comments, meta-commands

    def connect(self, port: int | None = None) -> None:
        """``C: <client connects to service port N>``."""
        if port is None:
            self.narration("C", "client connects to service")
        else:
            self.narration("C", f"client connects to service port {port}")

    def hangup(self, side: Side = "C") -> None:
        """``C: <client hangs up>`` or ``S: <server hangs up>``."""
        self.narration(side, "client hangs up" if side == "C" else "server hangs up")

    def narration(self, side: Side, text: str) -> None:
        """``C: <text>`` / ``S: <text>``; text must be one line without
        angle brackets."""
        if side not in ("C", "S"):
            raise ValueError(f"side must be 'C' or 'S', not {side!r}")
        _one_line("narration", text)
        if "<" in text or ">" in text or not text.strip() or text in ("CRLF", "redacted"):
            raise ValueError(f"not a narration text: {text!r}")
        self._line(f"{side}: <{text}>")

    def comment(self, text: str) -> None:
        """``# text``, one comment line per line of ``text``."""
        for line in text.split("\n") or [""]:
            _one_line("comment", line)
            self._line(f"# {line}" if line else "#")

    def meta(self, command: str, *args: str) -> None:
        """``:command arg...`` (``meta("sleep", "0.5")`` -> ``:sleep 0.5``)."""
        if not _META_NAME.fullmatch(command):
            raise ValueError(f"not a meta-command name: {command!r}")
        for arg in args:
            _one_line("meta-command argument", arg)
        self._line(" ".join([f":{command}", *args]))

    # -- stream

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._stream.flush()
            finally:  # a failed flush (a full disk) still closes the file
                self._stream.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _wire(self, side: Side, segments: list[Segment]) -> None:
        text = segments_to_text(segments)
        self._line(f"{side}: {text}" if text else f"{side}:")

    def _line(self, line: str) -> None:
        if self._closed:
            raise ValueError("transcript writer is closed")
        self._stream.write(line + "\n")
        self._stream.flush()
        self.lines_written += 1
