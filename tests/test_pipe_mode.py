"""pipe_mode.StdinLines: stdin lines read ahead by one thread, bounded."""

from __future__ import annotations

import asyncio
import io
import threading
import time

from protoshell.pipe_mode import READ_AHEAD, StdinLines


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
