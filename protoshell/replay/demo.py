"""``protoshell demo FILE``: a transcript performed in front of a class.

Before each ``C:`` line the demo waits for Enter (``q`` Enter stops; at the
end of input it carries on by itself), then types the line out at a
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
from collections.abc import Callable
from typing import IO

from ..render.replay_view import DemoPrinter
from ..session import Exchange, Observer
from .engine import SEND, ClientContext, Decision, ReplayEvent
from .show import phase_of
from .step import read_line

__all__ = ["DEFAULT_PACE", "DemoController", "DemoReporter", "hide_typed"]

DEFAULT_PACE = 0.04  # seconds per character: 25 characters a second


class DemoController:
    """Waits for Enter, types the line out, names its phase."""

    def __init__(
        self,
        printer: DemoPrinter,
        stdin: IO[bytes],
        *,
        pace: float = DEFAULT_PACE,
        wait: bool = True,
    ) -> None:
        self.printer = printer
        self.stdin = stdin
        self.pace = max(0.0, pace)
        self.wait = wait
        self.hide_next_client = False
        self.typed = 0

    async def before_client(self, ctx: ClientContext) -> Decision:
        if self.wait:
            self.printer.prompt(f"[Enter: send line {ctx.lineno} · q Enter: stop]")
            answer = await read_line(self.stdin)
            if not answer:
                self.wait = False  # end of input: run the rest by itself
            elif answer.strip().lower() in (b"q", b"quit"):
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
