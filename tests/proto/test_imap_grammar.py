"""Tests for protoshell/proto/imap_grammar.py: the per-command argument grammars
(search keys, fetch items, STORE, LIST, STATUS), parsed directly or through
the connection."""

from __future__ import annotations

import datetime as dt

import pytest

from protoshell.proto.imap_args import (
    FetchArgs,
    FetchItem,
    ListArgs,
    SearchArgs,
    SearchKey,
    StatusArgs,
    StoreArgs,
)
from protoshell.proto.imap_grammar import parse_search
from protoshell.proto.imap_syntax import ImapSyntaxError, SequenceSet, parse_sequence_set, tokenize
from tests.proto.feed_imap_server import cmd, run


def _search(text: bytes) -> SearchKey:
    return parse_search(tokenize([text]))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (b"ALL", SearchKey("all")),
        (b"seen", SearchKey("flag", text="\\Seen")),
        (b"UNSEEN", SearchKey("flag", text="\\Seen", negate=True)),
        (b'FROM "IPIP"', SearchKey("header", text="from", needle=b"IPIP")),
        (b"SUBJECT lecture", SearchKey("header", text="subject", needle=b"lecture")),
        (b"HEADER X-Spam yes", SearchKey("header", text="x-spam", needle=b"yes")),
        (b"BODY blah", SearchKey("body", needle=b"blah")),
        (b'TEXT "a b"', SearchKey("text", needle=b"a b")),
        (b"UID 2:4", SearchKey("uid", seqset=parse_sequence_set("2:4"))),
        (b"2,4:*", SearchKey("seq", seqset=parse_sequence_set("2,4:*"))),
        (b"LARGER 100", SearchKey("larger", number=100)),
        (b"SINCE 1-Feb-1994", SearchKey("since", date=dt.date(1994, 2, 1))),
        (b"NOT SEEN", SearchKey("not", children=(SearchKey("flag", text="\\Seen"),))),
        (
            b"OR SEEN FLAGGED",
            SearchKey(
                "or",
                children=(SearchKey("flag", text="\\Seen"), SearchKey("flag", text="\\Flagged")),
            ),
        ),
        (
            b'(FROM "IPIP")',  # the lecture's conn.search(None, '(FROM "IPIP")')
            SearchKey("header", text="from", needle=b"IPIP"),
        ),
        (
            b"SEEN NOT DELETED",
            SearchKey(
                "and",
                children=(
                    SearchKey("flag", text="\\Seen"),
                    SearchKey("not", children=(SearchKey("flag", text="\\Deleted"),)),
                ),
            ),
        ),
    ],
)
def test_search_keys(text: bytes, key: SearchKey) -> None:
    assert _search(text) == key


@pytest.mark.parametrize(
    "text",
    [b"FROM", b"OR SEEN", b"NOT", b"BOGUS", b"LARGER x", b"SINCE 31-Feb-2020", b"()", b"UID x"],
)
def test_bad_search_keys(text: bytes) -> None:
    with pytest.raises(ImapSyntaxError):
        _search(text)


def test_search_charset_parsed() -> None:
    seen, _ = run(b"A1 SEARCH CHARSET utf-8 ALL\r\n", state="selected")
    assert seen == [cmd("A1", "SEARCH", SearchArgs("UTF-8", SearchKey("all")))]


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (b"FLAGS", (FetchItem("FLAGS"),)),
        (
            b"ALL",
            (
                FetchItem("FLAGS"),
                FetchItem("INTERNALDATE"),
                FetchItem("RFC822.SIZE"),
                FetchItem("ENVELOPE"),
            ),
        ),
        (b"FAST", (FetchItem("FLAGS"), FetchItem("INTERNALDATE"), FetchItem("RFC822.SIZE"))),
        (b"(UID rfc822)", (FetchItem("UID"), FetchItem("RFC822"))),
        (b"BODY[]", (FetchItem("BODY"),)),
        (b"BODY.PEEK[TEXT]<5.10>", (FetchItem("BODY", "TEXT", peek=True, partial=(5, 10)),)),
        (
            b"body[header.fields.not (Subject)]",
            (FetchItem("BODY", "HEADER.FIELDS.NOT", ("SUBJECT",)),),
        ),
    ],
)
def test_fetch_items(text: bytes, items: tuple[FetchItem, ...]) -> None:
    seen, _ = run(b"A1 FETCH 1 " + text + b"\r\n", state="selected")
    assert seen == [cmd("A1", "FETCH", FetchArgs(SequenceSet(((1, 1),), "1"), items))]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"BODYSTRUCTURE", b"not supported"),
        (b"BODY[1]", b"MIME part sections"),
        (b"BODY[FOO]", b"unknown section"),
        (b"BODY[]<0.0>", b"length from 1"),
        (b"FULL", b"FULL includes BODY"),
        (b"(FLAGS ALL)", b"unknown fetch item ALL"),
        (b"()", b"fetch items"),
    ],
)
def test_bad_fetch_items(text: bytes, reason: bytes) -> None:
    seen, sent = run(b"A1 FETCH 1 " + text + b"\r\n", state="selected")
    assert seen == [("error", "A1", False)]
    assert reason in sent


@pytest.mark.parametrize(
    ("line", "args"),
    [
        (
            b"A1 STORE 1 +FLAGS \\Deleted",
            StoreArgs(SequenceSet(((1, 1),), "1"), "add", False, ("\\Deleted",)),
        ),
        (
            b"A1 STORE 1:2 -flags.silent (\\Seen \\SEEN)",
            StoreArgs(SequenceSet(((1, 2),), "1:2"), "remove", True, ("\\Seen",)),
        ),
        (b"A1 STORE * FLAGS ()", StoreArgs(SequenceSet(((None, None),), "*"), "set", False, ())),
        (
            b"A1 STORE 1 FLAGS $Label",
            StoreArgs(SequenceSet(((1, 1),), "1"), "set", False, ("$Label",)),
        ),
    ],
)
def test_store_arguments(line: bytes, args: StoreArgs) -> None:
    seen, _ = run(line + b"\r\n", state="selected")
    assert seen == [cmd("A1", "STORE", args)]


@pytest.mark.parametrize(
    "line",
    [
        b"A1 STORE 1 +FLAGS (\\Recent)",
        b"A1 STORE 1 XFLAGS (\\Seen)",
        b"A1 STORE 1 FLAGS",
        b"A1 STORE 1 FLAGS (\\Bogus)",
    ],
)
def test_bad_store(line: bytes) -> None:
    seen, _ = run(line + b"\r\n", state="selected")
    assert seen == [("error", "A1", False)]


def test_list_and_status_arguments() -> None:
    seen, _ = run(
        b'A1 LIST "" *\r\nA2 LSUB "Work." %\r\nA3 STATUS inbox (MESSAGES unseen)\r\nA4 LIST "" "a b"\r\n',
        state="authenticated",
    )
    assert seen == [
        cmd("A1", "LIST", ListArgs("", "*")),
        cmd("A2", "LSUB", ListArgs("Work.", "%")),
        cmd("A3", "STATUS", StatusArgs("INBOX", ("MESSAGES", "UNSEEN"))),
        cmd("A4", "LIST", ListArgs("", "a b")),
    ]
