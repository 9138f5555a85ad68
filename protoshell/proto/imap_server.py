"""IMAP4rev1 in the server role, sans-IO: commands in, responses out.

RFC 3501 (IMAP4rev1) for the grammar and the states, RFC 7888 for LITERAL+
(``{n+}``), RFC 2177 for IDLE, RFC 4315 for UIDPLUS, RFC 4959 for SASL-IR.

What this module does, and what it leaves to its caller
--------------------------------------------------------
``ImapServerConnection`` is fed the bytes a client sent (``receive_data``;
``b""`` is EOF) and hands out events (``next_event``):

=====================  ======================================================
event                  meaning / what the caller does
=====================  ======================================================
``ImapCommand``        a complete, syntactically valid command that is allowed
                       in the current state, with typed ``args``; the caller
                       executes it and ends it with ``send_tagged``
``CommandError``       a command that cannot be run (syntax, unknown command,
                       wrong state, literal over a limit); the caller sends
                       ``send_error(event)`` (``tag BAD reason``, or ``* BAD``
                       when there is no usable tag); ``fatal`` means: also
                       ``send_bye`` and close
``LiteralRequest``     a command line ended in ``{n}`` / ``{n+}``: the caller
                       says ``accept_literal()`` (its return value, ``+ Ready
                       for literal data`` for a synchronizing literal, goes on
                       the wire) or ``refuse_literal(status, text)``
``Payload``            a chunk of a streamed literal (the message of APPEND),
                       as it arrives; never accumulated here
``ContinuationLine``   after ``send_continuation`` (IDLE's ``DONE``, a SASL
                       response): the next line, not parsed as a command
``ConnectionClosed``   EOF; ``clean`` is false in the middle of a command
=====================  ======================================================

The caller executes commands (it owns the mailboxes, the clock, the files);
this module owns the wire: tags, atoms, quoted strings, literals, lists,
sequence sets, search keys, fetch items, the per-connection state
(``not-authenticated`` -> ``authenticated`` -> ``selected`` -> ``logout``,
RFC 3501 3) and the serialisation of responses.  State changes happen when
the caller *sends* the completion of a command, as in h11: ``LOGIN`` answered
``OK`` authenticates, ``SELECT`` answered ``NO`` leaves the selected state
(RFC 3501 6.3.1), ``STARTTLS`` answered ``OK`` stops parsing until
``tls_started()`` (RFC 3501 6.2.1: whatever the client sent in plaintext after
the command is kept in ``trailing_data`` and thrown away).

Commands are handled one at a time: after ``ImapCommand`` the caller must
answer it (``send_tagged``) before asking for the next event, so pipelined
commands (the lecture's re-ordered exchange) are answered in order.

Bounded memory: a line is at most ``limits.max_line``; literals of ordinary
commands (a password, a search string) are kept only up to
``max_inline_literal`` and a whole command up to ``max_command``; the message
of APPEND is streamed as ``Payload`` chunks up to ``max_literal``.  Nothing
is pre-allocated from a size the client declared.  A synchronizing literal
over a limit is refused before the client sends it; a non-synchronizing one
(LITERAL+) is read and dropped up to ``max_literal`` (RFC 7888 4), beyond that
the connection is closed.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Final, Literal, Protocol

from .base import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    LineBuffer,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    Role,
    _NeedData,
    strip_eol,
)
from .imap import _TAG_RE, _literal_suffix

__all__ = [
    "DEFAULT_SERVER_LIMITS",
    "SYSTEM_FLAGS",
    "AppendArgs",
    "Atom",
    "AuthenticateArgs",
    "CommandArgs",
    "CommandError",
    "ContinuationLine",
    "CopyArgs",
    "ExternalLiteral",
    "FetchArgs",
    "FetchItem",
    "ImapCommand",
    "ImapServerConnection",
    "ImapServerLimits",
    "ImapSyntaxError",
    "ListArgs",
    "LiteralRequest",
    "LoginArgs",
    "MailboxArgs",
    "PList",
    "RenameArgs",
    "SearchArgs",
    "SearchKey",
    "SearchSubject",
    "SequenceSet",
    "ServerState",
    "StatusArgs",
    "StoreArgs",
    "StreamedLiteral",
    "String",
    "envelope",
    "fetch_response",
    "flag_list",
    "format_internaldate",
    "header_fields",
    "header_values",
    "mailbox_name",
    "nstring",
    "parse_date_time",
    "parse_search",
    "parse_sequence_set",
    "partial_bytes",
    "quoted",
    "search_matches",
    "section_span",
    "string",
    "tokenize",
]

ServerState = Literal["not-authenticated", "authenticated", "selected", "logout"]


@dataclass(frozen=True, slots=True)
class ImapServerLimits:
    """Bounds that keep a connection's memory finite whatever the client sends."""

    max_line: int = 64 << 10  # one line, CRLF included (Dovecot uses 64 KiB too)
    max_inline_literal: int = 64 << 10  # a literal argument other than APPEND's message
    max_command: int = 1 << 20  # all lines and inline literals of one command
    max_literal: int = 32 << 20  # APPEND's message, streamed
    chunk_size: int = 256 << 10  # largest Payload handed out at once
    max_bad_commands: int = 20  # consecutive errors before the server hangs up


DEFAULT_SERVER_LIMITS: Final = ImapServerLimits()

# RFC 3501 2.3.2: the system flags, and their Maildir letters.
SYSTEM_FLAGS: Final = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_BY_LOWER: Final = {f.lower(): f for f in SYSTEM_FLAGS}


class ImapSyntaxError(Exception):
    """A command's arguments do not follow the grammar; the text is the reason
    sent back after ``BAD``."""


# ---------------------------------------------------------------------------
# Tokens (RFC 3501 4: atom, number, string, parenthesized list, NIL)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Atom:
    """An atom as sent (``INBOX``, ``\\Seen``, ``1:*``, ``BODY[HEADER]<0.10>``)."""

    text: str


@dataclass(frozen=True, slots=True)
class String:
    """A quoted string (unescaped) or a literal kept whole."""

    data: bytes
    literal: bool = False


@dataclass(frozen=True, slots=True)
class StreamedLiteral:
    """A literal whose octets went out as ``Payload`` events (APPEND's message)."""

    size: int


@dataclass(frozen=True, slots=True)
class PList:
    """A parenthesized list."""

    items: tuple[Token, ...]


Token = Atom | String | StreamedLiteral | PList
_Segment = bytes | String | StreamedLiteral

_SP, _LP, _RP, _DQ, _BS, _LB, _RB = 0x20, 0x28, 0x29, 0x22, 0x5C, 0x5B, 0x5D
_ATOM_STOP: Final = frozenset(b' ()"{') | frozenset(range(0x20)) | {0x7F}


def tokenize(segments: Sequence[_Segment]) -> list[Token]:
    """The arguments of a command: text segments (the pieces of the command
    line between literals) and the literals themselves, in order.

    RFC 3501 4 and 9.  A bracketed part of an atom keeps its spaces and
    parentheses (``BODY[HEADER.FIELDS (FROM TO)]<0.100>`` is one atom, as the
    fetch-att grammar reads it).  Runs of spaces are accepted as one.
    """
    stack: list[list[Token]] = [[]]
    need_sep = False
    for seg in segments:
        if not isinstance(seg, bytes):
            if need_sep:
                raise ImapSyntaxError("missing space before a literal")
            stack[-1].append(seg)
            need_sep = True
            continue
        i, n = 0, len(seg)
        while i < n:
            c = seg[i]
            if c == _SP:
                i += 1
                need_sep = False
                continue
            if c == _RP:
                if len(stack) == 1:
                    raise ImapSyntaxError("unexpected ')'")
                items = stack.pop()
                stack[-1].append(PList(tuple(items)))
                i += 1
                need_sep = True
                continue
            if c < 0x20 or c == 0x7F:
                raise ImapSyntaxError(f"control character 0x{c:02x} in the command")
            if need_sep:
                raise ImapSyntaxError(f"missing space before {chr(c)!r}")
            if c == _LP:
                if len(stack) > 64:
                    raise ImapSyntaxError("lists nested too deeply")
                stack.append([])
                i += 1
                continue
            if c == _DQ:
                data, i = _quoted_at(seg, i)
                stack[-1].append(String(data))
                need_sep = True
                continue
            if c == 0x7B:
                raise ImapSyntaxError("a literal {n} may only end a line")
            start = i
            while i < n and seg[i] not in _ATOM_STOP:
                if seg[i] == _LB:  # RFC 3501 6.4.5: section spec, may hold a list
                    close = seg.find(b"]", i)
                    if close < 0:
                        raise ImapSyntaxError("missing ']'")
                    i = close
                i += 1
            stack[-1].append(Atom(seg[start:i].decode("utf-8", "replace")))
            need_sep = True
    if len(stack) != 1:
        raise ImapSyntaxError("missing ')'")
    return stack[0]


def _quoted_at(data: bytes, i: int) -> tuple[bytes, int]:
    """Parse the quoted string starting at ``data[i] == '"'``; return its
    value and the index after the closing quote.  RFC 3501 9: only ``\\\\``
    and ``\\"`` are escapes."""
    out = bytearray()
    i += 1
    n = len(data)
    while i < n:
        c = data[i]
        if c == _DQ:
            return bytes(out), i + 1
        if c == _BS:
            if i + 1 < n and data[i + 1] in (_DQ, _BS):
                out.append(data[i + 1])
                i += 2
                continue
            raise ImapSyntaxError('only \\\\ and \\" may be escaped in a quoted string')
        out.append(c)
        i += 1
    raise ImapSyntaxError("missing closing quote")


# ---------------------------------------------------------------------------
# Typed arguments
# ---------------------------------------------------------------------------

_MAX_NUMBER: Final = 0xFFFFFFFF  # RFC 3501 9: number is 32-bit unsigned


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """RFC 3501 9 sequence-set: ranges of message numbers or UIDs; ``None``
    stands for ``*``, the largest number in use."""

    ranges: tuple[tuple[int | None, int | None], ...]
    text: str = ""

    @property
    def uses_star(self) -> bool:
        return any(a is None or b is None for a, b in self.ranges)

    def intervals(self, star: int) -> list[tuple[int, int]]:
        """Sorted, merged, inclusive intervals with ``*`` replaced by ``star``."""
        spans = []
        for a, b in self.ranges:
            lo = star if a is None else a
            hi = star if b is None else b
            if lo > hi:  # RFC 3501 9: 4:2 means 2:4
                lo, hi = hi, lo
            spans.append((lo, hi))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in spans:
            if merged and lo <= merged[-1][1] + 1:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return merged

    def max_number(self) -> int:
        """The largest explicit number in the set (0 if only ``*``)."""
        return max((x for r in self.ranges for x in r if x is not None), default=0)

    def select(self, values: Sequence[int], star: int) -> list[int]:
        """The members of sorted ``values`` that the set covers, in order."""
        spans = self.intervals(star)
        out: list[int] = []
        j = 0
        for v in values:
            while j < len(spans) and spans[j][1] < v:
                j += 1
            if j == len(spans):
                break
            if spans[j][0] <= v:
                out.append(v)
        return out

    def __contains__(self, item: tuple[int, int]) -> bool:
        value, star = item
        return any(lo <= value <= hi for lo, hi in self.intervals(star))


_SEQ_ELEM_RE: Final = re.compile(r"(\*|[1-9]\d{0,9})(?::(\*|[1-9]\d{0,9}))?\Z")


def parse_sequence_set(text: str) -> SequenceSet:
    """``1:*``, ``2,4:6``, ``*``... (RFC 3501 9 sequence-set)."""
    if not text:
        raise ImapSyntaxError("empty sequence set")
    ranges: list[tuple[int | None, int | None]] = []
    for elem in text.split(","):
        m = _SEQ_ELEM_RE.match(elem)
        if m is None:
            raise ImapSyntaxError(f"invalid sequence set {text!r} (expected e.g. 1:*, 2,4:6)")
        a = None if m.group(1) == "*" else int(m.group(1))
        b_text = m.group(2)
        b = a if b_text is None else (None if b_text == "*" else int(b_text))
        for x in (a, b):
            if x is not None and x > _MAX_NUMBER:
                raise ImapSyntaxError(f"number out of range in sequence set {text!r}")
        ranges.append((a, b))
    return SequenceSet(tuple(ranges), text)


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


class _Args:
    """A cursor over a command's tokens with the RFC 3501 9 rules."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> Token:
        if self.i >= len(self.tokens):
            raise ImapSyntaxError(f"missing {what}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def end(self) -> None:
        if self.i < len(self.tokens):
            raise ImapSyntaxError("unexpected extra arguments")

    def astring(self, what: str) -> bytes:
        tok = self.take(what)
        if isinstance(tok, String):
            return tok.data
        if isinstance(tok, Atom) and tok.text and not _has_specials(tok.text, "%*"):
            return tok.text.encode("utf-8")
        raise ImapSyntaxError(f"{what}: expected an atom or a string")

    def atom(self, what: str) -> str:
        tok = self.take(what)
        if isinstance(tok, Atom):
            return tok.text
        raise ImapSyntaxError(f"{what}: expected an atom")

    def number(self, what: str) -> int:
        text = self.atom(what)
        if not text.isdigit() or not text.isascii() or int(text) > _MAX_NUMBER:
            raise ImapSyntaxError(f"{what}: expected a number")
        return int(text)

    def mailbox(self, what: str = "mailbox name") -> str:
        return _mailbox(self.astring(what))


def _has_specials(text: str, allowed: str = "") -> bool:
    """Characters an atom cannot hold (RFC 3501 9 atom-specials); ``allowed``
    lets the list wildcards through for LIST patterns."""
    return any(c in '()"\\{ ' or (c in "%*" and c not in allowed) for c in text)


def _mailbox(raw: bytes) -> str:
    """RFC 3501 5.1: a mailbox name; INBOX is case-insensitive."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ImapSyntaxError("mailbox name is not valid UTF-8") from None
    if name.upper() == "INBOX":
        return "INBOX"
    return name


def _flag(text: str) -> str:
    """A flag of STORE/APPEND: system flags normalised, \\Recent refused
    (RFC 3501 2.3.2: the server sets it), other ``\\x`` unknown."""
    if text.startswith("\\"):
        norm = _FLAG_BY_LOWER.get(text.lower())
        if norm is not None:
            return norm
        if text.lower() == "\\recent":
            raise ImapSyntaxError("\\Recent is set by the server and cannot be stored")
        raise ImapSyntaxError(f"unknown system flag {text}")
    if not text or _has_specials(text):
        raise ImapSyntaxError(f"invalid flag {text!r}")
    return text


def _flag_tokens(tokens: Iterable[Token]) -> tuple[str, ...]:
    out: list[str] = []
    for tok in tokens:
        if not isinstance(tok, Atom):
            raise ImapSyntaxError("flags are atoms such as \\Seen")
        flag = _flag(tok.text)
        if flag not in out:
            out.append(flag)
    return tuple(out)


_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_MONTH_NUM: Final = {m.lower(): i + 1 for i, m in enumerate(_MONTHS)}
_DATE_TIME_RE: Final = re.compile(
    r"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z"
)
_DATE_RE: Final = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})\Z")


def parse_date_time(text: str) -> float:
    """RFC 3501 9 date-time (``"17-Jul-1996 02:44:25 -0700"``) -> POSIX time."""
    m = _DATE_TIME_RE.match(text)
    month = _MONTH_NUM.get(m.group(2).lower(), 0) if m else 0
    if m is None or not month:
        raise ImapSyntaxError(f"invalid date-time {text!r} (expected dd-Mon-yyyy hh:mm:ss +zzzz)")
    day, year = int(m.group(1).strip()), int(m.group(3))
    hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
    try:
        _dt.datetime(year, month, day, hh, mm, ss)
    except ValueError:
        raise ImapSyntaxError(f"invalid date-time {text!r}") from None
    offset = (int(m.group(8)) * 60 + int(m.group(9))) * 60
    if m.group(7) == "-":
        offset = -offset
    return float(calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)) - offset)


def _parse_date(text: str) -> _dt.date:
    m = _DATE_RE.match(text)
    month = _MONTH_NUM.get(m.group(2).lower(), 0) if m else 0
    if m is None or not month:
        raise ImapSyntaxError(f"invalid date {text!r} (expected e.g. 1-Feb-1994)")
    try:
        return _dt.date(int(m.group(3)), month, int(m.group(1)))
    except ValueError:
        raise ImapSyntaxError(f"invalid date {text!r}") from None


def format_internaldate(timestamp: float) -> bytes:
    """RFC 3501 9 date-time, in UTC: ``"17-Jul-1996 09:44:25 +0000"``."""
    t = _dt.datetime.fromtimestamp(int(timestamp), _dt.UTC)
    return f'"{t.day:2d}-{_MONTHS[t.month - 1]}-{t.year:04d} {t:%H:%M:%S} +0000"'.encode()


# -- per-command grammars -----------------------------------------------------


def _no_args(a: _Args) -> None:
    a.end()


def _login(a: _Args) -> LoginArgs:
    user = a.astring("user name")
    password = a.astring("password")
    a.end()
    return LoginArgs(user, password)


def _authenticate(a: _Args) -> AuthenticateArgs:
    mech = a.atom("SASL mechanism").upper()
    initial: bytes | None = None
    if a.more():
        initial = a.atom("initial response").encode("ascii", "replace")
    a.end()
    return AuthenticateArgs(mech, initial)


def _mailbox_only(a: _Args) -> MailboxArgs:
    name = a.mailbox()
    a.end()
    return MailboxArgs(name)


def _rename(a: _Args) -> RenameArgs:
    old = a.mailbox("existing mailbox name")
    new = a.mailbox("new mailbox name")
    a.end()
    return RenameArgs(old, new)


def _list(a: _Args) -> ListArgs:
    reference = _mailbox(a.astring("reference name"))
    tok = a.take("mailbox pattern")
    if isinstance(tok, String):
        pattern = tok.data.decode("utf-8", "replace")
    elif isinstance(tok, Atom) and tok.text and not _has_specials(tok.text, "%*"):
        pattern = tok.text
    else:
        raise ImapSyntaxError("mailbox pattern: expected an atom (with * or %) or a string")
    a.end()
    return ListArgs(reference, pattern)


_STATUS_ITEMS: Final = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


def _status(a: _Args) -> StatusArgs:
    name = a.mailbox()
    tok = a.take("status items")
    if not isinstance(tok, PList) or not tok.items:
        raise ImapSyntaxError("status items must be a list such as (MESSAGES UNSEEN)")
    items: list[str] = []
    for item in tok.items:
        word = item.text.upper() if isinstance(item, Atom) else ""
        if word not in _STATUS_ITEMS:
            raise ImapSyntaxError(f"unknown status item; use {' '.join(_STATUS_ITEMS)}")
        items.append(word)
    a.end()
    return StatusArgs(name, tuple(items))


def _append_prefix(a: _Args) -> tuple[str, tuple[str, ...], float | None]:
    """``mailbox [flag-list] [date-time]``: what comes before the message."""
    name = a.mailbox()
    flags: tuple[str, ...] = ()
    tok = a.peek()
    if isinstance(tok, PList):
        a.i += 1
        flags = _flag_tokens(tok.items)
        tok = a.peek()
    date: float | None = None
    if isinstance(tok, String) and not tok.literal:
        a.i += 1
        date = parse_date_time(tok.data.decode("ascii", "replace"))
    return name, flags, date


def _append(a: _Args) -> AppendArgs:
    name, flags, date = _append_prefix(a)
    tok = a.take("message literal")
    a.end()
    if isinstance(tok, StreamedLiteral):
        return AppendArgs(name, flags, date, None, tok.size)
    if isinstance(tok, String) and tok.literal:
        return AppendArgs(name, flags, date, tok.data, len(tok.data))
    raise ImapSyntaxError("APPEND takes the message as a literal {size}")


def _search(a: _Args) -> SearchArgs:
    charset: str | None = None
    tok = a.peek()
    if isinstance(tok, Atom) and tok.text.upper() == "CHARSET":
        a.i += 1
        charset = a.astring("charset").decode("ascii", "replace").upper()
    key = parse_search(a)
    return SearchArgs(charset, key)


def parse_search(a: _Args | Sequence[Token]) -> SearchKey:
    """The search keys of SEARCH (RFC 3501 6.4.4), all ANDed together."""
    cursor = a if isinstance(a, _Args) else _Args(a)
    keys: list[SearchKey] = []
    while cursor.more():
        keys.append(_search_key(cursor, 0))
    if not keys:
        raise ImapSyntaxError('missing search key (e.g. ALL, UNSEEN, FROM "x")')
    return keys[0] if len(keys) == 1 else SearchKey("and", children=tuple(keys))


_FLAG_KEYS: Final = {
    "ANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", False),
    "RECENT": ("\\Recent", False),
    "SEEN": ("\\Seen", False),
    "UNANSWERED": ("\\Answered", True),
    "UNDELETED": ("\\Deleted", True),
    "UNDRAFT": ("\\Draft", True),
    "UNFLAGGED": ("\\Flagged", True),
    "UNSEEN": ("\\Seen", True),
}
_HEADER_KEYS: Final = ("FROM", "TO", "CC", "BCC", "SUBJECT")
_DATE_KEYS: Final = ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE")


def _search_key(a: _Args, depth: int) -> SearchKey:
    if depth > 32:
        raise ImapSyntaxError("search keys nested too deeply")
    tok = a.take("search key")
    if isinstance(tok, PList):
        inner = _Args(tok.items)
        keys = []
        while inner.more():
            keys.append(_search_key(inner, depth + 1))
        if not keys:
            raise ImapSyntaxError("empty search key list ()")
        return keys[0] if len(keys) == 1 else SearchKey("and", children=tuple(keys))
    if not isinstance(tok, Atom):
        raise ImapSyntaxError("a search key is a word such as ALL, FROM, UNSEEN")
    word = tok.text.upper()
    if word == "ALL":
        return SearchKey("all")
    if word in ("NEW", "OLD"):
        return SearchKey(word.lower())
    if word in _FLAG_KEYS:
        flag, negate = _FLAG_KEYS[word]
        return SearchKey("flag", text=flag, negate=negate)
    if word in ("KEYWORD", "UNKEYWORD"):
        flag = a.atom("keyword")
        return SearchKey("keyword", text=flag, negate=word == "UNKEYWORD")
    if word in _HEADER_KEYS:
        return SearchKey("header", text=word.lower(), needle=a.astring(f"{word} string"))
    if word == "HEADER":
        name = a.astring("header field name").decode("ascii", "replace").lower()
        return SearchKey("header", text=name, needle=a.astring("header string"))
    if word in ("BODY", "TEXT"):
        return SearchKey(word.lower(), needle=a.astring(f"{word} string"))
    if word in ("LARGER", "SMALLER"):
        return SearchKey(word.lower(), number=a.number(f"{word} size"))
    if word in _DATE_KEYS:
        date = _parse_date(a.astring(f"{word} date").decode("ascii", "replace"))
        return SearchKey(word.lower(), date=date)
    if word == "UID":
        return SearchKey("uid", seqset=parse_sequence_set(a.atom("UID set")))
    if word == "NOT":
        return SearchKey("not", children=(_search_key(a, depth + 1),))
    if word == "OR":
        left = _search_key(a, depth + 1)
        right = _search_key(a, depth + 1)
        return SearchKey("or", children=(left, right))
    if word[:1].isdigit() or word[:1] == "*":
        return SearchKey("seq", seqset=parse_sequence_set(tok.text))
    raise ImapSyntaxError(f"unknown search key {tok.text}")


_FETCH_SIMPLE: Final = frozenset(
    {
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "UID",
    }
)
_FETCH_MACROS: Final = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
}
_BODY_RE: Final = re.compile(
    r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?\Z", re.IGNORECASE
)
_FIELDS_RE: Final = re.compile(r"(HEADER\.FIELDS(?:\.NOT)?) \((.*)\)\Z", re.IGNORECASE | re.DOTALL)
_FIELD_NAME_RE: Final = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 2.2 ftext


def _fetch_item(text: str) -> FetchItem:
    word = text.upper()
    if word in _FETCH_SIMPLE:
        return FetchItem(word)
    if word in ("BODY", "BODYSTRUCTURE"):
        raise ImapSyntaxError(f"{word} (MIME structure) is not supported by this server")
    m = _BODY_RE.match(text)
    if m is None:
        raise ImapSyntaxError(f"unknown fetch item {text}")
    peek = m.group(1).upper() == "BODY.PEEK"
    section = m.group(2)
    fields: tuple[str, ...] = ()
    sec = section.upper()
    fm = _FIELDS_RE.match(section)
    if fm is not None:
        sec = fm.group(1).upper()
        names = []
        for raw in fm.group(2).split():
            name = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == '"' else raw
            if not _FIELD_NAME_RE.match(name):
                raise ImapSyntaxError(f"invalid header field name {raw!r}")
            names.append(name.upper())
        if not names:
            raise ImapSyntaxError(f"{sec} needs at least one field name")
        fields = tuple(names)
    elif sec not in ("", "HEADER", "TEXT"):
        if sec[:1].isdigit():
            raise ImapSyntaxError(
                "MIME part sections (BODY[1]...) are not supported by this server"
            )
        raise ImapSyntaxError(f"unknown section [{section}] (use [], [HEADER], [TEXT])")
    partial: tuple[int, int] | None = None
    if m.group(3) is not None:
        start, length = int(m.group(3)), int(m.group(4))
        if length == 0 or start > _MAX_NUMBER or length > _MAX_NUMBER:
            raise ImapSyntaxError("partial <start.length> needs a length from 1 to 4294967295")
        partial = (start, length)
    return FetchItem("BODY", sec, fields, peek, partial)


def _fetch(a: _Args) -> FetchArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    tok = a.take("fetch items")
    a.end()
    if isinstance(tok, Atom):
        macro = _FETCH_MACROS.get(tok.text.upper())
        if macro is not None:
            return FetchArgs(seqset, tuple(FetchItem(n) for n in macro))
        if tok.text.upper() == "FULL":
            raise ImapSyntaxError("FULL includes BODY (MIME structure), not supported; use ALL")
        return FetchArgs(seqset, (_fetch_item(tok.text),))
    if isinstance(tok, PList) and tok.items:
        items = []
        for item in tok.items:
            if not isinstance(item, Atom):
                raise ImapSyntaxError("fetch items are words such as FLAGS, BODY[HEADER]")
            items.append(_fetch_item(item.text))
        return FetchArgs(seqset, tuple(items))
    raise ImapSyntaxError("fetch items: expected an item or a list such as (FLAGS UID)")


_STORE_RE: Final = re.compile(r"([+-]?)FLAGS(\.SILENT)?\Z", re.IGNORECASE)


def _store(a: _Args) -> StoreArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    item = a.atom("store item (FLAGS, +FLAGS, -FLAGS)")
    m = _STORE_RE.match(item)
    if m is None:
        raise ImapSyntaxError(f"unknown store item {item} (use FLAGS, +FLAGS or -FLAGS)")
    sign = m.group(1)
    mode: Literal["set", "add", "remove"] = "add" if sign == "+" else "remove" if sign else "set"
    rest = a.tokens[a.i :]
    a.i = len(a.tokens)
    if len(rest) == 1 and isinstance(rest[0], PList):
        flags = _flag_tokens(rest[0].items)
    elif rest:
        flags = _flag_tokens(rest)
    else:
        raise ImapSyntaxError("missing flags (e.g. (\\Seen))")
    return StoreArgs(seqset, mode, bool(m.group(2)), flags)


def _copy(a: _Args) -> CopyArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    name = a.mailbox()
    a.end()
    return CopyArgs(seqset, name)


def _uid_expunge(a: _Args) -> SequenceSet:
    seqset = parse_sequence_set(a.atom("UID set"))
    a.end()
    return seqset


# ---------------------------------------------------------------------------
# The command table: which state allows what, and how arguments parse.
# ---------------------------------------------------------------------------

_ANY: Final[frozenset[ServerState]] = frozenset({"not-authenticated", "authenticated", "selected"})
_NOT_AUTH: Final[frozenset[ServerState]] = frozenset({"not-authenticated"})
_AUTH: Final[frozenset[ServerState]] = frozenset({"authenticated", "selected"})
_SELECTED: Final[frozenset[ServerState]] = frozenset({"selected"})

_Grammar = Callable[[_Args], CommandArgs]

# fmt: off
_COMMANDS: Final[dict[str, tuple[frozenset[ServerState], _Grammar]]] = {
    # RFC 3501 6.1: any state
    "CAPABILITY": (_ANY, _no_args), "NOOP": (_ANY, _no_args), "LOGOUT": (_ANY, _no_args),
    # 6.2: not authenticated
    "STARTTLS": (_NOT_AUTH, _no_args), "AUTHENTICATE": (_NOT_AUTH, _authenticate),
    "LOGIN": (_NOT_AUTH, _login),
    # 6.3: authenticated (and selected)
    "SELECT": (_AUTH, _mailbox_only), "EXAMINE": (_AUTH, _mailbox_only),
    "CREATE": (_AUTH, _mailbox_only), "DELETE": (_AUTH, _mailbox_only),
    "RENAME": (_AUTH, _rename), "SUBSCRIBE": (_AUTH, _mailbox_only),
    "UNSUBSCRIBE": (_AUTH, _mailbox_only), "LIST": (_AUTH, _list), "LSUB": (_AUTH, _list),
    "STATUS": (_AUTH, _status), "APPEND": (_AUTH, _append),
    "IDLE": (_AUTH, _no_args),  # RFC 2177 3
    "NAMESPACE": (_AUTH, _no_args),  # RFC 2342 5
    # 6.4: selected
    "CHECK": (_SELECTED, _no_args), "CLOSE": (_SELECTED, _no_args),
    "UNSELECT": (_SELECTED, _no_args),  # RFC 3691
    "EXPUNGE": (_SELECTED, _no_args), "SEARCH": (_SELECTED, _search),
    "FETCH": (_SELECTED, _fetch), "STORE": (_SELECTED, _store), "COPY": (_SELECTED, _copy),
    "UID": (_SELECTED, _no_args),  # parsed by the subcommand below
}
_UID_COMMANDS: Final[dict[str, _Grammar]] = {
    "FETCH": _fetch, "SEARCH": _search, "STORE": _store, "COPY": _copy,
    "EXPUNGE": _uid_expunge,  # RFC 4315 2.1
}
# fmt: on

# Words people type at an IMAP server that belong to other protocols.
_FOREIGN_HINTS: Final = {
    "USER": "USER is not an IMAP command (it is POP3's); IMAP logs in with LOGIN user password",
    "PASS": "PASS is not an IMAP command (it is POP3's); IMAP logs in with LOGIN user password",
    "HELO": "HELO is SMTP; this is an IMAP server (try CAPABILITY)",
    "EHLO": "EHLO is SMTP; this is an IMAP server (try CAPABILITY)",
    "QUIT": "QUIT is SMTP/POP3; IMAP says goodbye with LOGOUT",
    "RETR": "RETR is POP3; IMAP reads messages with FETCH n BODY[]",
    "GET": "GET is HTTP; this is an IMAP server (try A1 CAPABILITY)",
}


def _state_hint(state: ServerState, allowed: frozenset[ServerState]) -> str:
    """Why a command is refused in this state, and what to do instead."""
    if state == "not-authenticated":
        return "log in first (LOGIN user password)"
    if allowed <= _NOT_AUTH:
        return "already logged in"
    if allowed <= _SELECTED:
        return "select a mailbox first (SELECT INBOX)"
    return "the connection is closing"  # pragma: no cover - logout accepts nothing


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImapCommand(Event):
    """A complete command, valid in the state it arrived in.

    ``raw`` is the command as received except streamed literal octets.
    ``name`` is upper case; for ``UID FETCH`` it is ``FETCH`` with ``uid``
    true.
    """

    tag: str
    name: str
    uid: bool = False
    args: CommandArgs = None


@dataclass(frozen=True, slots=True)
class CommandError(Event):
    """A command that cannot be run; answer with ``send_error``.

    ``tag`` is None when the line had no usable tag (answered ``* BAD``).
    ``status`` is BAD (syntax, unknown, wrong state, over a limit).
    ``fatal`` asks the caller to say BYE and close (too many errors, a
    literal too big to skip).
    """

    tag: str | None
    reason: str
    status: Literal["BAD", "NO"] = "BAD"
    code: str | None = None
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class LiteralRequest(Event):
    """A command line ended in a literal marker; the caller decides.

    ``stream`` is true for APPEND's message: its octets will come as
    ``Payload`` events.  ``append`` holds the APPEND arguments parsed so far
    (mailbox, flags, date) so a missing mailbox can be refused before the
    client uploads anything (RFC 3501 6.3.11: NO [TRYCREATE]).
    """

    tag: str
    name: str
    size: int
    synchronizing: bool
    stream: bool
    append: AppendArgs | None = None


@dataclass(frozen=True, slots=True)
class ContinuationLine(Event):
    """A line sent after the server's ``+`` (IDLE's DONE, a SASL response)."""

    @property
    def line(self) -> bytes:
        return strip_eol(self.raw)


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------

_Mode = Literal[
    "line", "decide", "literal", "discard", "discard-rest", "skip", "continuation", "tls", "closed"
]


@dataclass(eq=False, slots=True)
class _Partial:
    """A command being assembled across lines and literals."""

    tag: str
    name: str
    uid: bool
    segments: list[_Segment] = field(default_factory=list)
    size: int = 0
    raw: bytearray = field(default_factory=bytearray)
    error: CommandError | None = None  # known bad: the rest is only read to stay in sync


class ImapServerConnection:
    """Server-role IMAP connection; see the module docstring for the contract."""

    protocol = "imap"
    role = Role.SERVER

    def __init__(self, limits: ImapServerLimits = DEFAULT_SERVER_LIMITS) -> None:
        self.limits = limits
        self._buf = LineBuffer(limits.max_line)
        self._mode: _Mode = "line"
        self._state: ServerState = "not-authenticated"
        self._partial: _Partial | None = None
        self._open: ImapCommand | None = None  # emitted, not yet answered
        self._lit_size = 0
        self._lit_left = 0
        self._lit_sync = False
        self._lit_stream = False
        self._lit_data: bytearray | None = None
        self._discard_left = 0
        self._trailing = bytearray()
        self._bad_count = 0
        self._tls_active = False

    # -- properties -----------------------------------------------------------
    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def tls_pending(self) -> bool:
        """STARTTLS was accepted; the caller must do the handshake."""
        return self._mode == "tls"

    @property
    def tls_active(self) -> bool:
        return self._tls_active

    @property
    def trailing_data(self) -> bytes:
        """Plaintext the client sent after its accepted STARTTLS."""
        return bytes(self._trailing)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (for the driver's flow control)."""
        return len(self._buf)

    @property
    def current(self) -> ImapCommand | None:
        """The command handed out and not yet answered."""
        return self._open

    # -- input ------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` is EOF."""
        if self._mode == "tls" and data:
            # RFC 3501 6.2.1: nothing sent before the handshake is trusted.
            room = self.limits.max_line - len(self._trailing)
            self._trailing += data[: max(room, 0)]
            return
        if self._mode == "closed" and data:
            return
        self._buf.feed(data)

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA.  Raises LocalProtocolError when the
        caller asks while a command or a literal decision is unanswered."""
        if self._mode == "closed":
            return NEED_DATA
        if self._mode == "decide":
            raise LocalProtocolError("answer the LiteralRequest (accept_literal/refuse_literal)")
        if self._open is not None and self._mode != "continuation":
            raise LocalProtocolError(f"answer {self._open.tag} {self._open.name} first")
        for _ in range(1 << 16):  # each pass consumes input or returns
            ev = self._step()
            if ev is not None:
                return ev
        return NEED_DATA  # pragma: no cover - _step always makes progress

    def _step(self) -> Event | _NeedData | None:
        mode = self._mode
        if mode in ("tls", "closed"):
            return NEED_DATA
        if mode in ("literal", "discard"):
            return self._literal_bytes()
        try:
            line = self._buf.readline() if mode != "skip" else None
        except RemoteProtocolError:
            return self._line_too_long()
        if mode == "skip":
            return self._skip_line()
        if line is None:
            if self._buf.eof:
                return self._eof()
            return NEED_DATA
        if mode == "continuation":
            self._mode = "line"
            return ContinuationLine(line)
        if mode == "discard-rest":
            return self._discard_rest(line)
        return self._command_line(line)

    # -- lines ------------------------------------------------------------------
    def _command_line(self, line: bytes) -> Event | None:
        content = strip_eol(line)
        partial = self._partial
        if partial is None:
            start = self._start_command(content, line)
            if isinstance(start, CommandError):
                return self._error(start)
            partial, content = start
            self._partial = partial
        else:
            partial.raw += line
        found = _literal_suffix(content)
        if found is not None and found[0] < 0:
            partial.error = partial.error or _err(
                line, partial.tag, f"invalid literal size {{{found[2].decode('ascii', 'replace')}}}"
            )
            found = None
        text = content[: content.rfind(b"{")] if found is not None else content
        partial.segments.append(text)
        partial.size += len(text)
        if partial.size > self.limits.max_command and partial.error is None:
            partial.error = _err(
                line, partial.tag, f"command longer than {self.limits.max_command} bytes"
            )
        if found is None:
            return self._finish_command()
        size, non_sync, _ = found
        return self._literal_marker(size, not non_sync)

    def _start_command(self, content: bytes, line: bytes) -> tuple[_Partial, bytes] | CommandError:
        """Tag and command name of a new command (RFC 3501 2.2.1); returns the
        command being assembled and the argument bytes of this line."""
        if not content.strip():
            return _err(line, None, "empty command line (expected: tag command arguments)")
        tag_b, _, rest = content.partition(b" ")
        if not _TAG_RE.match(tag_b):
            return _err(line, None, f"invalid tag {tag_b[:40].decode('utf-8', 'replace')!r}")
        tag = tag_b.decode("ascii")
        word, _, args = rest.partition(b" ")
        word, brace, tail = word.partition(b"{")
        if brace:  # "LOGIN{3}": the literal belongs to the arguments
            args = b"{" + tail + (b" " + args if args else b"")
        name = word.decode("utf-8", "replace").upper()
        if not name:
            return _err(line, tag, "missing command after the tag")
        uid = False
        error: CommandError | None = None
        allowed = _ANY
        if name == "UID":
            sub, _, args = args.partition(b" ")
            subname = sub.decode("utf-8", "replace").upper()
            if subname in _UID_COMMANDS:
                name, uid = subname, True
            else:
                error = _err(line, tag, "UID takes FETCH, SEARCH, STORE, COPY or EXPUNGE")
            allowed = _SELECTED
        elif name in _COMMANDS:
            allowed = _COMMANDS[name][0]
        else:
            hint = _FOREIGN_HINTS.get(name)
            error = _err(line, tag, hint or f"unknown command {_printable(name[:40])}")
        if error is None and self._state not in allowed:
            error = _err(
                line,
                tag,
                f"{'UID ' if uid else ''}{name} is not allowed in the {self._state} state: "
                f"{_state_hint(self._state, allowed)}",
            )
        return _Partial(tag, name, uid, raw=bytearray(line), error=error), args

    def _literal_marker(self, size: int, sync: bool) -> Event | None:
        partial = self._partial
        assert partial is not None
        limits = self.limits
        stream = False
        append: AppendArgs | None = None
        if partial.error is None:
            if partial.name == "APPEND" and not partial.uid:
                try:
                    tokens = tokenize(partial.segments)
                except ImapSyntaxError as exc:
                    partial.error = _err(partial.raw, partial.tag, f"APPEND: {exc}")
                    tokens = []
                if tokens and partial.error is None:
                    stream = True
                    try:
                        a = _Args(tokens)
                        name, flags, date = _append_prefix(a)
                        a.end()
                    except ImapSyntaxError as exc:
                        partial.error = _err(partial.raw, partial.tag, f"APPEND: {exc}")
                    else:
                        append = AppendArgs(name, flags, date, None, size)
            if partial.error is None:
                if stream and size > limits.max_literal:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"message of {size} octets is over the limit of {limits.max_literal}",
                        code="TOOBIG",
                    )
                elif not stream and size > limits.max_inline_literal:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"literal of {size} octets is over the limit of "
                        f"{limits.max_inline_literal} for this argument",
                        code="TOOBIG",
                    )
                elif not stream and partial.size + size > limits.max_command:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"command longer than {limits.max_command} bytes",
                        code="TOOBIG",
                    )
        self._lit_size = size
        self._lit_sync = sync
        self._lit_stream = stream
        if partial.error is not None:
            error = partial.error
            self._partial = None
            if not sync:
                if size > limits.max_literal:
                    error = _with_fatal(error, "a non-synchronizing literal too big to skip")
                else:
                    self._discard_left = size
                    self._mode = "discard"
            return self._error(error)
        self._mode = "decide"
        return LiteralRequest(
            bytes(partial.raw), partial.tag, partial.name, size, sync, stream, append
        )

    def accept_literal(self) -> bytes:
        """Let the client send the literal; returns ``+ Ready for literal
        data`` for a synchronizing literal (RFC 3501 7.5), else b""."""
        if self._mode != "decide":
            raise LocalProtocolError("no literal is waiting for a decision")
        self._mode = "literal"
        self._lit_left = self._lit_size
        self._lit_data = None if self._lit_stream else bytearray()
        if self._lit_size == 0:
            self._literal_done()
        return b"+ Ready for literal data\r\n" if self._lit_sync else b""

    def refuse_literal(
        self, status: Literal["BAD", "NO"], text: str, code: str | None = None
    ) -> bytes:
        """Refuse the literal (and its command); returns the tagged response.
        The octets of a non-synchronizing literal are read and dropped."""
        if self._mode != "decide" or self._partial is None:
            raise LocalProtocolError("no literal is waiting for a decision")
        tag = self._partial.tag
        self._partial = None
        if self._lit_sync:
            self._mode = "line"
        else:
            self._mode = "discard"
            self._discard_left = self._lit_size
        if status == "BAD":
            self._bad_count += 1
        return _tagged_line(tag, status, text, code)

    def _literal_bytes(self) -> Event | _NeedData | None:
        if self._mode == "discard":
            while self._discard_left:
                chunk = self._buf.read(min(self._discard_left, self.limits.chunk_size))
                if not chunk:
                    return self._eof() if self._buf.eof else NEED_DATA
                self._discard_left -= len(chunk)
            self._mode = "discard-rest"
            return None
        chunk = self._buf.read(min(self._lit_left, self.limits.chunk_size))
        if not chunk:
            return self._eof() if self._buf.eof else NEED_DATA
        offset = self._lit_size - self._lit_left
        self._lit_left -= len(chunk)
        event: Event | None = None
        if self._lit_data is None:
            event = Payload(chunk, offset, self._lit_size)
        else:
            self._lit_data += chunk
        if not self._lit_left:
            self._literal_done()
        return event

    def _literal_done(self) -> None:
        partial = self._partial
        assert partial is not None
        if self._lit_data is None:
            partial.segments.append(StreamedLiteral(self._lit_size))
        else:
            data = bytes(self._lit_data)
            partial.segments.append(String(data, literal=True))
            partial.raw += data
            partial.size += len(data)
        self._lit_data = None
        self._mode = "line"

    def _discard_rest(self, line: bytes) -> Event | None:
        """The rest of a refused command: more non-synchronizing literals are
        dropped too; anything else ends it."""
        found = _literal_suffix(strip_eol(line))
        if found is not None and found[0] >= 0 and found[1]:
            if found[0] > self.limits.max_literal:
                self._mode = "line"
                return self._error(
                    _err(line, None, "a non-synchronizing literal too big to skip", fatal=True)
                )
            self._discard_left = found[0]
            self._mode = "discard"
            return None
        self._mode = "line"
        return None

    def _finish_command(self) -> Event:
        partial = self._partial
        assert partial is not None
        self._partial = None
        if partial.error is not None:
            return self._error(partial.error)
        try:
            tokens = tokenize(partial.segments)
            a = _Args(tokens)
            if partial.uid:
                args: CommandArgs = _UID_COMMANDS[partial.name](a)
            else:
                args = _COMMANDS[partial.name][1](a)
        except ImapSyntaxError as exc:
            return self._error(_err(partial.raw, partial.tag, f"{partial.name}: {exc}"))
        self._bad_count = 0
        command = ImapCommand(bytes(partial.raw), partial.tag, partial.name, partial.uid, args)
        self._open = command
        return command

    def _error(self, error: CommandError) -> CommandError:
        if error.status == "BAD":
            self._bad_count += 1
            if self._bad_count >= self.limits.max_bad_commands and not error.fatal:
                error = _with_fatal(error, f"{self._bad_count} bad commands in a row")
        if error.fatal:
            self._mode = "closed"
        return error

    def _line_too_long(self) -> Event | None:
        head = self._buf.peek(80)
        if self._mode == "continuation":
            # IDLE's DONE or a SASL response that never ends: hand over its
            # start (the caller answers the open command), then skip the rest.
            self._mode = "skip"
            return ContinuationLine(head)
        tag: str | None = None
        if self._partial is not None:
            tag = self._partial.tag
            self._partial = None
        else:
            word = head.partition(b" ")[0]
            if _TAG_RE.match(word):
                tag = word.decode("ascii")
        self._mode = "skip"
        return self._error(_err(head, tag, f"line longer than {self.limits.max_line} bytes"))

    def _skip_line(self) -> Event | _NeedData | None:
        data = self._buf.take_all()
        idx = data.find(b"\n")
        if idx < 0:
            return self._eof() if self._buf.eof else NEED_DATA
        eof = self._buf.eof
        self._buf = LineBuffer(self.limits.max_line)
        if idx + 1 < len(data):
            self._buf.feed(data[idx + 1 :])
        self._buf.eof = eof
        self._mode = "line"
        return None

    def _eof(self) -> ConnectionClosed:
        mid = (
            self._partial is not None
            or self._mode in ("literal", "discard", "decide", "continuation", "skip")
            or len(self._buf) > 0
        )
        if self._mode in ("literal", "discard"):
            reason = "the client closed the connection in the middle of a literal"
        elif self._partial is not None or len(self._buf):
            reason = "the client closed the connection in the middle of a command line"
        elif self._mode == "continuation":
            reason = "the client closed the connection while the server waited for it"
        else:
            reason = ""
        self._mode = "closed"
        self._partial = None
        return ConnectionClosed(b"", clean=not mid, reason=reason)

    # -- output -------------------------------------------------------------------
    def greeting(self, text: str, capabilities: Sequence[str] = ()) -> bytes:
        """``* OK [CAPABILITY ...] text`` (RFC 3501 7.1.1)."""
        code = "CAPABILITY " + " ".join(capabilities) if capabilities else None
        return _untagged_status("OK", text, code)

    def send_untagged(self, data: bytes | str) -> bytes:
        """``* data`` + CRLF; data must not hold CR or LF (use literals)."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if b"\r" in raw or b"\n" in raw:
            raise LocalProtocolError("an untagged line cannot hold CR or LF; use a literal")
        return b"* " + raw + b"\r\n"

    def send_ok(self, text: str, code: str | None = None) -> bytes:
        return _untagged_status("OK", text, code)

    def send_continuation(self, text: str = "") -> bytes:
        """``+ text``: the next line the client sends is handed out as a
        ``ContinuationLine`` (RFC 3501 7.5; IDLE, AUTHENTICATE)."""
        if self._open is None:
            raise LocalProtocolError("no command is waiting for a continuation")
        self._mode = "continuation"
        return b"+ " + _text(text) + b"\r\n" if text else b"+ \r\n"

    def send_tagged(
        self, tag: str, status: Literal["OK", "NO", "BAD"], text: str, code: str | None = None
    ) -> bytes:
        """The completion of the open command; updates the state (RFC 3501 3)."""
        command = self._open
        if command is None or command.tag != tag:
            raise LocalProtocolError(f"{tag} is not the command being answered")
        self._open = None
        if self._mode == "continuation":
            self._mode = "line"
        name = command.name
        if status == "OK":
            if name in ("LOGIN", "AUTHENTICATE"):
                self._state = "authenticated"
            elif name in ("SELECT", "EXAMINE"):
                self._state = "selected"
            elif name in ("CLOSE", "UNSELECT"):
                self._state = "authenticated"
            elif name == "LOGOUT":
                self._state = "logout"
                self._mode = "closed"
            elif name == "STARTTLS":
                self._mode = "tls"
                self._trailing += self._buf.take_all()
        elif name in ("SELECT", "EXAMINE") and self._state == "selected":
            self._state = "authenticated"  # RFC 3501 6.3.1: a failed SELECT closes
        if status == "BAD":
            self._bad_count += 1
        return _tagged_line(tag, status, text, code)

    def send_error(self, error: CommandError) -> bytes:
        """The response to a ``CommandError``: tagged, or ``* BAD``."""
        if error.tag is None:
            return _untagged_status(error.status, error.reason, error.code)
        return _tagged_line(error.tag, error.status, error.reason, error.code)

    def send_bye(self, text: str, code: str | None = None) -> bytes:
        """``* BYE``: the server is closing (RFC 3501 7.1.5)."""
        self._state = "logout"
        self._mode = "closed"
        return _untagged_status("BYE", text, code)

    def tls_started(self) -> None:
        """The TLS handshake after an accepted STARTTLS succeeded: drop the
        plaintext that followed the command and resume parsing."""
        if self._mode != "tls":
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self._trailing = bytearray()
        eof = self._buf.eof
        self._buf = LineBuffer(self.limits.max_line)
        self._buf.eof = eof
        self._mode = "line"
        self._tls_active = True


def _printable(text: str) -> str:
    """Client text echoed in a reply: control characters become ``?`` so a
    reply can never drive a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _err(
    raw: bytes | bytearray,
    tag: str | None,
    reason: str,
    code: str | None = None,
    fatal: bool = False,
) -> CommandError:
    return CommandError(bytes(raw), tag, reason, "BAD", code, fatal)


def _with_fatal(error: CommandError, why: str) -> CommandError:
    return CommandError(
        error.raw, error.tag, f"{error.reason}; {why}", error.status, error.code, fatal=True
    )


def _text(text: str) -> bytes:
    """resp-text (RFC 3501 9): one line; CR/LF become spaces and other control
    characters ``?``, so text that echoes the client (a mailbox name) can
    neither end the line nor drive a terminal."""
    text = text.replace("\r", " ").replace("\n", " ")
    return _printable(text).encode("utf-8", "replace")


def _tagged_line(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    head = f"{tag} {status} " + (f"[{code}] " if code else "")
    return head.encode("utf-8") + _text(text) + b"\r\n"


def _untagged_status(status: str, text: str, code: str | None = None) -> bytes:
    head = f"* {status} " + (f"[{code}] " if code else "")
    return head.encode("utf-8") + _text(text) + b"\r\n"


# ---------------------------------------------------------------------------
# Serialising data (RFC 3501 4, 7)
# ---------------------------------------------------------------------------

_QUOTABLE: Final = re.compile(rb"[\x01-\x09\x0b\x0c\x0e-\x7f]*\Z")
_ATOM_SAFE: Final = re.compile(r"[A-Za-z0-9_.\-+&]+\Z")


def quoted(data: bytes) -> bytes:
    """A quoted string; the caller makes sure it is quotable (7-bit, no
    CR/LF/NUL)."""
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def string(data: bytes) -> bytes:
    """A string: quoted when it can be, else a literal ``{n}`` + CRLF + data."""
    if len(data) < 1024 and _QUOTABLE.match(data):
        return quoted(data)
    return b"{%d}\r\n" % len(data) + data


def nstring(data: bytes | None) -> bytes:
    return b"NIL" if data is None else string(data)


def mailbox_name(name: str) -> bytes:
    """A mailbox name for LIST/STATUS: an atom when safe, else a string."""
    if name == "INBOX" or _ATOM_SAFE.match(name):
        return name.encode("utf-8")
    return string(name.encode("utf-8"))


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("utf-8") + b")"


class ExternalLiteral(Protocol):
    """A server literal whose octets the caller provides (a file span)."""

    @property
    def size(self) -> int: ...


FetchValue = bytes | ExternalLiteral


def fetch_response(
    seq: int, items: Sequence[tuple[str, FetchValue]]
) -> list[bytes | ExternalLiteral]:
    """``* seq FETCH (name value ...)`` as wire pieces (RFC 3501 7.4.2).

    A ``bytes`` value is serialised as it is (the caller formats numbers,
    lists, quoted strings); an ``ExternalLiteral`` becomes ``{size}`` + CRLF
    followed by the object itself, which the caller writes as the octets.
    """
    out: list[bytes | ExternalLiteral] = []
    head = bytearray(b"* %d FETCH (" % seq)
    for i, (name, value) in enumerate(items):
        if i:
            head += b" "
        head += name.encode("ascii") + b" "
        if isinstance(value, bytes):
            head += value
        else:
            head += b"{%d}\r\n" % value.size
            out.append(bytes(head))
            out.append(value)
            head = bytearray()
    head += b")\r\n"
    out.append(bytes(head))
    return out


# ---------------------------------------------------------------------------
# Message data: headers, sections, ENVELOPE (RFC 3501 6.4.5, 7.4.2; RFC 5322)
# ---------------------------------------------------------------------------


def section_span(item: FetchItem, size: int, header_len: int) -> tuple[int, int]:
    """(offset, length) in the message of a whole-message, HEADER or TEXT
    section, after the partial ``<start.len>`` is applied."""
    name, section = item.name, item.section
    if name == "RFC822.HEADER" or (name == "BODY" and section == "HEADER"):
        start, length = 0, header_len
    elif name == "RFC822.TEXT" or (name == "BODY" and section == "TEXT"):
        start, length = header_len, size - header_len
    else:
        start, length = 0, size
    return _partial(item, start, length)


def _partial(item: FetchItem, start: int, length: int) -> tuple[int, int]:
    if item.partial is None:
        return start, length
    p_start, p_len = item.partial
    if p_start >= length:
        return start + length, 0  # RFC 3501 6.4.5: beyond the end -> empty
    return start + p_start, min(p_len, length - p_start)


def partial_bytes(item: FetchItem, data: bytes) -> bytes:
    start, length = _partial(item, 0, len(data))
    return data[start : start + length]


def _header_fields(header: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw field including folding and CRLF) for each header field."""
    fields: list[tuple[bytes, bytes]] = []
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line + b"\r\n")
            continue
        name = line.partition(b":")[0].strip()
        fields.append((name, line + b"\r\n"))
    return fields


def header_fields(header: bytes, names: Sequence[str], negate: bool) -> bytes:
    """BODY[HEADER.FIELDS (...)] / [HEADER.FIELDS.NOT (...)]: the matching
    fields as sent, plus the blank line (RFC 3501 6.4.5)."""
    wanted = {n.lower().encode("ascii", "replace") for n in names}
    out = bytearray()
    for name, raw in _header_fields(header):
        if (name.lower() in wanted) != negate:
            out += raw
    out += b"\r\n"
    return bytes(out)


def header_values(header: bytes, name: str) -> list[bytes]:
    """Unfolded values of the fields called ``name`` (RFC 5322 2.2.3)."""
    key = name.lower().encode("ascii", "replace")
    out: list[bytes] = []
    for fname, raw in _header_fields(header):
        if fname.lower() == key:
            value = raw.partition(b":")[2]
            out.append(re.sub(rb"\r\n(?=[ \t])", b"", value).strip())
    return out


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _address_list(header: bytes, name: str) -> bytes:
    values = header_values(header, name)
    if not values:
        return b"NIL"
    parts: list[bytes] = []
    for display, addr in getaddresses([_decode(v) for v in values]):
        if not addr and not display:
            continue
        local, at, domain = addr.rpartition("@")
        if not at:
            local, domain = addr, ""
        parts.append(
            b"("
            + (nstring(display.encode("utf-8", "surrogateescape")) if display else b"NIL")
            + b" NIL "
            + nstring(local.encode("utf-8", "surrogateescape"))
            + b" "
            + (nstring(domain.encode("utf-8", "surrogateescape")) if domain else b"NIL")
            + b")"
        )
    return b"(" + b"".join(parts) + b")" if parts else b"NIL"


def envelope(header: bytes) -> bytes:
    """RFC 3501 7.4.2 ENVELOPE from a message header: date, subject, from,
    sender, reply-to, to, cc, bcc, in-reply-to, message-id.  Sender and
    Reply-To default to From when absent."""

    def first(name: str) -> bytes:
        values = header_values(header, name)
        return nstring(values[0]) if values else b"NIL"

    from_ = _address_list(header, "from")
    sender = _address_list(header, "sender")
    reply_to = _address_list(header, "reply-to")
    parts = [
        first("date"),
        first("subject"),
        from_,
        from_ if sender == b"NIL" else sender,
        from_ if reply_to == b"NIL" else reply_to,
        _address_list(header, "to"),
        _address_list(header, "cc"),
        _address_list(header, "bcc"),
        first("in-reply-to"),
        first("message-id"),
    ]
    return b"(" + b" ".join(parts) + b")"


# ---------------------------------------------------------------------------
# SEARCH evaluation (RFC 3501 6.4.4)
# ---------------------------------------------------------------------------


class SearchSubject(Protocol):
    """What a search needs to know about one message; the caller reads the
    message lazily (only keys that need the body read it)."""

    @property
    def seq(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> frozenset[str]: ...  # \Recent included
    @property
    def size(self) -> int: ...
    @property
    def internal_date(self) -> _dt.date: ...
    def header(self, name: str) -> list[bytes]: ...
    def sent_date(self) -> _dt.date | None: ...
    def body_contains(self, needle: bytes) -> bool: ...
    def text_contains(self, needle: bytes) -> bool: ...


def _contains(haystack: bytes, needle: bytes) -> bool:
    """RFC 3501 6.4.4: a case-insensitive substring match."""
    return _decode(needle).casefold() in _decode(haystack).casefold()


def search_matches(key: SearchKey, msg: SearchSubject, star_seq: int, star_uid: int) -> bool:
    """Whether one message matches a search key (``star_*``: what ``*`` means)."""
    op = key.op
    if op == "all":
        return True
    if op == "flag":
        return (key.text in msg.flags) != key.negate
    if op == "keyword":
        return key.negate  # keywords are not stored: no message has one
    if op == "new":
        return "\\Recent" in msg.flags and "\\Seen" not in msg.flags
    if op == "old":
        return "\\Recent" not in msg.flags
    if op == "uid":
        assert key.seqset is not None
        return (msg.uid, star_uid) in key.seqset
    if op == "seq":
        assert key.seqset is not None
        return (msg.seq, star_seq) in key.seqset
    if op == "larger":
        return msg.size > key.number
    if op == "smaller":
        return msg.size < key.number
    if op in ("before", "on", "since"):
        assert key.date is not None
        return _date_cmp(op, msg.internal_date, key.date)
    if op in ("sentbefore", "senton", "sentsince"):
        assert key.date is not None
        sent = msg.sent_date()
        return sent is not None and _date_cmp(op[4:], sent, key.date)
    if op == "header":
        values = msg.header(key.text)
        if not key.needle:  # RFC 3501: HEADER name "" matches any message with the field
            return bool(values)
        return any(_contains(v, key.needle) for v in values)
    if op == "body":
        return msg.body_contains(key.needle)
    if op == "text":
        return msg.text_contains(key.needle)
    if op == "not":
        return not search_matches(key.children[0], msg, star_seq, star_uid)
    if op == "or":
        return any(search_matches(k, msg, star_seq, star_uid) for k in key.children)
    if op == "and":
        return all(search_matches(k, msg, star_seq, star_uid) for k in key.children)
    raise ValueError(f"unknown search op {op}")  # pragma: no cover - parse_search makes these


def _date_cmp(op: str, value: _dt.date, ref: _dt.date) -> bool:
    if op == "before":
        return value < ref
    if op == "on":
        return value == ref
    return value >= ref  # since: on or after
