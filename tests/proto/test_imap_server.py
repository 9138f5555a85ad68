"""Tests for protoshell/proto/imap_server.py: IMAP in the server role, sans-IO.

Every scripted case runs three ways (h11's habit): client bytes fed whole,
one byte at a time (events drained after each byte), and whole followed by
the start of a further command (which must change nothing).  A small
responder answers events the way a server would (accept literals, OK every
command), so a case is: bytes in -> what the server saw and said.
"""

from __future__ import annotations

import datetime as dt
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoshell.proto.base import NEED_DATA, ConnectionClosed, Event, LocalProtocolError, Payload
from protoshell.proto.imap_server import (
    AppendArgs,
    Atom,
    CommandError,
    ContinuationLine,
    FetchArgs,
    FetchItem,
    ImapCommand,
    ImapServerConnection,
    ImapServerLimits,
    ImapSyntaxError,
    ListArgs,
    LiteralRequest,
    LoginArgs,
    MailboxArgs,
    PList,
    SearchArgs,
    SearchKey,
    SequenceSet,
    StatusArgs,
    StoreArgs,
    StreamedLiteral,
    String,
    envelope,
    fetch_response,
    format_internaldate,
    header_fields,
    header_values,
    mailbox_name,
    parse_date_time,
    parse_search,
    parse_sequence_set,
    search_matches,
    section_span,
    string,
    tokenize,
)

MODES = ("whole", "bytes", "trailing")
TRAILING = b"Z9 NOO"  # the start of a further command: must produce nothing


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@dataclass
class Responder:
    """Answers events like a server: literals accepted, commands OK."""

    conn: ImapServerConnection
    sent: bytearray
    seen: list[tuple[Any, ...]]
    on_command: Callable[[ImapServerConnection, ImapCommand], bytes] | None = None

    def drain(self) -> None:
        for _ in range(100_000):
            ev = self.conn.next_event()
            if ev is NEED_DATA:
                return
            assert isinstance(ev, Event)
            self.handle(ev)
        raise AssertionError("next_event never returned NEED_DATA")

    def handle(self, ev: Event) -> None:
        conn = self.conn
        if isinstance(ev, LiteralRequest):
            self.seen.append(("literal", ev.tag, ev.size, ev.synchronizing, ev.stream))
            self.sent += conn.accept_literal()
        elif isinstance(ev, Payload):
            if self.seen and self.seen[-1][0] == "payload":
                self.seen[-1] = ("payload", self.seen[-1][1] + ev.raw)
            else:
                self.seen.append(("payload", ev.raw))
        elif isinstance(ev, ImapCommand):
            self.seen.append(("command", ev.tag, ev.name, ev.uid, ev.args))
            if self.on_command is not None:
                self.sent += self.on_command(conn, ev)
            else:
                self.sent += conn.send_tagged(ev.tag, "OK", "done")
        elif isinstance(ev, CommandError):
            self.seen.append(("error", ev.tag, ev.fatal))
            self.sent += conn.send_error(ev)
        elif isinstance(ev, ContinuationLine):
            self.seen.append(("continuation", ev.line))
            assert conn.current is not None
            self.sent += conn.send_tagged(conn.current.tag, "OK", "done")
        elif isinstance(ev, ConnectionClosed):
            self.seen.append(("closed", ev.clean))
        else:  # pragma: no cover
            pytest.fail(f"unexpected event {ev!r}")


def connection(
    state: str = "not-authenticated", limits: ImapServerLimits | None = None
) -> ImapServerConnection:
    conn = ImapServerConnection(limits) if limits is not None else ImapServerConnection()
    steps = {
        "authenticated": [b"p1 LOGIN u p\r\n"],
        "selected": [b"p1 LOGIN u p\r\n", b"p2 SELECT INBOX\r\n"],
    }
    for line in steps.get(state, []):
        conn.receive_data(line)
        ev = conn.next_event()
        assert isinstance(ev, ImapCommand), ev
        conn.send_tagged(ev.tag, "OK", "ok")
    assert conn.state == state
    return conn


def run(
    data: bytes,
    mode: str = "whole",
    state: str = "not-authenticated",
    limits: ImapServerLimits | None = None,
    eof: bool = False,
) -> tuple[list[tuple[Any, ...]], bytes]:
    conn = connection(state, limits)
    r = Responder(conn, bytearray(), [])
    if mode == "bytes":
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            r.drain()
    else:
        conn.receive_data(data)
        r.drain()
        if mode == "trailing":
            before = (list(r.seen), bytes(r.sent))
            conn.receive_data(TRAILING)
            r.drain()
            assert (r.seen, bytes(r.sent)) == before
    if eof:
        conn.receive_data(b"")
        r.drain()
    return r.seen, bytes(r.sent)


def cmd(tag: str, name: str, args: Any = None, uid: bool = False) -> tuple[Any, ...]:
    return ("command", tag, name, uid, args)


# ---------------------------------------------------------------------------
# Command lines: tags, strings, literals
# ---------------------------------------------------------------------------

CASES: list[tuple[str, str, bytes, list[tuple[Any, ...]], bytes]] = [
    (
        "lecture-user-is-not-imap",
        "not-authenticated",
        b'A0001 USER "frobozz" "xyzzy"\r\n',
        [("error", "A0001", False)],
        b"A0001 BAD USER is not an IMAP command (it is POP3's); IMAP logs in with LOGIN user password\r\n",
    ),
    (
        "login-atoms",
        "not-authenticated",
        b"A1 LOGIN bob redqueen\r\n",
        [cmd("A1", "LOGIN", LoginArgs(b"bob", b"redqueen"))],
        b"A1 OK done\r\n",
    ),
    (
        "login-quoted-with-escapes",
        "not-authenticated",
        b'A1 login "bob smith" "a\\"b\\\\c"\r\n',
        [cmd("A1", "LOGIN", LoginArgs(b"bob smith", b'a"b\\c'))],
        b"A1 OK done\r\n",
    ),
    (
        "login-synchronizing-literals",
        "not-authenticated",
        b"A1 LOGIN {3}\r\nbob {8}\r\nredqueen\r\n",
        [
            ("literal", "A1", 3, True, False),
            ("literal", "A1", 8, True, False),
            cmd("A1", "LOGIN", LoginArgs(b"bob", b"redqueen")),
        ],
        b"+ Ready for literal data\r\n+ Ready for literal data\r\nA1 OK done\r\n",
    ),
    (
        "literal-plus-needs-no-continuation",
        "not-authenticated",
        b"A1 LOGIN {3+}\r\nbob {4+}\r\nx\r\ny\r\n",
        [
            ("literal", "A1", 3, False, False),
            ("literal", "A1", 4, False, False),
            cmd("A1", "LOGIN", LoginArgs(b"bob", b"x\r\ny")),
        ],
        b"A1 OK done\r\n",
    ),
    (
        "literal-octets-are-not-parsed",
        "not-authenticated",
        b"A1 LOGIN bob {9+}\r\nA2 LOGOUT\r\n",
        [("literal", "A1", 9, False, False), cmd("A1", "LOGIN", LoginArgs(b"bob", b"A2 LOGOUT"))],
        b"A1 OK done\r\n",
    ),
    (
        "braces-inside-quotes-are-text",
        "not-authenticated",
        b'A1 LOGIN "{3}" "x {5}"\r\n',
        [cmd("A1", "LOGIN", LoginArgs(b"{3}", b"x {5}"))],
        b"A1 OK done\r\n",
    ),
    (
        "bare-lf-accepted",
        "not-authenticated",
        b"A1 NOOP\nA2 CAPABILITY\n",
        [cmd("A1", "NOOP"), cmd("A2", "CAPABILITY")],
        b"A1 OK done\r\nA2 OK done\r\n",
    ),
    (
        "no-tag",
        "not-authenticated",
        b"\r\n* NOOP\r\n+ x\r\n",
        [("error", None, False)] * 3,
        (
            b"* BAD empty command line (expected: tag command arguments)\r\n"
            b"* BAD invalid tag '*'\r\n* BAD invalid tag '+'\r\n"
        ),
    ),
    (
        "tag-without-command",
        "not-authenticated",
        b"A1\r\n",
        [("error", "A1", False)],
        b"A1 BAD missing command after the tag\r\n",
    ),
    (
        "unknown-command",
        "selected",
        b"A1 FROB 1\r\n",
        [("error", "A1", False)],
        b"A1 BAD unknown command FROB\r\n",
    ),
    (
        "unknown-command-with-literal-is-refused-before-plus",
        "authenticated",
        b"A1 FROB {3}\r\nA2 NOOP\r\n",
        [("error", "A1", False), cmd("A2", "NOOP")],
        b"A1 BAD unknown command FROB\r\nA2 OK done\r\n",
    ),
    (
        "refused-literal-plus-is-skipped",
        "authenticated",
        b"A1 FROB {5+}\r\nA2 X\r\nA3 NOOP\r\n",
        [("error", "A1", False), cmd("A3", "NOOP")],
        b"A1 BAD unknown command FROB\r\nA3 OK done\r\n",
    ),
    (
        "syntax-errors-name-the-problem",
        "authenticated",
        b'A1 SELECT\r\nA2 SELECT a b\r\nA3 LOGIN "x\r\nA4 STATUS INBOX MESSAGES\r\nA5 LIST "" (\r\n',
        [("error", t, False) for t in ("A1", "A2", "A3", "A4", "A5")],
        (
            b"A1 BAD SELECT: missing mailbox name\r\n"
            b"A2 BAD SELECT: unexpected extra arguments\r\n"
            b"A3 BAD LOGIN is not allowed in the authenticated state: already logged in\r\n"
            b"A4 BAD STATUS: status items must be a list such as (MESSAGES UNSEEN)\r\n"
            b"A5 BAD LIST: missing ')'\r\n"
        ),
    ),
    (
        "wrong-state",
        "not-authenticated",
        b"A1 SELECT INBOX\r\nA2 FETCH 1 FLAGS\r\nA3 UID FETCH 1 FLAGS\r\n",
        [("error", "A1", False), ("error", "A2", False), ("error", "A3", False)],
        (
            b"A1 BAD SELECT is not allowed in the not-authenticated state: log in first "
            b"(LOGIN user password)\r\n"
            b"A2 BAD FETCH is not allowed in the not-authenticated state: log in first "
            b"(LOGIN user password)\r\n"
            b"A3 BAD UID FETCH is not allowed in the not-authenticated state: log in first "
            b"(LOGIN user password)\r\n"
        ),
    ),
    (
        "fetch-in-authenticated-state",
        "authenticated",
        b"A1 FETCH 1 FLAGS\r\n",
        [("error", "A1", False)],
        (
            b"A1 BAD FETCH is not allowed in the authenticated state: select a mailbox first "
            b"(SELECT INBOX)\r\n"
        ),
    ),
    (
        "uid-subcommands",
        "selected",
        b"A1 UID FETCH 1:* (FLAGS)\r\nA2 UID FROB 1\r\nA3 uid expunge 4:2\r\n",
        [
            cmd(
                "A1",
                "FETCH",
                FetchArgs(SequenceSet(((1, None),), "1:*"), (FetchItem("FLAGS"),)),
                uid=True,
            ),
            ("error", "A2", False),
            cmd("A3", "EXPUNGE", SequenceSet(((4, 2),), "4:2"), uid=True),
        ],
        b"A1 OK done\r\nA2 BAD UID takes FETCH, SEARCH, STORE, COPY or EXPUNGE\r\nA3 OK done\r\n",
    ),
    (
        "bad-sequence-sets",
        "selected",
        b"A1 FETCH 0 FLAGS\r\nA2 FETCH 1:x FLAGS\r\nA3 FETCH 1,,2 FLAGS\r\nA4 FETCH 99999999999 FLAGS\r\n",
        [("error", t, False) for t in ("A1", "A2", "A3", "A4")],
        (
            b"A1 BAD FETCH: invalid sequence set '0' (expected e.g. 1:*, 2,4:6)\r\n"
            b"A2 BAD FETCH: invalid sequence set '1:x' (expected e.g. 1:*, 2,4:6)\r\n"
            b"A3 BAD FETCH: invalid sequence set '1,,2' (expected e.g. 1:*, 2,4:6)\r\n"
            b"A4 BAD FETCH: invalid sequence set '99999999999' (expected e.g. 1:*, 2,4:6)\r\n"
        ),
    ),
    (
        "the-lecture-re-ordered-exchange",
        "not-authenticated",
        (
            b'A0001 LOGIN "frobozz" "xyzzy"\r\nA0002 SELECT INBOX\r\nA0003 FETCH 1 RFC822.SIZE\r\n'
            b"A0004 FETCH 1 BODY[HEADER]\r\nA0005 FETCH 1 BODY[TEXT]\r\nA0006 LOGOUT\r\n"
        ),
        [
            cmd("A0001", "LOGIN", LoginArgs(b"frobozz", b"xyzzy")),
            cmd("A0002", "SELECT", MailboxArgs("INBOX")),
            cmd(
                "A0003",
                "FETCH",
                FetchArgs(SequenceSet(((1, 1),), "1"), (FetchItem("RFC822.SIZE"),)),
            ),
            cmd(
                "A0004",
                "FETCH",
                FetchArgs(SequenceSet(((1, 1),), "1"), (FetchItem("BODY", "HEADER"),)),
            ),
            cmd(
                "A0005",
                "FETCH",
                FetchArgs(SequenceSet(((1, 1),), "1"), (FetchItem("BODY", "TEXT"),)),
            ),
            cmd("A0006", "LOGOUT"),
        ],
        b"".join(b"A000%d OK done\r\n" % i for i in range(1, 7)),
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("state", "data", "seen", "sent"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_command_lines(mode: str, state: str, data: bytes, seen: list[Any], sent: bytes) -> None:
    got_seen, got_sent = run(data, mode, state)
    assert got_seen == seen
    assert got_sent == sent


@pytest.mark.parametrize("mode", MODES)
def test_append_streams_the_message(mode: str) -> None:
    message = b"From: a@b\r\nSubject: x\r\n\r\nbody {3}\r\n"
    data = (
        b'A1 APPEND Sent (\\Seen \\draft) " 5-Jan-2024 10:00:00 +0100" {%d}\r\n' % len(message)
        + message
        + b"\r\n"
    )
    seen, sent = run(data, mode, "authenticated")
    args = AppendArgs("Sent", ("\\Seen", "\\Draft"), 1704445200.0, None, len(message))
    assert seen == [
        ("literal", "A1", len(message), True, True),
        ("payload", message),
        cmd("A1", "APPEND", args),
    ]
    assert sent == b"+ Ready for literal data\r\nA1 OK done\r\n"


def test_append_with_mailbox_as_literal_keeps_it_inline() -> None:
    seen, _ = run(b"A1 APPEND {4+}\r\nWork {2+}\r\nhi\r\n", state="authenticated")
    assert seen == [
        ("literal", "A1", 4, False, False),
        ("literal", "A1", 2, False, True),
        ("payload", b"hi"),
        cmd("A1", "APPEND", AppendArgs("Work", (), None, None, 2)),
    ]


def test_append_bad_flags_refused_before_upload() -> None:
    seen, sent = run(b"A1 APPEND INBOX (\\Bogus) {999}\r\nA2 NOOP\r\n", state="authenticated")
    assert seen == [("error", "A1", False), cmd("A2", "NOOP")]
    assert sent == b"A1 BAD APPEND: unknown system flag \\Bogus\r\nA2 OK done\r\n"


def test_append_garbage_after_literal_is_bad() -> None:
    seen, sent = run(b"A1 APPEND INBOX {2+}\r\nhi extra\r\n", state="authenticated")
    assert seen[-1] == ("error", "A1", False)
    assert sent == b"A1 BAD APPEND: unexpected extra arguments\r\n"


def test_huge_synchronizing_literal_is_refused_without_continuation() -> None:
    seen, sent = run(b"A1 APPEND INBOX {99999999999}\r\nA2 NOOP\r\n", state="authenticated")
    assert seen == [("error", "A1", False), cmd("A2", "NOOP")]
    assert sent == (
        b"A1 BAD [TOOBIG] message of 99999999999 octets is over the limit of 33554432\r\n"
        b"A2 OK done\r\n"
    )


def test_huge_non_synchronizing_literal_closes() -> None:
    seen, sent = run(b"A1 APPEND INBOX {99999999999+}\r\nxxxx", state="authenticated")
    assert seen == [("error", "A1", True)]
    assert b"too big to skip" in sent


def test_inline_literal_over_limit() -> None:
    limits = ImapServerLimits(max_inline_literal=10)
    seen, sent = run(b"A1 LOGIN {11}\r\nA2 LOGIN {10}\r\n", limits=limits)
    assert seen == [("error", "A1", False), ("literal", "A2", 10, True, False)]
    assert sent.startswith(b"A1 BAD [TOOBIG] literal of 11 octets is over the limit of 10")


def test_invalid_literal_size() -> None:
    seen, sent = run(b"A1 LOGIN a {-1}\r\nA2 NOOP\r\n")
    assert seen == [("error", "A1", False), cmd("A2", "NOOP")]
    assert sent.startswith(b"A1 BAD invalid literal size {-1}")


def test_line_too_long_is_answered_and_the_connection_resyncs() -> None:
    limits = ImapServerLimits(max_line=100)
    data = b"A1 LOGIN " + b"x" * 200 + b"\r\nA2 NOOP\r\n"
    for mode in MODES:
        seen, sent = run(data, mode, limits=limits)
        assert seen == [("error", "A1", False), cmd("A2", "NOOP")], mode
        assert sent == b"A1 BAD line longer than 100 bytes\r\nA2 OK done\r\n"


def test_endless_continuation_line() -> None:
    limits = ImapServerLimits(max_line=100)
    conn = connection("authenticated", limits)
    conn.receive_data(b"i IDLE\r\n")
    assert isinstance(conn.next_event(), ImapCommand)
    conn.send_continuation("idling")
    conn.receive_data(b"D" * 300 + b"\r\nj NOOP\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ContinuationLine) and ev.line == b"D" * 80
    conn.send_tagged("i", "BAD", "expected DONE")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.tag == "j"


def test_control_characters_are_not_echoed() -> None:
    _, sent = run(b"A1 \x1b[2J\x07\r\n")
    assert sent == b"A1 BAD unknown command ?[2J?\r\n"


def test_too_many_bad_commands_is_fatal() -> None:
    limits = ImapServerLimits(max_bad_commands=3)
    seen, sent = run(b"A1 X\r\nA2 X\r\nA3 X\r\nA4 NOOP\r\n", limits=limits)
    assert seen == [("error", "A1", False), ("error", "A2", False), ("error", "A3", True)]
    assert b"3 bad commands in a row" in sent


def test_a_good_command_resets_the_bad_count() -> None:
    limits = ImapServerLimits(max_bad_commands=3)
    seen, _ = run(b"A1 X\r\nA2 X\r\nA3 NOOP\r\nA4 X\r\nA5 X\r\n", limits=limits)
    assert [s for s in seen if s[0] == "error" and s[2]] == []


# ---------------------------------------------------------------------------
# EOF
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "clean"),
    [
        (b"", True),
        (b"A1 NOOP\r\n", True),
        (b"A1 NOOP", False),  # a line without CRLF, then close
        (b"A1 LOGIN bob {8}\r\nred", False),  # mid-literal
    ],
)
def test_eof(data: bytes, clean: bool) -> None:
    seen, _ = run(data, eof=True)
    assert seen[-1] == ("closed", clean)


def test_eof_mid_append_stream() -> None:
    seen, _ = run(b"A1 APPEND INBOX {10}\r\nhalf", state="authenticated", eof=True)
    assert seen == [("literal", "A1", 10, True, True), ("payload", b"half"), ("closed", False)]


# ---------------------------------------------------------------------------
# State machine
# ---------------------------------------------------------------------------


def test_states_follow_the_completions_sent() -> None:
    conn = ImapServerConnection()

    def command(line: bytes) -> ImapCommand:
        conn.receive_data(line)
        ev = conn.next_event()
        assert isinstance(ev, ImapCommand), ev
        return ev

    c = command(b"a LOGIN u wrong\r\n")
    conn.send_tagged(c.tag, "NO", "bad password")
    assert conn.state == "not-authenticated"
    c = command(b"b LOGIN u p\r\n")
    conn.send_tagged(c.tag, "OK", "ok")
    assert conn.state == "authenticated"
    c = command(b"c SELECT INBOX\r\n")
    conn.send_tagged(c.tag, "OK", "ok")
    assert conn.state == "selected"
    c = command(b"d EXAMINE nope\r\n")
    conn.send_tagged(c.tag, "NO", "no such mailbox")
    assert conn.state == "authenticated"  # RFC 3501 6.3.1
    c = command(b"e EXAMINE INBOX\r\n")
    conn.send_tagged(c.tag, "OK", "ok")
    c = command(b"f CLOSE\r\n")
    conn.send_tagged(c.tag, "OK", "ok")
    assert conn.state == "authenticated"
    c = command(b"g LOGOUT\r\n")
    conn.send_bye("bye")
    conn.send_tagged(c.tag, "OK", "ok")
    assert conn.state == "logout"
    conn.receive_data(b"h NOOP\r\n")
    assert conn.next_event() is NEED_DATA


def test_one_command_at_a_time() -> None:
    conn = ImapServerConnection()
    conn.receive_data(b"a NOOP\r\nb NOOP\r\n")
    first = conn.next_event()
    assert isinstance(first, ImapCommand)
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send_tagged("b", "OK", "not the open command")
    conn.send_tagged("a", "OK", "ok")
    second = conn.next_event()
    assert isinstance(second, ImapCommand) and second.tag == "b"


def test_literal_decision_is_required() -> None:
    conn = ImapServerConnection()
    conn.receive_data(b"a LOGIN {3}\r\nbob x\r\n")
    assert isinstance(conn.next_event(), LiteralRequest)
    with pytest.raises(LocalProtocolError):
        conn.next_event()
    assert conn.refuse_literal("NO", "not today") == b"a NO not today\r\n"
    # synchronizing: the client does not send the literal; "bob x" is a new line
    ev = conn.next_event()
    assert isinstance(ev, CommandError) and ev.tag == "bob"


def test_starttls_keeps_plaintext_out() -> None:
    conn = ImapServerConnection()
    conn.receive_data(b"a STARTTLS\r\nb LOGIN evil injected\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.name == "STARTTLS"
    conn.send_tagged("a", "OK", "begin TLS")
    assert conn.tls_pending
    conn.receive_data(b"c MORE\r\n")
    assert conn.next_event() is NEED_DATA
    assert conn.trailing_data == b"b LOGIN evil injected\r\nc MORE\r\n"
    conn.tls_started()
    assert conn.trailing_data == b"" and conn.tls_active
    conn.receive_data(b"d CAPABILITY\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.tag == "d"


def test_starttls_trailing_is_bounded() -> None:
    conn = ImapServerConnection(ImapServerLimits(max_line=64))
    conn.receive_data(b"a STARTTLS\r\n")
    assert isinstance(conn.next_event(), ImapCommand)
    conn.send_tagged("a", "OK", "go")
    conn.receive_data(b"x" * 10_000)
    assert len(conn.trailing_data) == 64


def test_idle_continuation() -> None:
    conn = connection("authenticated")
    conn.receive_data(b"i IDLE\r\nDONE\r\nj NOOP\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.name == "IDLE"
    assert conn.send_continuation("idling") == b"+ idling\r\n"
    ev = conn.next_event()
    assert isinstance(ev, ContinuationLine) and ev.line == b"DONE"
    conn.send_tagged("i", "OK", "IDLE terminated")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.tag == "j"


def test_send_untagged_refuses_line_breaks() -> None:
    conn = ImapServerConnection()
    assert conn.send_untagged("3 EXISTS") == b"* 3 EXISTS\r\n"
    with pytest.raises(LocalProtocolError):
        conn.send_untagged(b"1 FETCH\r\n(x)")


def test_greeting_and_bye() -> None:
    conn = ImapServerConnection()
    assert (
        conn.greeting("ready", ["IMAP4rev1", "IDLE"])
        == b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n"
    )
    assert conn.send_bye("going\r\naway") == b"* BYE going  away\r\n"
    assert conn.state == "logout"


# ---------------------------------------------------------------------------
# Memory bounds
# ---------------------------------------------------------------------------


def test_streamed_append_memory_is_bounded() -> None:
    """200 MB of APPEND literal in 1 MB chunks: every byte comes out as
    Payload, and the framer itself never holds more than a chunk."""
    size = 200 << 20
    conn = connection("authenticated", ImapServerLimits(max_literal=1 << 30))
    conn.receive_data(b"A1 APPEND INBOX {%d+}\r\n" % size)
    assert isinstance(conn.next_event(), LiteralRequest)
    conn.accept_literal()
    block = b"x" * (1 << 20)
    total = 0
    tracemalloc.start()
    started = time.monotonic()
    try:
        for _ in range(size // len(block)):
            conn.receive_data(block)
            while (ev := conn.next_event()) is not NEED_DATA:
                assert isinstance(ev, Payload)
                total += len(ev.raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    conn.receive_data(b"\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.name == "APPEND"
    assert total == size
    assert peak < 4 << 20
    assert time.monotonic() - started < 8


def test_discarded_literal_costs_no_memory() -> None:
    conn = connection("authenticated", ImapServerLimits(max_literal=1 << 30))
    conn.receive_data(b"A1 FROB {%d+}\r\n" % (50 << 20))
    ev = conn.next_event()
    assert isinstance(ev, CommandError)
    block = b"y" * (1 << 20)
    tracemalloc.start()
    try:
        for _ in range(50):
            conn.receive_data(block)
            assert conn.next_event() is NEED_DATA
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    conn.receive_data(b"\r\nA2 NOOP\r\n")
    ev = conn.next_event()
    assert isinstance(ev, ImapCommand) and ev.tag == "A2"


def test_endless_line_memory_is_bounded() -> None:
    conn = ImapServerConnection(ImapServerLimits(max_line=1 << 16))
    tracemalloc.start()
    try:
        errors = 0
        for _ in range(200):
            conn.receive_data(b"z" * (1 << 16))
            while (ev := conn.next_event()) is not NEED_DATA:
                assert isinstance(ev, CommandError)
                errors += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert errors == 1
    assert peak < 2 << 20


# ---------------------------------------------------------------------------
# Fuzz: any bytes are events, never an exception
# ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"\r\n",
                    b"{3}\r\n",
                    b"{2+}\r\n",
                    b'"',
                    b"(",
                    b")",
                    b"A1 ",
                    b"LOGIN ",
                    b"APPEND INBOX ",
                    b"SELECT ",
                    b"FETCH 1:* ",
                    b"BODY[",
                    b"]",
                    b"STARTTLS\r\n",
                    b"IDLE\r\n",
                    b"DONE\r\n",
                    b"SEARCH OR NOT ",
                    b"UID ",
                    b"{99999999999}\r\n",
                ]
            ),
        ),
        max_size=30,
    ),
    state=st.sampled_from(["not-authenticated", "authenticated", "selected"]),
)
def test_any_bytes_become_events(chunks: list[bytes], state: str) -> None:
    conn = connection(state, ImapServerLimits(max_line=256, max_inline_literal=64))
    r = Responder(conn, bytearray(), [])

    def answer(c: ImapServerConnection, ev: ImapCommand) -> bytes:
        if ev.name == "IDLE":
            return c.send_continuation("idling")
        return c.send_tagged(ev.tag, "OK", "ok")

    r.on_command = answer
    for chunk in chunks:
        conn.receive_data(chunk)
        r.drain()
        if conn.tls_pending:
            conn.tls_started()
    conn.receive_data(b"")
    r.drain()
    assert (
        r.seen[-1][0] == "closed"
        or conn.state == "logout"
        or any(s[0] == "error" and s[2] for s in r.seen)
    )


# ---------------------------------------------------------------------------
# Tokens and argument grammars
# ---------------------------------------------------------------------------


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


def test_fetch_item_names_and_seen() -> None:
    assert FetchItem("BODY", "HEADER", peek=True).response_name == "BODY[HEADER]"
    assert FetchItem("BODY", "", partial=(10, 5)).response_name == "BODY[]<10>"
    assert (
        FetchItem("BODY", "HEADER.FIELDS", ("FROM", "TO")).response_name
        == "BODY[HEADER.FIELDS (FROM TO)]"
    )
    assert FetchItem("BODY").sets_seen and not FetchItem("BODY", peek=True).sets_seen
    assert FetchItem("RFC822").sets_seen and FetchItem("RFC822.TEXT").sets_seen
    assert not FetchItem("RFC822.HEADER").sets_seen and not FetchItem("RFC822.SIZE").sets_seen


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


# ---------------------------------------------------------------------------
# Serialising
# ---------------------------------------------------------------------------


def test_strings_quoted_or_literal() -> None:
    assert string(b'say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert string(b"two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert string("caf\u00e9".encode()) == b"{5}\r\ncaf\xc3\xa9"
    assert mailbox_name("INBOX") == b"INBOX"
    assert mailbox_name("My Folder") == b'"My Folder"'


def test_internaldate() -> None:
    assert format_internaldate(837589465) == b'"17-Jul-1996 07:44:25 +0000"'
    assert format_internaldate(946684800) == b'" 1-Jan-2000 00:00:00 +0000"'


@dataclass
class _Span:
    size: int


def test_fetch_response_with_external_literal() -> None:
    span = _Span(1425)
    parts = fetch_response(1, [("UID", b"7"), ("BODY[HEADER]", span), ("FLAGS", b"(\\Seen)")])
    assert parts == [b"* 1 FETCH (UID 7 BODY[HEADER] {1425}\r\n", span, b" FLAGS (\\Seen))\r\n"]
    assert fetch_response(2, [("RFC822.SIZE", b"2545")]) == [b"* 2 FETCH (RFC822.SIZE 2545)\r\n"]


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
