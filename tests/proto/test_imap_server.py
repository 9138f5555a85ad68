"""Tests for protoshell/proto/imap_server.py: IMAP in the server role, sans-IO.

Every scripted case runs three ways (h11's habit): client bytes fed whole,
one byte at a time (events drained after each byte), and whole followed by
the start of a further command (which must change nothing).  A small
responder answers events the way a server would (accept literals, OK every
command), so a case is: bytes in -> what the server saw and said (the
helpers are in feed_imap_server.py).  The grammars of the arguments are
tested in test_imap_grammar.py, the tokens in test_imap_syntax.py.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoshell.proto.base import NEED_DATA, LocalProtocolError, Payload
from protoshell.proto.imap_args import AppendArgs, FetchArgs, FetchItem, LoginArgs, MailboxArgs
from protoshell.proto.imap_server import (
    CommandError,
    ContinuationLine,
    ImapCommand,
    ImapServerConnection,
    ImapServerLimits,
    LiteralRequest,
)
from protoshell.proto.imap_syntax import SequenceSet
from tests.proto.feed_imap_server import MODES, Responder, cmd, connection, run

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
