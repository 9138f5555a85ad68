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

__all__ = ["READ_AHEAD", "STDIN_MAX_LINE", "InputLineTooLong", "StdinLines", "read_in_thread"]


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


READ_AHEAD = 256  # stdin lines read ahead of the one being sent (bounded memory)
STDIN_CHUNK = 64 << 10
STDIN_MAX_LINE = 2 << 20  # bytes of one input line (bounded memory); longer is an input error


class InputLineTooLong(Exception):
    """A line of input longer than STDIN_MAX_LINE: not sent (exit 2)."""


def _unbuffered_readline(stream: IO[bytes]) -> Callable[[], bytes]:
    """``readline`` for the reader thread.  A real file descriptor is read
    with ``os.read``, which holds no Python lock: a thread blocked in
    ``sys.stdin.buffer.readline()`` holds the buffer's, and the
    interpreter's shutdown after Ctrl-C then aborted now and then ("Fatal
    Python error: _enter_buffered_busy", exit -6).  Other streams (a test's
    BytesIO) are read with their own ``readline``."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return stream.readline
    buf = bytearray()

    def readline() -> bytes:
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl >= 0:
                line = bytes(buf[: nl + 1])
                del buf[: nl + 1]
                return line
            if len(buf) > STDIN_MAX_LINE:
                raise InputLineTooLong(f"an input line is longer than {STDIN_MAX_LINE >> 20} MiB; not sent")
            start = len(buf)
            chunk = os.read(fd, STDIN_CHUNK)
            if not chunk:
                line = bytes(buf)
                buf.clear()
                return line
            buf.extend(chunk)

    return readline


class StdinLines:
    """Lines of stdin without blocking the loop (server data keeps being
    shown meanwhile), read by one daemon thread a few lines ahead of the
    sender: a pasted 60,000-line message goes out at the speed of the
    connection, not of a thread hand-off per line (20,000 lines: 9.4 ->
    2.2 s).  At most READ_AHEAD lines wait in memory.  The thread starts at
    the first ``readline`` (it needs the running loop)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lines: asyncio.Queue[bytes | BaseException] | None = None
        self._room = threading.Semaphore(READ_AHEAD)
        self._done = False

    def _start(self) -> asyncio.Queue[bytes | BaseException]:
        lines: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        readline = _unbuffered_readline(self._stream)

        def work() -> None:
            while True:
                self._room.acquire()
                item: bytes | BaseException
                try:
                    item = readline()
                except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
                    item = exc
                try:
                    loop.call_soon_threadsafe(lines.put_nowait, item)
                except RuntimeError:
                    return  # the loop is gone: we are exiting
                if not isinstance(item, bytes) or not item:
                    return

        threading.Thread(target=work, name="protoshell-stdin", daemon=True).start()
        return lines

    async def readline(self) -> bytes:
        """The next line with its terminator; b"" at the end of input (and
        from then on)."""
        if self._done:
            return b""
        if self._lines is None:
            self._lines = self._start()
        item = await self._lines.get()
        self._room.release()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item
