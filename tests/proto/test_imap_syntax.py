"""Tests for protoshell/proto/imap_syntax.py: tokens, sequence sets, dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from protoshell.proto.imap_syntax import (
    Atom,
    ImapSyntaxError,
    PList,
    StreamedLiteral,
    String,
    format_internaldate,
    parse_date_time,
    parse_sequence_set,
    tokenize,
)


@pytest.mark.parametrize(
    ("segments", "tokens"),
    [
        (
            [b'a "b c" (d (e)) NIL'],
            [Atom("a"), String(b"b c"), PList((Atom("d"), PList((Atom("e"),)))), Atom("NIL")],
        ),
        (
            [b"BODY[HEADER.FIELDS (FROM TO)]<0.10> x"],
            [Atom("BODY[HEADER.FIELDS (FROM TO)]<0.10>"), Atom("x")],
        ),
        ([b"x ", String(b"lit", True), b" y"], [Atom("x"), String(b"lit", True), Atom("y")]),
        ([b"(a ", StreamedLiteral(9), b")"], [PList((Atom("a"), StreamedLiteral(9)))]),
        ([b"\\Seen  \\Draft"], [Atom("\\Seen"), Atom("\\Draft")]),
        ([b'""'], [String(b"")]),
    ],
)
def test_tokenize(segments: list[Any], tokens: list[Any]) -> None:
    assert tokenize(segments) == tokens


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ([b"(a"], "missing ')'"),
        ([b"a)"], "unexpected ')'"),
        ([b'"abc'], "missing closing quote"),
        ([b'"a\\b"'], "may be escaped"),
        ([b'a"b"'], "missing space"),
        ([b"x", String(b"l", True)], "missing space before a literal"),
        ([b"x ", String(b"l", True), b"y"], "missing space"),
        ([b"BODY[TEXT"], "missing ']'"),
        ([b"a\x01b"], "control character"),
        ([b"a {3} b"], "literal"),
    ],
)
def test_tokenize_errors(segments: list[Any], message: str) -> None:
    with pytest.raises(ImapSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        tokenize(segments)


@pytest.mark.parametrize(
    ("text", "values", "star", "expected"),
    [
        ("1:*", [1, 2, 3], 3, [1, 2, 3]),
        ("*", [1, 2, 3], 3, [3]),
        ("2,4:6", range(1, 10), 9, [2, 4, 5, 6]),
        ("6:4", range(1, 10), 9, [4, 5, 6]),
        ("3:1,2", range(1, 10), 9, [1, 2, 3]),
        ("8:*", [1, 5], 5, [5]),  # RFC 3501 9: n:* includes the last even when n > *
        ("1:*", [], 0, []),
        ("4294967295", [4294967295], 1, [4294967295]),
    ],
)
def test_sequence_sets(text: str, values: Any, star: int, expected: list[int]) -> None:
    s = parse_sequence_set(text)
    assert s.select(list(values), star) == expected
    assert all((v, star) in s for v in expected)


@pytest.mark.parametrize("text", ["", "0", "1:", ":1", "a", "1-3", "1,", "*:", "4294967296", "01"])
def test_bad_sequence_sets(text: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_sequence_set(text)


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("17-Jul-1996 02:44:25 -0700", dt.datetime(1996, 7, 17, 9, 44, 25, tzinfo=dt.UTC)),
        (" 1-Jan-2000 00:00:00 +0100", dt.datetime(1999, 12, 31, 23, 0, 0, tzinfo=dt.UTC)),
    ],
)
def test_parse_date_time(text: str, when: dt.datetime) -> None:
    assert parse_date_time(text) == when.timestamp()


@pytest.mark.parametrize(
    "text", ["17-Jul-1996", "32-Jan-2000 00:00:00 +0000", "1-Foo-2000 00:00:00 +0000"]
)
def test_bad_date_time(text: str) -> None:
    with pytest.raises(ImapSyntaxError):
        parse_date_time(text)


def test_internaldate() -> None:
    assert format_internaldate(837589465) == b'"17-Jul-1996 07:44:25 +0000"'
    assert format_internaldate(946684800) == b'" 1-Jan-2000 00:00:00 +0000"'
