"""Every style protoshell uses, by name, in one place.

A classroom theme with big contrast is one more dictionary here.
"""

from __future__ import annotations

from rich.theme import Theme

from ..proto.base import Outcome

STYLES: dict[str, str] = {
    "protoshell.client": "bold bright_white",
    "protoshell.prefix.client": "bold magenta",
    "protoshell.prefix.server": "bold blue",
    "protoshell.ok": "green",
    "protoshell.continue": "cyan",
    "protoshell.temporary": "yellow",
    "protoshell.error": "bold red",
    "protoshell.info": "bright_black",
    "protoshell.data": "default",
    "protoshell.payload": "italic bright_black",
    "protoshell.note": "dim italic",
    "protoshell.note.warning": "yellow",
    "protoshell.note.error": "bold red",
    "protoshell.hex": "bright_black",
    "protoshell.escape": "reverse",
}

CLASSROOM: dict[str, str] = {
    **STYLES,
    "protoshell.client": "bold black on bright_white",
    "protoshell.ok": "bold bright_green",
    "protoshell.info": "bold white",
    "protoshell.note": "bold white",
}

THEMES: dict[str, dict[str, str]] = {"default": STYLES, "classroom": CLASSROOM}


def theme(name: str = "default") -> Theme:
    return Theme(THEMES[name])


def outcome_style(outcome: Outcome) -> str:
    return f"protoshell.{outcome}"
