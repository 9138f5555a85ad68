"""The rich Console for a command's output: colours for people, plain for pipes."""

from __future__ import annotations

from typing import IO

from rich.console import Console

from .theme import theme


def make_console(file: IO[str], *, color: bool, theme_name: str = "default", width: int | None = None) -> Console:
    return Console(
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
