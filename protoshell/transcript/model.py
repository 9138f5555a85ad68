"""A parsed transcript: plain frozen data, no behaviour beyond reading it.

Every step keeps the line number it came from, so the replayer can point at
the transcript line when the server disagrees.  Nothing here executes
anything: a ``Meta`` step is a name and words, and it is the replayer's job
to allow only the meta-commands it knows (``:starttls``, ``:sleep``...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .escape import REDACTED
from .variables import is_redacted, variables_in

__all__ = [
    "ClientLine",
    "Comment",
    "Meta",
    "Narration",
    "NarrationKind",
    "ServerLine",
    "Side",
    "Step",
    "Transcript",
]

Side = Literal["C", "S"]
NarrationKind = Literal["connect", "hangup", "payload", "elision", "other"]


def _decoded(raw: bytes) -> str:
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    return raw.decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ClientLine:
    """``C: text``: a line to send.

    ``text`` is the notation as written (escapes and ``$variables``
    unexpanded); ``raw`` the exact wire bytes it stands for, terminator
    included, with variables taken literally.  To send, use
    ``variables.substitute_bytes(text, vars)`` (which also refuses a
    ``<redacted>`` line); ``raw`` is right as is when ``variables`` is empty
    and ``redacted`` false.
    """

    text: str
    raw: bytes
    lineno: int

    @property
    def variables(self) -> tuple[str, ...]:
        return variables_in(self.text)

    @property
    def redacted(self) -> bool:
        return REDACTED in self.text and is_redacted(self.text)

    @property
    def decoded(self) -> str:
        """The line without terminator, decoded for display (U+FFFD for bad
        UTF-8), like ``proto.base.ServerLine.text``."""
        return _decoded(self.raw)


@dataclass(frozen=True, slots=True)
class ServerLine:
    """``S: text``: a line the server is expected to send.

    ``text`` is the notation (a pattern for ``variables.compile_expected``);
    ``raw`` the bytes it stands for taken literally, terminator included;
    ``decoded`` is what to hand to a protocol's ``line_status`` for the
    default (status-only) check.
    """

    text: str
    raw: bytes
    lineno: int

    @property
    def variables(self) -> tuple[str, ...]:
        return variables_in(self.text)

    @property
    def decoded(self) -> str:
        return _decoded(self.raw)


@dataclass(frozen=True, slots=True)
class Narration:
    """``C: <...>`` / ``S: <...>`` (or an unprefixed ``<...>``): an action.

    ``text`` is what is between the angle brackets (``"..."`` for an
    elision).  Kinds:

    - ``connect``: ``<client connects to service port 110>``; ``port`` if
      the text names one.
    - ``hangup``: ``<client hangs up>``, ``<server closes the connection>``.
    - ``payload``: ``<server sends 1425 octets of message payload>``,
      ``<438 bytes of content>``: ``octets`` is the size if given.  The
      replayer accepts a payload of exactly that size, or of any size when
      ``octets`` is None; the bytes themselves are never in the transcript.
    - ``elision``: ``S: ...`` or a bare ``...``: the lecture's "lines left
      out here"; the replayer may skip server lines until the next expected
      one matches.
    - ``other``: anything else (``<the POP3 server sends the text of message
      1>`` is a payload of unknown size, so "other" is rare).
    """

    side: Side
    text: str
    lineno: int
    kind: NarrationKind
    port: int | None = None
    octets: int | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """``# text``; ``text`` has the ``#`` and one following space removed."""

    text: str
    lineno: int


@dataclass(frozen=True, slots=True)
class Meta:
    """``:command args``: a shell meta-command (``:starttls``, ``:sleep 0.5``,
    ``:auth plain bob``, ``:set name value``).

    ``command`` is lower-cased; ``args`` the words after it (split on
    whitespace); ``argtext`` everything after the command, as written, for
    commands whose argument may contain spaces.
    """

    command: str
    args: tuple[str, ...]
    lineno: int
    argtext: str = ""


Step = ClientLine | ServerLine | Narration | Comment | Meta


@dataclass(frozen=True, slots=True)
class Transcript:
    """A whole transcript.

    ``header`` holds the fields of a first line ``# protoshell transcript ·
    target: URL · DATE``: ``target``, ``date``, ``protocol`` (when written)
    and any other ``key: value``; it is empty for a pasted lecture excerpt.
    ``source`` is the file name given to the parser, for messages.
    """

    header: Mapping[str, str]
    steps: tuple[Step, ...]
    source: str

    @property
    def target(self) -> str | None:
        return self.header.get("target")

    @property
    def protocol(self) -> str | None:
        return self.header.get("protocol")
