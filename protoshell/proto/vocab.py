"""The shape of a protocol's vocabulary: one table per protocol.

Following aiosmtpd, where a command's help lives beside its definition, every
fact a person or a tool needs about a command or a reply code is written once,
here, as data.  Completion, highlighting, ``:help``, ``:explain``, the framers'
"is this multi-line?" rules and the replay checker all read these tables, so
they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .base import Outcome

# The lecture's four phases of a conversation ("how to identify yourself, how
# to ask for information, how to provide answers, how to say goodbye").
Phase = Literal["identify", "ask", "answer", "goodbye"]


@dataclass(frozen=True, slots=True)
class Command:
    """A command (or HTTP method) of a protocol."""

    name: str  # upper case, as the RFC spells it
    syntax: str  # e.g. "RETR msg"; "LIST [msg]"
    rfc: str  # e.g. "RFC 1939 section 5"
    meaning: str  # one line, for :help and completion meta
    phase: Phase
    # Argument hints for completion: names of things the shell may learn
    # from the server ("mailbox", "message", "fetch-item", "auth-mechanism",
    # "path", "header"), in argument order.
    args: tuple[str, ...] = ()
    # POP3: when a +OK reply to this command is followed by a multi-line
    # body: "no", "yes", or "no-arg" (LIST and UIDL: only without an argument).
    multiline: Literal["no", "yes", "no-arg"] = "no"
    # POP3: the multi-line body is a message (RETR, TOP: RFC 1939 5, 7),
    # the one ``--save-body`` saves; other bodies (LIST, CAPA) are listings.
    message: bool = False
    safe: bool | None = None  # HTTP methods only (RFC 9110 9.2.1)
    idempotent: bool | None = None  # HTTP methods only (RFC 9110 9.2.2)

    @property
    def takes_argument(self) -> bool:
        """Its syntax names an argument after the command that is not
        [optional] (``SELECT mailbox``, ``RETR msg``; not ``LIST [msg]``)."""
        words = self.syntax.split()[1:]
        return bool(words) and not words[0].startswith("[")


@dataclass(frozen=True, slots=True)
class ReplyCode:
    """A reply code or status word and what it tells a person."""

    code: str  # "250", "+OK", "NO", "404"
    meaning: str
    outcome: Outcome
    rfc: str = ""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    protocol: str  # "smtp", "pop3", "imap", "http"
    commands: Mapping[str, Command]
    replies: Mapping[str, ReplyCode]
    # Extra words worth completing or highlighting (FETCH items, header
    # names, ESMTP keywords...), grouped by the hint names used in Command.args.
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def command(self, name: str) -> Command | None:
        return self.commands.get(name.upper())

    def reply(self, code: str) -> ReplyCode | None:
        return self.replies.get(code) or self.replies.get(code.upper())


def table(*commands: Command) -> dict[str, Command]:
    """Index commands by name, refusing duplicates (a table typo would
    otherwise silently shadow an entry)."""
    out: dict[str, Command] = {}
    for c in commands:
        if c.name in out:
            raise ValueError(f"duplicate command {c.name}")
        out[c.name] = c
    return out


def replies(*codes: ReplyCode) -> dict[str, ReplyCode]:
    out: dict[str, ReplyCode] = {}
    for c in codes:
        if c.code in out:
            raise ValueError(f"duplicate reply code {c.code}")
        out[c.code] = c
    return out
