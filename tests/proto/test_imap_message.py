"""Tests for protoshell/proto/imap_message.py: sections, header fields,
ENVELOPE and SEARCH evaluation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from protoshell.proto.imap_args import FetchItem, SearchKey
from protoshell.proto.imap_grammar import parse_search
from protoshell.proto.imap_message import (
    envelope,
    header_fields,
    header_values,
    search_matches,
    section_span,
)
from protoshell.proto.imap_syntax import tokenize


def _search(text: bytes) -> SearchKey:
    return parse_search(tokenize([text]))


HEADER = (
    b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    b'From: "Fred Foobar" <foobar@Blurdybloop.example>\r\n'
    b"Subject: afternoon\r\n meeting\r\n"
    b"To: mooch@owatagu.example, Group: a@b.example;\r\n"
    b"cc: \r\n"
    b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    b"\r\n"
)


def test_envelope() -> None:
    assert envelope(HEADER) == (
        b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
        b'((NIL NIL "mooch" "owatagu.example")(NIL NIL "a" "b.example")) '
        b'NIL NIL NIL "<B27397-0100000@Blurdybloop.example>")'
    )
    assert envelope(b"\r\n") == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"


def test_header_fields() -> None:
    assert header_fields(HEADER, ["SUBJECT", "to"], False) == (
        b"Subject: afternoon\r\n meeting\r\nTo: mooch@owatagu.example, Group: a@b.example;\r\n\r\n"
    )
    assert header_fields(HEADER, ["date", "from", "subject", "to", "cc"], True) == (
        b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n\r\n"
    )
    assert header_values(HEADER, "subject") == [b"afternoon meeting"]


@pytest.mark.parametrize(
    ("item", "span"),
    [
        (FetchItem("RFC822"), (0, 100)),
        (FetchItem("BODY", "HEADER"), (0, 30)),
        (FetchItem("RFC822.HEADER"), (0, 30)),
        (FetchItem("BODY", "TEXT"), (30, 70)),
        (FetchItem("RFC822.TEXT"), (30, 70)),
        (FetchItem("BODY", "TEXT", partial=(10, 20)), (40, 20)),
        (FetchItem("BODY", "TEXT", partial=(60, 20)), (90, 10)),
        (FetchItem("BODY", "TEXT", partial=(70, 5)), (100, 0)),
        (FetchItem("BODY", "", partial=(0, 1)), (0, 1)),
    ],
)
def test_section_span(item: FetchItem, span: tuple[int, int]) -> None:
    assert section_span(item, 100, 30) == span


@dataclass
class FakeMessage:
    seq: int
    uid: int
    flags: frozenset[str]
    size: int = 100
    internal_date: dt.date = dt.date(2024, 1, 10)
    headers: dict[str, list[bytes]] | None = None
    body: bytes = b""

    def header(self, name: str) -> list[bytes]:
        return (self.headers or {}).get(name, [])

    def sent_date(self) -> dt.date | None:
        return dt.date(2024, 1, 9)

    def body_contains(self, needle: bytes) -> bool:
        return needle.lower() in self.body.lower()

    def text_contains(self, needle: bytes) -> bool:
        return self.body_contains(needle) or any(
            needle.lower() in v.lower() for v in (self.headers or {}).get("from", [])
        )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"ALL", [1, 2, 3]),
        (b"SEEN", [2]),
        (b"UNSEEN", [1, 3]),
        (b'FROM "ipip"', [1, 2]),  # case-insensitive substring (RFC 3501 6.4.4)
        (b"NOT FROM ipip", [3]),
        (b"OR SEEN FROM other", [2, 3]),
        (b"BODY blah", [1]),
        (b"TEXT IPIP", [1, 2]),
        (b"UID 20:*", [2, 3]),
        (b"2:*", [2, 3]),
        (b"NEW", [1]),
        (b"OLD", [2, 3]),
        (b"LARGER 150", [3]),
        (b"SINCE 10-Jan-2024", [1, 2, 3]),
        (b"BEFORE 10-Jan-2024", []),
        (b"SENTON 9-Jan-2024", [1, 2, 3]),
        (b"KEYWORD $x", []),
        (b'HEADER subject ""', [2]),
    ],
)
def test_search_matches(query: bytes, expected: list[int]) -> None:
    messages = [
        FakeMessage(
            1, 10, frozenset({"\\Recent"}), headers={"from": [b"Ipip <a@b>"]}, body=b"Blah blah"
        ),
        FakeMessage(2, 20, frozenset({"\\Seen"}), headers={"from": [b"ipip@x"], "subject": [b"s"]}),
        FakeMessage(3, 30, frozenset(), size=200, headers={"from": [b"other@x"]}),
    ]
    key = _search(query)
    assert [m.seq for m in messages if search_matches(key, m, 3, 30)] == expected
