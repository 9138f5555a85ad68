"""The interactive prompt of ``protoshell replay --step``.

The debugger's logic is the pure ``replay.step.StepMachine``; this module
only asks the questions with prompt_toolkit (line editing, history, and for
"edit" the line to send prefilled, so a typo in a recorded command is fixed
in place).  Ctrl-D or Ctrl-C at the prompt quits the replay.

``make_stepper`` is the factory ``replay.cli_entry.replay_main`` takes (the
CLI passes it in, imported only when a replay steps).  When stdin is not a
terminal the plain ``LineStepper`` answers instead (prompt_toolkit wants a
terminal).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit import PromptSession
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output

from ..context import Environment
from ..replay.engine import ClientContext, Controller
from ..replay.step import LineStepper, StepMachine, Stepper

__all__ = ["PromptStepper", "make_stepper"]


class PromptStepper(Stepper):
    """Asks before each C: line the machine wants to stop at."""

    def __init__(
        self,
        machine: StepMachine,
        write: Callable[[str], None],
        *,
        input: Input | None = None,
        output: Output | None = None,
    ) -> None:
        self.machine = machine
        self.write = write
        self._input = input
        self._output = output
        self._session: PromptSession[str] | None = None

    def _prompt_session(self) -> PromptSession[str]:
        if self._session is None:
            self._session = PromptSession(input=self._input, output=self._output)
        return self._session

    async def _prompt(self, message: str, default: str = "") -> str | None:
        try:
            return await self._prompt_session().prompt_async(message, default=default)
        except (EOFError, KeyboardInterrupt):
            return None

    async def _ask(self, prompt: str) -> str | None:
        return await self._prompt(prompt)

    async def _ask_edit(self, ctx: ClientContext) -> str | None:
        # The recorded line prefilled, so a typo is fixed in place.
        return await self._prompt("edit> ", default=ctx.text)


def make_stepper(machine: StepMachine, env: Environment, write: Callable[[str], None]) -> Controller:
    """The --step controller for this environment: the prompt at a
    terminal, plain lines from a pipe."""
    if env.stdin_isatty:
        return PromptStepper(machine, write)
    return LineStepper(machine, env.stdin, write)

