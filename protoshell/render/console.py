"""The rich Console for a command's output: colours for people, plain for pipes."""

from __future__ import annotations

import os
import sys
from typing import IO

from rich.console import Console

from .theme import theme


class OutputClosed(Exception):
    """Whoever read our output has gone (``protoshell ... | head``)."""


class ProtoConsole(Console):
    """A Console that turns a closed pipe into ``OutputClosed`` once, quietly.

    rich's default raises SystemExit(1) from inside whatever printed, which
    in protoshell is the session's reader task: the user would get a
    traceback instead of the quiet exit ``| head`` deserves.
    """

    output_closed = False

    def on_broken_pipe(self) -> None:
        self.quiet = True
        self.output_closed = True
        try:  # as rich and the Python docs do: stop later writes failing at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        raise OutputClosed("output closed")


def make_console(file: IO[str], *, color: bool, theme_name: str = "default", width: int | None = None) -> ProtoConsole:
    return ProtoConsole(
        file=file,
        theme=theme(theme_name),
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=True,
        width=width,
    )
