"""The hook ``--step`` and ``demo`` use: before each ``C:`` line the engine
asks a ``Controller`` what to do with it (send, edit, skip, quit).  A replay
without a controller is a batch run (engine.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["SEND", "ClientContext", "Controller", "Decision"]

@dataclass(frozen=True, slots=True)
class ClientContext:
    """What a controller sees before a ``C:`` line is sent."""

    filename: str
    lineno: int
    text: str  # the line in notation, as it will be sent (before $variables)
    wire: bytes  # the bytes that will be sent (variables substituted)
    protocol: str
    last_response: tuple[bytes, ...]
    variables: Mapping[str, str]
    command_line: bytes  # the command this line belongs to (for a phase)
    continuation: bool  # message text, a SASL response, an HTTP header...
    problem: str = ""  # why the last edit could not be sent


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["send", "skip", "quit"] = "send"
    text: str | None = None  # an edited line, in notation


SEND = Decision()


class Controller(Protocol):
    async def before_client(self, ctx: ClientContext) -> Decision: ...

