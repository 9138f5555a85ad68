"""``--save-body FILE`` / ``:save-body FILE``: the last body, literal or
message, streamed to disk whole.

Payload chunks (an HTTP body, an IMAP literal) are written as they arrive,
so a 1 GB download costs one chunk of memory.  A message sent as lines (a
POP3 RETR or TOP: ``BodyLine`` events with ``message`` set) is written line
by line, as its ``data``: the byte-stuffing dot removed (RFC 1939 3), CRLF
kept as on the wire, the terminating ``.`` line left out, so the file is the
message byte for byte; the file's own buffer batches the small writes.  A
new payload (offset 0) or a new message starts the file afresh, so the file
holds the last one, as the flag promises.
"""

from __future__ import annotations

from typing import BinaryIO

from .proto.base import BodyEnd, BodyLine, Payload, ResponseEnd
from .session import Exchange

_BUFFER = 256 << 10  # bytes of lines gathered before a write


class BodySaver:
    def __init__(self, path: str) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._in_message = False  # the file is taking the lines of a message
        self.saved = 0

    def _start(self) -> BinaryIO:
        self.close()
        self._file = open(self.path, "wb", buffering=_BUFFER)  # noqa: SIM115 - kept open across chunks
        self.saved = 0
        return self._file

    def __call__(self, ex: Exchange) -> None:
        event = ex.event
        if isinstance(event, BodyLine):
            if not event.message:
                return
            file = self._file if self._in_message and self._file is not None else self._start()
            self._in_message = True
            file.write(event.data)
            self.saved += len(event.data)
            return
        if ex.direction != "S":
            return
        starting_empty = isinstance(event, BodyEnd) and event.message and not self._in_message
        self._in_message = False
        if starting_empty:
            self._start()  # an empty message (RFC 1939: "+OK" then "."): the file is empty too
        if isinstance(event, ResponseEnd) and self._file is not None:
            self._file.flush()  # the response is whole: the file is too, for whoever looks
            return
        if not isinstance(event, Payload):
            return
        if event.offset == 0 or self._file is None:
            self._start()
        assert self._file is not None
        self._file.write(event.raw)
        self.saved += len(event.raw)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
