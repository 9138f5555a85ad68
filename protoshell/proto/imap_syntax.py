"""IMAP4rev1 lexical syntax, sans-IO: tokens, sequence sets, dates.

RFC 3501 4 and 9: what a command's arguments are made of before any command
gives them a meaning.  ``tokenize`` turns the pieces of a command (its text
and its literals) into atoms, strings and lists; ``parse_sequence_set`` reads
``1:*, 2,4:6``; ``parse_date_time`` and ``format_internaldate`` read and
write date-time.  Everything here raises ``ImapSyntaxError``, whose text is
the reason the server sends after ``BAD``.  The per-command grammars built on
these are in ``imap_grammar``; the connection in ``imap_server``.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "Atom",
    "ImapSyntaxError",
    "PList",
    "SequenceSet",
    "StreamedLiteral",
    "String",
    "Token",
    "format_internaldate",
    "parse_date_time",
    "parse_sequence_set",
    "tokenize",
]


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
# Sequence sets (RFC 3501 9)
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


# ---------------------------------------------------------------------------
# Dates (RFC 3501 9 date, date-time)
# ---------------------------------------------------------------------------

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
