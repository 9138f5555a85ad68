"""``protoshell demo FILE``: a transcript performed in front of a class.

Before each ``C:`` line the demo waits for Enter (``q`` Enter stops; at the
end of input it carries on by itself; on a terminal a single key does:
Enter, space or any other key sends, ``q`` stops, and nothing pressed is
echoed onto the class's screen), then types the line out at a
readable pace, with the lecture's phase of the command beside it
(identify, ask, answer, goodbye: ``Command.phase`` in the protocol's
vocabulary), sends it, and the server's real answer appears.  The lesson's
``#`` comments are shown when they are reached.  Where the server differs
from the transcript the difference is shown and the demo goes on: in class
that is a thing to talk about, not a reason to stop.

The pace is seconds per character (``--pace 0`` types at once: tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
from collections.abc import Callable, Iterator
from typing import IO

from ..render.replay_view import DemoPrinter
from ..session import Exchange, Observer
from ..user_input import read_in_thread
from .control import SEND, ClientContext, Decision
from .results import ReplayEvent
from .show import phase_of
from .step import read_line

__all__ = ["DEFAULT_PACE", "DemoController", "DemoReporter", "hide_typed", "single_keys"]

DEFAULT_PACE = 0.04  # seconds per character: 25 characters a second


@contextlib.contextmanager
def single_keys(stdin: IO[bytes], isatty: bool) -> Iterator[bool]:
    """On a terminal, for the whole demo: keys arrive one press at a time
    and are not echoed (no ECHO, no ICANON; Ctrl-C still interrupts).  The
    settings are put back on every way out, from the main thread, even
    while a reading thread is still blocked.  Yields whether it is on."""
    try:
        fd = stdin.fileno() if isatty else -1
        saved = termios.tcgetattr(fd) if fd >= 0 else None
    except (OSError, ValueError, termios.error):
        saved = None
    if saved is None:
        yield False
        return
    mode = termios.tcgetattr(fd)
    mode[3] &= ~(termios.ECHO | termios.ICANON)  # lflag
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSAFLUSH, mode)
    try:
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


class DemoController:
    """Waits for Enter (or, with ``keys``, one key) before each command,
    types the line out, names its phase."""

    def __init__(
        self,
        printer: DemoPrinter,
        stdin: IO[bytes],
        *,
        pace: float = DEFAULT_PACE,
        wait: bool = True,
        keys: bool = False,
    ) -> None:
        self.printer = printer
        self.stdin = stdin
        self.pace = max(0.0, pace)
        self.wait = wait
        self.keys = keys
        self.hide_next_client = False
        self.typed = 0

    async def _answer(self) -> bytes:
        if self.keys:
            fd = self.stdin.fileno()
            # One press: an arrow key's escape sequence arrives in one read.
            return await read_in_thread(lambda: os.read(fd, 32))
        return await read_line(self.stdin)

    async def before_client(self, ctx: ClientContext) -> Decision:
        # One key per command: the lines that go on it (message text after
        # 354, an HTTP request's header lines, a SASL response) follow by
        # themselves at the typing pace; a key per line of a message made a
        # class wait on the teacher's hand.
        if self.wait and not ctx.continuation:
            stop = "q: stop" if self.keys else "q Enter: stop"
            self.printer.prompt(f"[Enter: send line {ctx.lineno} · {stop}]")
            answer = await self._answer()
            if self.keys:  # no echo in key mode: the prompt is the line above
                self.printer.clear_prompt()
            if not answer:
                self.wait = False  # end of input: run the rest by itself
            elif answer.strip().lower() in (b"q", b"quit", b"\x04"):  # \x04: Ctrl-D with keys
                return Decision("quit")
        phase = phase_of(ctx.protocol, ctx.command_line)
        self.printer.begin_line()
        if self.pace <= 0:
            self.printer.type_chars(ctx.text)
        else:
            for ch in ctx.text:
                self.printer.type_chars(ch)
                await asyncio.sleep(self.pace)
        self.printer.end_line(phase)
        self.typed += 1
        self.hide_next_client = True
        return SEND


def hide_typed(controller: DemoController, observer: Observer) -> Observer:
    """The exchange renderer, minus the echo of a line the demo just typed
    (a line the replay adds itself, like HTTP's Host, is still shown)."""

    def show(ex: Exchange) -> None:
        if ex.direction == "C" and controller.hide_next_client:
            controller.hide_next_client = False
            return
        observer(ex)

    return show


class DemoReporter:
    """Engine events for a class: the lesson's comments, differences."""

    def __init__(self, printer: DemoPrinter, inner: Callable[[ReplayEvent], None]) -> None:
        self.printer = printer
        self.inner = inner

    def __call__(self, event: ReplayEvent) -> None:
        if event.kind == "comment":
            self.printer.comment(event.text)
            return
        if event.kind == "skipped" and event.text == "...":
            return
        self.inner(event)
