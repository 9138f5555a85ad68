"""``protoshell replay --step``: a debugger for sessions, as a state machine.

Before each ``C:`` line the replay stops (``StepMachine.should_stop``) and
the user answers; ``handle`` turns each answer into output lines and, when
the answer decides, an engine ``Decision``.  No I/O here beyond the plain
``LineStepper`` at the end, which reads answers from a byte stream (a pipe
works); the interactive prompt with editing and history is
``protoshell.shell.stepper`` (prompt_toolkit lives only in shell/).

Commands (first letter is enough)::

    n, Enter   send this line, stop before the next one
    c          continue: run to the next breakpoint, or to the end
    b N        break before line N (again: remove it); b alone lists them
    r          show the raw bytes of the last response (escapes and hex)
    e [TEXT]   edit: send TEXT (notation, $variables allowed) instead
    s          skip this line, and the server lines that answer it
    v          show the variables
    q          quit: stop here (exit status 1)
    ?, h       help
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from ..proto.base import strip_eol
from ..transcript.escape import escape_line
from ..user_input import read_in_thread
from .control import SEND, ClientContext, Decision

__all__ = ["HELP", "LineStepper", "StepMachine", "StepReply", "format_raw", "hexdump", "read_line"]

HELP = (
    "n, Enter  send this line and stop before the next",
    "c         continue to the next breakpoint (or the end)",
    "b N       break before line N (again: remove it); b alone lists breakpoints",
    "r         show the raw bytes of the last response",
    "e [TEXT]  edit this line before sending (TEXT replaces it)",
    "s         skip this line and the server lines that answer it",
    "v         show the variables",
    "q         quit here (exit status 1)",
    "?         this help",
)

RAW_LINES = 60  # lines of the last response shown by "r"
RAW_HEX = 512  # bytes of it shown as hex


@dataclass(frozen=True, slots=True)
class StepReply:
    """What an answer produced: lines to show, and maybe a decision
    (None: ask again).  ``ask_edit``: prompt for the new text (prefilled)."""

    output: tuple[str, ...] = ()
    decision: Decision | None = None
    ask_edit: bool = False


def hexdump(data: bytes, width: int = 16) -> list[str]:
    out = []
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        hx = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"{off:08x}  {hx:<{width * 3}} {asc}")
    return out


def format_raw(chunks: Sequence[bytes]) -> list[str]:
    """The last response as a person debugging wants it: each line in
    notation with its terminator made visible, then a hex dump."""
    if not chunks:
        return ["(no response yet)"]
    data = b"".join(chunks)
    lines = data.splitlines(keepends=True)
    out = []
    for line in lines[:RAW_LINES]:
        body = strip_eol(line)
        ending = line[len(body) :].replace(b"\r", b"\\r").replace(b"\n", b"\\n").decode()
        out.append(f"S: {escape_line(body)}{ending}")
    if len(lines) > RAW_LINES:
        out.append(f"... {len(lines) - RAW_LINES} more lines")
    out.append(f"{len(data)} bytes; the first {min(len(data), RAW_HEX)} in hex:")
    out.extend(hexdump(data[:RAW_HEX]))
    return out


@dataclass
class StepMachine:
    """The debugger's state: stepping or running, and the breakpoints."""

    client_lines: Sequence[int]
    breakpoints: set[int] = field(default_factory=set)
    stepping: bool = True

    @classmethod
    def create(cls, client_lines: Iterable[int], *, breakpoints: Iterable[int] = (), stepping: bool = True) -> StepMachine:
        lines = sorted(set(client_lines))
        machine = cls(lines, set(), stepping)
        for n in breakpoints:
            machine.set_break(n)
        return machine

    def should_stop(self, lineno: int) -> bool:
        return self.stepping or lineno in self.breakpoints

    def announce(self, ctx: ClientContext) -> list[str]:
        out = []
        if ctx.problem:
            out.append(f"cannot send that: {ctx.problem}")
        shown = ctx.text if ctx.text else "(empty line)"
        out.append(f"{ctx.filename}:{ctx.lineno} next: C: {shown}")
        return out

    prompt = "step (n c b r e s v q ?)> "

    def set_break(self, n: int) -> str:
        """Add (or remove) a breakpoint; returns what happened, in words."""
        if n in self.breakpoints:
            self.breakpoints.discard(n)
            return f"breakpoint at line {n} removed"
        if n in self.client_lines:
            self.breakpoints.add(n)
            return f"breakpoint at line {n}"
        i = bisect.bisect_left(self.client_lines, n)
        if i == len(self.client_lines):
            return f"no C: line at or after line {n}"
        line = self.client_lines[i]
        self.breakpoints.add(line)
        return f"line {n} is not a C: line; breakpoint at line {line}, the next one"

    def handle(self, answer: str, ctx: ClientContext) -> StepReply:
        words = answer.strip().split(maxsplit=1)
        cmd = words[0].lower() if words else "n"
        arg = words[1] if len(words) > 1 else ""
        if cmd in ("n", "next"):
            self.stepping = True
            return StepReply(decision=SEND)
        if cmd in ("c", "continue", "cont"):
            self.stepping = False
            return StepReply(decision=SEND)
        if cmd in ("b", "break"):
            if not arg:
                listed = ", ".join(str(n) for n in sorted(self.breakpoints)) or "none"
                return StepReply((f"breakpoints: {listed}",))
            try:
                n = int(arg)
            except ValueError:
                return StepReply((f"usage: b LINE (a line number, not {arg!r})",))
            return StepReply((self.set_break(n),))
        if cmd in ("r", "raw"):
            return StepReply(tuple(format_raw(ctx.last_response)))
        if cmd in ("e", "edit"):
            # Spaces inside the new line are the user's; a trailing space is
            # written \x20 in the notation, so stripping loses nothing.
            if not arg:
                return StepReply(ask_edit=True)
            return self.edited(arg, ctx)
        if cmd in ("s", "skip"):
            return StepReply(decision=Decision("skip"))
        if cmd in ("q", "quit", "exit"):
            return StepReply(decision=Decision("quit"))
        if cmd in ("v", "vars"):
            if not ctx.variables:
                return StepReply(("no variables",))
            return StepReply(tuple(f"${k} = {v}" for k, v in sorted(ctx.variables.items())))
        if cmd in ("?", "h", "help"):
            return StepReply(HELP)
        return StepReply((f"unknown command {cmd!r} (? for help)",))

    def edited(self, text: str | None, ctx: ClientContext) -> StepReply:
        """The new text for the line (None or unchanged: nothing edited)."""
        if text is None:
            return StepReply(("edit cancelled",))
        if text == ctx.text:
            return StepReply(("unchanged",), decision=SEND)
        return StepReply((f"sending instead: C: {text}",), decision=Decision("send", text))


async def read_line(stream: IO[bytes]) -> bytes:
    """One line of ``stream`` without blocking the event loop (the server's
    lines keep arriving meanwhile)."""
    return await read_in_thread(stream.readline)


class Stepper:
    """The debugger's dialogue before each C: line; subclasses only say how
    a question is asked (``_ask``, ``_ask_edit``) and what ending the input
    means (``end_message``)."""

    machine: StepMachine
    write: Callable[[str], None]
    end_message = "quit"

    async def _ask(self, prompt: str) -> str | None:
        raise NotImplementedError

    async def _ask_edit(self, ctx: ClientContext) -> str | None:
        raise NotImplementedError

    async def before_client(self, ctx: ClientContext) -> Decision:
        if not self.machine.should_stop(ctx.lineno):
            return SEND
        for line in self.machine.announce(ctx):
            self.write(line)
        while True:
            answer = await self._ask(self.machine.prompt)
            if answer is None:
                self.write(self.end_message)
                return Decision("quit")
            reply = self.machine.handle(answer, ctx)
            if reply.ask_edit:
                reply = self.machine.edited(await self._ask_edit(ctx), ctx)
            for line in reply.output:
                self.write(line)
            if reply.decision is not None:
                return reply.decision


class LineStepper(Stepper):
    """The stepper for a plain stream (a pipe, or a terminal without
    prompt_toolkit): answers are lines; end of input quits."""

    end_message = "end of input: quitting"

    def __init__(self, machine: StepMachine, stdin: IO[bytes], write: Callable[[str], None]) -> None:
        self.machine = machine
        self.stdin = stdin
        self.write = write

    async def _ask(self, prompt: str) -> str | None:
        self.write(prompt)
        raw = await read_line(self.stdin)
        if not raw:
            return None
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _ask_edit(self, ctx: ClientContext) -> str | None:
        self.write(f"current: {ctx.text}")
        return await self._ask("new line> ")
