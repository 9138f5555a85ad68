"""IMAP4rev1 command arguments, typed: what ``ImapCommand.args`` holds.

One frozen dataclass per argument shape (RFC 3501 6): ``LoginArgs`` for
LOGIN, ``FetchArgs`` for FETCH and UID FETCH, ``SearchKey`` for a node of a
search program...  ``CommandArgs`` is their union.  The grammars that build
them are in ``imap_grammar``; the connection hands them out in
``ImapCommand`` (``imap_server``).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Literal

from .imap_syntax import SequenceSet

__all__ = [
    "AppendArgs",
    "AuthenticateArgs",
    "CommandArgs",
    "CopyArgs",
    "FetchArgs",
    "FetchItem",
    "ListArgs",
    "LoginArgs",
    "MailboxArgs",
    "RenameArgs",
    "SearchArgs",
    "SearchKey",
    "StatusArgs",
    "StoreArgs",
]


@dataclass(frozen=True, slots=True)
class LoginArgs:
    user: bytes
    password: bytes


@dataclass(frozen=True, slots=True)
class AuthenticateArgs:
    mechanism: str
    initial: bytes | None  # SASL-IR (RFC 4959): base64 text or b"=" for empty


@dataclass(frozen=True, slots=True)
class MailboxArgs:
    mailbox: str


@dataclass(frozen=True, slots=True)
class RenameArgs:
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class ListArgs:
    reference: str
    pattern: str


@dataclass(frozen=True, slots=True)
class StatusArgs:
    mailbox: str
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AppendArgs:
    """``message`` is the literal when it was small enough to keep inline,
    None when it was streamed as Payload events; ``size`` is its length."""

    mailbox: str
    flags: tuple[str, ...]
    date: float | None  # POSIX time of the date-time argument
    message: bytes | None = None
    size: int = 0


@dataclass(frozen=True, slots=True)
class SearchKey:
    """One node of a search program (RFC 3501 6.4.4).

    ``op`` is one of: all, flag (``text`` is the flag, ``negate``), keyword,
    header (``text`` field name, ``needle``), body, text, larger, smaller
    (``number``), before, on, since, sentbefore, senton, sentsince (``date``),
    uid, seq (``seqset``), new, old, not, or, and (``children``).
    """

    op: str
    text: str = ""
    needle: bytes = b""
    number: int = 0
    date: _dt.date | None = None
    seqset: SequenceSet | None = None
    children: tuple[SearchKey, ...] = ()
    negate: bool = False


@dataclass(frozen=True, slots=True)
class SearchArgs:
    charset: str | None
    key: SearchKey


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One fetch attribute (RFC 3501 6.4.5).

    ``name`` is FLAGS, UID, INTERNALDATE, RFC822.SIZE, ENVELOPE, RFC822,
    RFC822.HEADER, RFC822.TEXT or BODY (a ``BODY[section]<partial>``, with
    ``peek`` for BODY.PEEK).  ``section`` is "", HEADER, TEXT, HEADER.FIELDS or
    HEADER.FIELDS.NOT, the last two with ``fields``.
    """

    name: str
    section: str = ""
    fields: tuple[str, ...] = ()
    peek: bool = False
    partial: tuple[int, int] | None = None

    @property
    def response_name(self) -> str:
        """The item name in the FETCH response (``BODY.PEEK[x]`` comes back
        as ``BODY[x]``; a partial fetch names its origin, RFC 3501 7.4.2)."""
        if self.name != "BODY":
            return self.name
        inner = self.section
        if self.fields:
            inner += " (" + " ".join(self.fields) + ")"
        origin = f"<{self.partial[0]}>" if self.partial is not None else ""
        return f"BODY[{inner}]{origin}"

    @property
    def sets_seen(self) -> bool:
        """RFC 3501 6.4.5: fetching body text sets \\Seen, unless PEEK."""
        if self.name == "BODY":
            return not self.peek
        return self.name in ("RFC822", "RFC822.TEXT")


@dataclass(frozen=True, slots=True)
class FetchArgs:
    seqset: SequenceSet
    items: tuple[FetchItem, ...]


@dataclass(frozen=True, slots=True)
class StoreArgs:
    seqset: SequenceSet
    mode: Literal["set", "add", "remove"]
    silent: bool
    flags: tuple[str, ...]  # system flags normalised; keywords as sent


@dataclass(frozen=True, slots=True)
class CopyArgs:
    seqset: SequenceSet
    mailbox: str


CommandArgs = (
    LoginArgs
    | AuthenticateArgs
    | MailboxArgs
    | RenameArgs
    | ListArgs
    | StatusArgs
    | AppendArgs
    | SearchArgs
    | FetchArgs
    | StoreArgs
    | CopyArgs
    | SequenceSet
    | None
)
