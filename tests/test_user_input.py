"""user_input.py: reading the user's stdin for pipe mode (its end-to-end runs are
tests/integration/test_pipe_mode.py)."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time

import pytest

from protoshell.user_input import (
    READ_AHEAD,
    STDIN_CHUNK,
    STDIN_MAX_LINE,
    InputLineTooLong,
    StdinLines,
    _unbuffered_readline,
)


def test_a_read_waiting_on_stdin_holds_no_lock_that_shutdown_needs() -> None:
    """Ctrl-C while a line is awaited: the interpreter's shutdown closes stdin. A thread
    blocked in BufferedReader.readline() held its lock, and the shutdown aborted now and
    then ("Fatal Python error: _enter_buffered_busy", exit -6: 4 runs in 45 under load)."""
    read_fd, write_fd = os.pipe()
    stream = open(read_fd, "rb")  # noqa: SIM115 - closed below, as the shutdown would
    lines = StdinLines(stream)

    async def first_line() -> bytes:
        return await lines.readline()

    async def main() -> None:
        os.write(write_fd, b"EHLO me\nNOOP")
        assert await first_line() == b"EHLO me\n"
        waiting = asyncio.ensure_future(first_line())  # "NOOP" has no line end yet: it waits
        await asyncio.sleep(0.05)
        closer = threading.Thread(target=stream.close)
        closer.start()
        closer.join(2)
        assert not closer.is_alive(), "closing stdin waited for the blocked read"
        waiting.cancel()

    try:
        asyncio.run(main())
    finally:
        os.close(write_fd)  # EOF: the reading thread ends


def test_lines_keep_their_ends_and_the_last_may_have_none() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"a\r\nb\n\nlast")
    os.close(write_fd)
    with open(read_fd, "rb") as stream:
        lines = StdinLines(stream)

        async def all_lines() -> list[bytes]:
            out = []
            while line := await lines.readline():
                out.append(line)
            return out

        assert asyncio.run(all_lines()) == [b"a\r\n", b"b\n", b"\n", b"last"]


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads = 0

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        self.reads += 1
        return super().readline(size)


def test_lines_come_in_order_from_one_thread_and_read_ahead_is_bounded() -> None:
    data = b"".join(b"line %d\n" % i for i in range(5000))
    stream = CountingStream(data)

    async def main() -> tuple[list[bytes], int]:
        before = threading.active_count()
        lines = StdinLines(stream)
        first = [await lines.readline() for _ in range(10)]
        await asyncio.sleep(0.2)  # the reader runs ahead, but only so far
        ahead = stream.reads
        rest = []
        while line := await lines.readline():
            rest.append(line)
            assert threading.active_count() <= before + 1  # one reader thread, not one per line
        assert await lines.readline() == b""  # and stays at the end
        return first + rest, ahead

    got, ahead = asyncio.run(main())
    assert b"".join(got) == data
    assert 10 < ahead <= 10 + READ_AHEAD + 1


def test_a_read_error_reaches_the_caller() -> None:
    class Broken(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
            raise OSError("stdin went away")

    async def main() -> str:
        lines = StdinLines(Broken())
        try:
            await lines.readline()
        except OSError as exc:
            return str(exc)
        return ""

    t0 = time.monotonic()
    assert asyncio.run(main()) == "stdin went away"
    assert time.monotonic() - t0 < 2


class _FdOnly:
    """A stream with a real descriptor whose buffered readline must not be
    used (the reader thread would hold sys.stdin.buffer's lock)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def readline(self) -> bytes:
        raise AssertionError("read through the buffered object")


def test_stdin_with_a_descriptor_is_read_with_os_read_not_its_buffer() -> None:
    """A daemon thread blocked in BufferedReader.readline made the shutdown
    after Ctrl-C abort the process (SIGABRT, 'could not acquire lock for
    <stdin>') about one time in four: the thread now reads the descriptor."""
    r, w = os.pipe()
    try:
        data = b"EHLO me\r\nNOOP\n" + b"x" * 100_000 + b"\nlast"  # more than a pipe holds
        writer = threading.Thread(target=lambda: (os.write(w, data), os.close(w)))
        writer.start()
        readline = _unbuffered_readline(_FdOnly(r))  # type: ignore[arg-type]
        assert [readline() for _ in range(5)] == [b"EHLO me\r\n", b"NOOP\n", b"x" * 100_000 + b"\n", b"last", b""]
        writer.join(10)
    finally:
        os.close(r)


def test_an_endless_input_line_is_a_usage_error_not_unbounded_memory() -> None:
    r, w = os.pipe()
    try:
        writer = threading.Thread(target=lambda: (os.write(w, b"y" * (STDIN_MAX_LINE + 2 * STDIN_CHUNK)), os.close(w)))
        writer.start()
        readline = _unbuffered_readline(_FdOnly(r))  # type: ignore[arg-type]
        with pytest.raises(InputLineTooLong, match="longer than"):
            readline()
        writer.join(10)
    finally:
        os.close(r)
