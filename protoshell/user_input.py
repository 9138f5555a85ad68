"""The user's input, read without blocking the event loop (the server's
lines keep arriving and being shown meanwhile).

Blocking reads run in daemon threads, never the default executor: a read
still waiting must not keep the process alive after Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import IO

__all__ = ["StdinLines", "read_in_thread"]


async def read_in_thread(read: Callable[[], bytes]) -> bytes:
    """``read()`` (a blocking read of the user's input) without blocking the
    event loop; in a daemon thread, so a blocked read never keeps the
    process alive."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[bytes] = loop.create_future()

    def deliver(result: bytes, exc: Exception | None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def work() -> None:
        result, error = b"", None
        try:
            result = read()
        except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        try:
            loop.call_soon_threadsafe(deliver, result, error)
        except RuntimeError:
            pass  # the loop is gone: we are exiting

    threading.Thread(target=work, name="protoshell-input", daemon=True).start()
    return await fut


class StdinLines:
    """Lines of stdin, read without blocking the loop (server data keeps being
    shown meanwhile), each by a daemon thread: a blocked read must not keep
    the process alive after Ctrl-C.

    A real file descriptor is read with ``os.read``, which holds no Python
    lock: a thread blocked in ``sys.stdin.buffer.readline()`` holds the
    buffer's, and the interpreter's shutdown after Ctrl-C then aborted now
    and then ("Fatal Python error: _enter_buffered_busy", exit -6).  Other
    streams (a test's BytesIO) are read with their ``readline``."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            self._fd = None
        self._buf = bytearray()
        self._eof = False

    def _next_line(self) -> bytes:
        if self._fd is None:
            return self._stream.readline()
        while True:
            end = self._buf.find(b"\n")
            if end >= 0 or self._eof:
                cut = end + 1 if end >= 0 else len(self._buf)
                line = bytes(self._buf[:cut])
                del self._buf[:cut]
                return line
            chunk = os.read(self._fd, 65536)
            if chunk:
                self._buf += chunk
            else:
                self._eof = True

    async def readline(self) -> bytes:
        """The next line, with its terminator; ``b""`` at EOF."""
        return await read_in_thread(self._next_line)
