"""user_input.py: reading the user's stdin for pipe mode (its end-to-end runs are
tests/integration/test_pipe_mode.py)."""

from __future__ import annotations

import asyncio
import os
import threading

from protoshell.user_input import StdinLines


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
