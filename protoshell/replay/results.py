"""What a replay reports and is told: mismatches, events, the result, the
options, and the ``--step`` / demo hook (``Controller``).  Data only; split
out of ``engine.py`` so that each module holds one job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..status import ExitStatus

__all__ = [
    "SEND",
    "ClientContext",
    "Controller",
    "Decision",
    "Mismatch",
    "ReplayEvent",
    "ReplayOptions",
    "ReplayResult",
]


# ---------------------------------------------------------------------------
# Results and events


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Where the server and the transcript disagree."""

    filename: str
    lineno: int
    expected: str  # the transcript's line, in notation ("S: 250 OK")
    actual: str  # what the server did, in notation
    reason: str
    expected_status: str | None = None
    actual_status: str | None = None

    @property
    def where(self) -> str:
        return f"{self.filename}:{self.lineno}"

    def one_line(self) -> str:
        return f"{self.where}: {self.reason}: expected {self.expected!r}, got {self.actual!r}"


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """Something the replay did.  ``kind``:

    - ``connected``: ``text`` is the target URL;
    - ``sent``: a C: line went out (``lineno``, ``text`` in notation);
    - ``matched``: an S: step matched (``lineno``; ``text`` what arrived,
      or for a line, empty and ``raw`` its bytes: describing costs time);
    - ``captured``: ``$name`` = value (``name``, ``text``);
    - ``skipped``: server lines an elision skipped (``lineno`` of the ``...``,
      ``count``), or a step the user skipped (``--step``);
    - ``note``: anything else worth saying (``level``);
    - ``comment``: a ``#`` line of the transcript was reached (``text``);
    - ``mismatch``: ``mismatch`` is set;
    - ``finished``: ``result`` is set.
    """

    kind: Literal[
        "connected", "sent", "matched", "captured", "skipped", "note", "comment", "mismatch", "finished"
    ]
    lineno: int = 0
    text: str = ""
    name: str = ""
    count: int = 0
    level: Literal["info", "warning", "error"] = "info"
    mismatch: Mismatch | None = None
    result: ReplayResult | None = None
    raw: bytes = b""  # "matched" a server line: its bytes (``text`` is then empty)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    status: ExitStatus
    checked: int  # expected server steps that matched
    sent: int  # client lines sent
    mismatches: tuple[Mismatch, ...] = ()
    message: str = ""  # why it stopped, when not all matched (network error, quit)
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    strict: bool = False
    timeout: float = 10.0  # idle timeout for a response the server owes
    insecure: bool = False
    cafile: str | None = None
    # --set values, in transcript notation (escape_line of the bytes).
    variables: Mapping[str, str] = field(default_factory=dict)
    # How long to wait for a line the server does not owe (after its turn
    # ended) before deciding it will not come: unsolicited data (IMAP IDLE)
    # arrives within it; a line the transcript has and the server has not
    # is reported after it.
    settle: float = 1.0
    keep_going: bool = False  # report every mismatch instead of stopping at the first


# ---------------------------------------------------------------------------
# The --step / demo hook


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
