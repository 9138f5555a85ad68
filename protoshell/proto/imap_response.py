"""IMAP4rev1 response data, serialised (RFC 3501 4, 7): the builders a
server uses for the data of its untagged responses.

Strings (quoted or literal), NIL, mailbox names, flag lists and the
``* n FETCH (...)`` response, whose literals may be spans of a file the
caller writes itself (``ExternalLiteral``).  Status lines (``tag OK ...``)
are written by the connection (``imap_server``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, Protocol

__all__ = [
    "ExternalLiteral",
    "FetchValue",
    "fetch_response",
    "flag_list",
    "mailbox_name",
    "nstring",
    "quoted",
    "string",
]


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
