"""``--save-body FILE``: the last body or literal, streamed to disk whole.

Chunks are written as they arrive, so a 1 GB download costs one chunk of
memory; a new payload (offset 0) starts the file afresh, so the file holds
the last one, as the flag promises.
"""

from __future__ import annotations

from typing import BinaryIO

from .proto.base import Payload, ResponseEnd
from .session import Exchange


class BodySaver:
    def __init__(self, path: str) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self.saved = 0

    def __call__(self, ex: Exchange) -> None:
        event = ex.event
        if isinstance(event, ResponseEnd) and self._file is not None:
            self._file.flush()  # the response is whole: the file is too, for whoever looks
            return
        if not isinstance(event, Payload):
            return
        if event.offset == 0 or self._file is None:
            self.close()
            self._file = open(self.path, "wb")  # noqa: SIM115 - kept open across chunks
            self.saved = 0
        self._file.write(event.raw)
        self.saved += len(event.raw)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
