"""IMAP4rev1 message data, sans-IO: what a server reads out of a message.

The sections and partial fetches of FETCH (RFC 3501 6.4.5), header fields
(RFC 5322 2.2), the ENVELOPE structure (RFC 3501 7.4.2) and the evaluation
of a parsed SEARCH key against one message (6.4.4).  The caller owns the
messages (the Maildir in ``server/mail``); it hands in header bytes, sizes
and a ``SearchSubject``.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from email.utils import getaddresses
from typing import Protocol

from .imap_args import FetchItem, SearchKey
from .imap_response import nstring

__all__ = [
    "SearchSubject",
    "envelope",
    "header_fields",
    "header_values",
    "partial_bytes",
    "search_matches",
    "section_span",
]


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
