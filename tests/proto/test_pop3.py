"""POP3 client framer: bytes in, events out (RFC 1939, 2449, 2595, 5034)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from protoshell.proto.base import (
    NEED_DATA,
    ConnectionClosed,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseEnd,
    ServerLine,
)
from protoshell.proto.pop3 import (
    PIPELINING_NOTE,
    VOCABULARY,
    Pop3Continuation,
    Pop3DataEnd,
    Pop3DataLine,
    Pop3Framer,
    Pop3StatusLine,
    line_status,
)
from tests.proto.feed_mail import (
    SPLITS,
    drain,
    lossless_ops,
    play_lossless,
    run,
    steps_from_transcript,
    summary,
)

# The lecture's POP3 exchange, verbatim.
LECTURE = """
C: <client connects to service port 110>
S: +OK POP3 server ready <1896.6971@mailgate.dobbs.org>
C: USER bob
S: +OK bob
C: PASS redqueen
S: +OK bob's maildrop has 2 messages (320 octets)
C: STAT
S: +OK 2 320
C: LIST
S: +OK 2 messages (320 octets)
S: 1 120
S: 2 200
S: .
C: RETR 1
S: +OK 120 octets
S: <the POP3 server sends the text of message 1>
S: .
C: DELE 1
S: +OK message 1 deleted
C: RETR 2
S: +OK 200 octets
S: <the POP3 server sends the text of message 2>
S: .
C: DELE 2
S: +OK message 2 deleted
C: QUIT
S: +OK dewey POP3 server signing off (maildrop empty)
C: <client hangs up>
"""

# What the narration stands for: messages on the wire, byte-stuffed.
MESSAGE_1_WIRE = b"Subject: one\r\n\r\n..a line that starts with a dot\r\n...\r\nbye\r\n"
MESSAGE_1 = b"Subject: one\r\n\r\n.a line that starts with a dot\r\n..\r\nbye\r\n"
MESSAGE_2_WIRE = b"Subject: two\r\n\r\nhello\r\n"
NARRATION = {
    "<the POP3 server sends the text of message 1>": MESSAGE_1_WIRE,
    "<the POP3 server sends the text of message 2>": MESSAGE_2_WIRE,
}

TRAILING = b"+OK the start of a response that has not arrived yet"


def S(raw: bytes) -> tuple[object, ...]:
    return ("Pop3StatusLine", "+OK" if raw.upper().startswith(b"+OK") else "-ERR", raw)


def D(raw: bytes) -> tuple[object, ...]:
    return ("Pop3DataLine", None, raw)


DOT = ("Pop3DataEnd", ".", b".\r\n")
OK = ("end", "+OK", "ok")
ERR = ("end", "-ERR", "error")

LECTURE_EVENTS = [
    S(b"+OK POP3 server ready <1896.6971@mailgate.dobbs.org>\r\n"),
    OK,
    S(b"+OK bob\r\n"),
    OK,
    S(b"+OK bob's maildrop has 2 messages (320 octets)\r\n"),
    OK,
    S(b"+OK 2 320\r\n"),
    OK,
    S(b"+OK 2 messages (320 octets)\r\n"),
    D(b"1 120\r\n"),
    D(b"2 200\r\n"),
    DOT,
    OK,
    S(b"+OK 120 octets\r\n"),
    *[D(line) for line in MESSAGE_1_WIRE.splitlines(keepends=True)],
    DOT,
    OK,
    S(b"+OK message 1 deleted\r\n"),
    OK,
    S(b"+OK 200 octets\r\n"),
    *[D(line) for line in MESSAGE_2_WIRE.splitlines(keepends=True)],
    DOT,
    OK,
    S(b"+OK message 2 deleted\r\n"),
    OK,
    S(b"+OK dewey POP3 server signing off (maildrop empty)\r\n"),
    OK,
]


def greeted() -> Pop3Framer:
    framer = Pop3Framer()
    framer.receive_data(b"+OK ready\r\n")
    assert [summary(e) for e in drain(framer)][-1] == OK
    return framer


def feed(framer: Pop3Framer, data: bytes) -> list[tuple[object, ...]]:
    framer.receive_data(data)
    return [summary(e) for e in drain(framer)]


# ---------------------------------------------------------------------------
# The lecture
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_lecture_exchange(split: str) -> None:
    steps = steps_from_transcript(LECTURE, NARRATION)
    if split == "trailing":
        steps = [s for s in steps if s[0] != "EOF"]
    framer = Pop3Framer()
    sent, events = run(framer, steps, split, trailing=TRAILING)
    assert sent == b"".join(d + b"\r\n" for k, d in steps if k == "C")
    expected = LECTURE_EVENTS + ([] if split == "trailing" else [("closed", True)])
    assert [summary(e) for e in events] == expected
    # RETR 1's data, unstuffed and joined, is the message itself.
    retr1 = events[events.index(next(e for e in events if e.raw == b"+OK 120 octets\r\n")) :]
    data = b""
    for event in retr1[1:]:
        if isinstance(event, Pop3DataEnd):
            break
        assert isinstance(event, Pop3DataLine)
        data += event.data
    assert data == MESSAGE_1
    assert framer.message_numbers == ()  # both deleted


def test_lecture_pipelined_frames_like_interleaved() -> None:
    steps = steps_from_transcript(LECTURE, NARRATION)
    framer = Pop3Framer()
    for kind, data in steps:
        if kind == "C":
            framer.send(data)
    assert framer.pending == 10  # greeting + 9 commands
    framer.receive_data(b"".join(d for k, d in steps if k == "S"))
    assert [summary(e) for e in drain(framer)] == LECTURE_EVENTS
    assert framer.pending == 0


def test_states_and_learned_facts_follow_the_lecture() -> None:
    framer = Pop3Framer()
    assert (framer.state, framer.pending) == ("authorization", 1)
    feed(framer, b"+OK POP3 server ready <1896.6971@mailgate.dobbs.org>\r\n")
    assert framer.greeting_timestamp == b"<1896.6971@mailgate.dobbs.org>"
    framer.send(b"USER bob")
    feed(framer, b"+OK bob\r\n")
    assert framer.state == "authorization"
    framer.send(b"PASS redqueen")
    feed(framer, b"+OK bob's maildrop has 2 messages (320 octets)\r\n")
    assert framer.state == "transaction"
    framer.send(b"LIST")
    feed(framer, b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n")
    assert list(framer.message_numbers) == [1, 2]
    framer.send(b"DELE 1")
    feed(framer, b"+OK message 1 deleted\r\n")
    assert list(framer.message_numbers) == [2]
    framer.send(b"QUIT")
    feed(framer, b"+OK dewey POP3 server signing off\r\n")
    assert (framer.state, framer.pending) == ("update", 0)
    assert feed(framer, b"") == [("closed", True)]
    assert framer.state == "closed"


def test_wrong_password_stays_in_authorization() -> None:
    framer = greeted()
    framer.send(b"USER bob")
    framer.send(b"PASS wrong")
    feed(framer, b"+OK bob\r\n-ERR [AUTH] invalid password\r\n")
    assert framer.state == "authorization"
    framer.send(b"QUIT")
    feed(framer, b"+OK bye\r\n")
    assert framer.state == "closed"  # RFC 1939 4: no UPDATE state from here


# ---------------------------------------------------------------------------
# Which responses are multi-line: command *and* argument
# ---------------------------------------------------------------------------

CASES = [
    # (command, server bytes, expected events)
    ("LIST", b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n",
     [S(b"+OK 2 messages\r\n"), D(b"1 120\r\n"), D(b"2 200\r\n"), DOT, OK]),
    ("LIST 1", b"+OK 1 120\r\n", [S(b"+OK 1 120\r\n"), OK]),
    ("LIST", b"+OK 0 messages\r\n.\r\n", [S(b"+OK 0 messages\r\n"), DOT, OK]),
    ("LIST 9", b"-ERR no such message\r\n", [S(b"-ERR no such message\r\n"), ERR]),
    ("UIDL", b"+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n.\r\n",
     [S(b"+OK\r\n"), D(b"1 whqtswO00WBw418f9t5JxYwZ\r\n"), DOT, OK]),
    ("UIDL 1", b"+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n",
     [S(b"+OK 1 whqtswO00WBw418f9t5JxYwZ\r\n"), OK]),
    ("RETR 1", b"+OK 12 octets\r\n..dot\r\n..\r\n\r\n.\r\n",
     [S(b"+OK 12 octets\r\n"), D(b"..dot\r\n"), D(b"..\r\n"), D(b"\r\n"), DOT, OK]),
    # -ERR to a multi-line command has no body (RFC 1939 3).
    ("RETR 7", b"-ERR no such message\r\n", [S(b"-ERR no such message\r\n"), ERR]),
    ("TOP 1 0", b"+OK\r\nSubject: hi\r\n\r\n.\r\n",
     [S(b"+OK\r\n"), D(b"Subject: hi\r\n"), D(b"\r\n"), DOT, OK]),
    ("CAPA", b"+OK Capability list follows\r\nTOP\r\nUIDL\r\n.\r\n",
     [S(b"+OK Capability list follows\r\n"), D(b"TOP\r\n"), D(b"UIDL\r\n"), DOT, OK]),
    ("STAT", b"+OK 2 320\r\n", [S(b"+OK 2 320\r\n"), OK]),
    ("NOOP", b"+OK\r\n", [S(b"+OK\r\n"), OK]),
    ("retr 1", b"+OK\r\nx\r\n.\r\n", [S(b"+OK\r\n"), D(b"x\r\n"), DOT, OK]),  # any case
    ("AUTH", b"+OK\r\nPLAIN\r\n.\r\n", [S(b"+OK\r\n"), D(b"PLAIN\r\n"), DOT, OK]),
    ("XTND", b"+OK\r\n", [S(b"+OK\r\n"), OK]),  # unknown: single line
    # Sloppy servers: bare LF, lower-case status, LF-only terminator.
    ("RETR 1", b"+ok\nx\n.\n", [("Pop3StatusLine", "+OK", b"+ok\n"), D(b"x\n"),
                                 ("Pop3DataEnd", ".", b".\n"), OK]),
]  # fmt: skip


@pytest.mark.parametrize(("command", "data", "expected"), CASES)
@pytest.mark.parametrize("split", SPLITS)
def test_responses(command: str, data: bytes, expected: list[object], split: str) -> None:
    framer = greeted()
    _, events = run(framer, [("C", command.encode()), ("S", data)], split, trailing=TRAILING)
    assert [summary(e) for e in events] == expected
    assert framer.pending == 0


def test_dot_unstuffing() -> None:
    framer = greeted()
    framer.send(b"RETR 1")
    framer.receive_data(b"+OK\r\n..dot\r\n..\r\n.x\r\nplain\r\n.\r\n")
    lines = [e for e in drain(framer) if isinstance(e, Pop3DataLine)]
    assert [(e.raw, e.data) for e in lines] == [
        (b"..dot\r\n", b".dot\r\n"),
        (b"..\r\n", b".\r\n"),  # a stuffed lone dot is data, not the end
        (b".x\r\n", b"x\r\n"),
        (b"plain\r\n", b"plain\r\n"),
    ]
    assert all(e.status is None and e.outcome == "data" for e in lines)


@pytest.mark.parametrize(
    "pieces",
    [
        [b"+OK\r\nline\r\n.", b"\r\n"],
        [b"+OK\r\nline\r\n", b".", b"\r", b"\n"],
        [b"+OK\r\nline\r", b"\n.\r", b"\n"],
    ],
)
def test_terminator_split_across_reads(pieces: list[bytes]) -> None:
    framer = greeted()
    framer.send(b"RETR 1")
    events = []
    for piece in pieces[:-1]:
        events += feed(framer, piece)
    assert DOT not in events and framer.pending == 1
    events += feed(framer, pieces[-1])
    assert events[-2:] == [DOT, OK]


def test_eof_before_the_terminator() -> None:
    framer = greeted()
    framer.send(b"RETR 1")
    feed(framer, b"+OK\r\nSubject: cut\r\n")
    framer.receive_data(b"")
    closed = drain(framer)[-1]
    assert isinstance(closed, ConnectionClosed)
    assert not closed.clean
    assert "'.' line" in closed.reason and "RETR 1" in closed.reason


@pytest.mark.parametrize(
    ("sends", "data", "clean", "reason"),
    [
        ([], b"", False, "1 response outstanding"),
        ([], b"+OK hi\r\n", True, "closed"),
        ([b"STAT", b"NOOP"], b"+OK hi\r\n", False, "2 responses outstanding"),
        ([b"STAT"], b"+OK hi\r\n+OK 2", False, "middle of a line"),
        ([b"QUIT", b"NOOP"], b"+OK hi\r\n+OK bye\r\n", True, "after QUIT"),
    ],
)
def test_eof(sends: list[bytes], data: bytes, clean: bool, reason: str) -> None:
    framer = Pop3Framer()
    for line in sends:
        framer.send(line)
    framer.receive_data(data)
    framer.receive_data(b"")
    closed = drain(framer)[-1]
    assert isinstance(closed, ConnectionClosed)
    assert (closed.clean, framer.state) == (clean, "closed")
    assert reason in closed.reason
    with pytest.raises(LocalProtocolError):
        framer.send(b"NOOP")


# ---------------------------------------------------------------------------
# CAPA, pipelining
# ---------------------------------------------------------------------------

CAPA_RESPONSE = (
    b"+OK Capability list follows\r\n"
    b"TOP\r\n"
    b"USER\r\n"
    b"SASL PLAIN LOGIN\r\n"
    b"RESP-CODES\r\n"
    b"PIPELINING\r\n"
    b"UIDL\r\n"
    b"STLS\r\n"
    b"IMPLEMENTATION Dovecot\r\n"
    b".\r\n"
)


def test_capa_teaches_capabilities() -> None:
    framer = greeted()
    assert not framer.supports_pipelining
    framer.send(b"CAPA")
    feed(framer, CAPA_RESPONSE)
    assert framer.capabilities["IMPLEMENTATION"] == "Dovecot"
    assert set(framer.capabilities) >= {"TOP", "USER", "SASL", "PIPELINING", "UIDL", "STLS"}
    assert framer.supports_pipelining
    assert framer.auth_mechanisms == ("PLAIN", "LOGIN")
    assert "PIPELINING" in PIPELINING_NOTE and "RFC 2449" in PIPELINING_NOTE


@pytest.mark.parametrize("split", SPLITS)
def test_pipelined_commands_frame_in_order(split: str) -> None:
    framer = greeted()
    steps = [
        ("C", b"CAPA"),
        ("C", b"LIST 1"),
        ("C", b"RETR 1"),
        ("C", b"UIDL"),
        ("C", b"LIST"),
        ("S", CAPA_RESPONSE + b"+OK 1 3\r\n+OK\r\nabc\r\n.\r\n-ERR no UIDL today\r\n"
         b"+OK\r\n1 3\r\n.\r\n"),
    ]  # fmt: skip
    _, events = run(framer, steps, split, trailing=TRAILING)
    ends = [summary(e) for e in events if isinstance(e, ResponseEnd)]
    assert ends == [OK, OK, OK, ERR, OK]
    assert [e.raw for e in events if isinstance(e, Pop3DataEnd)] == [b".\r\n"] * 3
    assert framer.pending == 0
    assert framer.message_numbers == (1,)


def test_send_raw_counts_every_crlf_line() -> None:
    framer = greeted()
    assert framer.send_raw(b"LIST\r\nSTAT\r\n") == b"LIST\r\nSTAT\r\n"
    assert framer.pending == 2
    events = feed(framer, b"+OK\r\n1 3\r\n.\r\n+OK 1 3\r\n")
    assert events[-4:] == [DOT, OK, S(b"+OK 1 3\r\n"), OK]


@pytest.mark.parametrize(("line", "wire"), [(b"STAT", b"STAT\r\n"), (b"STAT\r\n", b"STAT\r\n")])
def test_send_adds_exactly_one_crlf(line: bytes, wire: bytes) -> None:
    assert greeted().send(line) == wire


def test_send_refuses_embedded_line_breaks() -> None:
    framer = greeted()
    with pytest.raises(LocalProtocolError):
        framer.send(b"STAT\r\nQUIT")
    assert framer.pending == 0


# ---------------------------------------------------------------------------
# AUTH (RFC 5034) and STLS (RFC 2595)
# ---------------------------------------------------------------------------


def test_sasl_continuation() -> None:
    framer = greeted()
    framer.send(b"AUTH LOGIN")
    events = [summary(e) for e in drain(framer)] + feed(framer, b"+ VXNlcm5hbWU6\r\n")
    assert events == [
        ("Pop3Continuation", "+", b"+ VXNlcm5hbWU6\r\n"),
        ("end", "+", "continue"),
    ]
    # "CAPA" is valid base64: here it is the SASL response, not a multi-line CAPA.
    framer.send(b"CAPA")
    assert feed(framer, b"+ UGFzc3dvcmQ6\r\n")[-1] == ("end", "+", "continue")
    framer.send(b"c2VjcmV0")
    assert feed(framer, b"+OK logged in\r\n") == [S(b"+OK logged in\r\n"), OK]
    assert (framer.state, framer.pending) == ("transaction", 0)


def test_sasl_challenge_field() -> None:
    framer = greeted()
    framer.send(b"AUTH PLAIN")
    framer.receive_data(b"+ \r\n")
    event = framer.next_event()
    assert isinstance(event, Pop3Continuation)
    assert (event.challenge, event.status, event.outcome) == (b"", "+", "continue")


def test_line_pipelined_behind_a_refused_auth_is_a_command() -> None:
    framer = greeted()
    framer.send(b"AUTH LOGIN")
    framer.send(b"CAPA")  # meant as base64, but the AUTH is refused...
    feed(framer, b"-ERR mechanism not supported\r\n")
    # ...so the server reads a real CAPA, whose response is multi-line.
    assert feed(framer, b"+OK\r\nTOP\r\n.\r\n")[-2:] == [DOT, OK]
    assert framer.capabilities == {"TOP": ""}


def test_continuation_without_auth_is_an_error() -> None:
    framer = greeted()
    framer.send(b"STAT")
    framer.receive_data(b"+ what\r\n")
    with pytest.raises(RemoteProtocolError, match="no AUTH"):
        framer.next_event()


INJECTED = b"+OK injected before the handshake\r\n"


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_stls_keeps_injected_bytes_out_of_the_parser(split: str) -> None:
    framer = greeted()
    framer.send(b"CAPA")
    feed(framer, CAPA_RESPONSE)
    steps = [("C", b"STLS"), ("S", b"+OK Begin TLS negotiation\r\n" + INJECTED)]
    _, events = run(framer, steps, split)
    assert [summary(e) for e in events] == [
        S(b"+OK Begin TLS negotiation\r\n"),
        ("end", "+OK", "ok", "starttls"),
    ]
    assert framer.trailing_data == INJECTED
    assert framer.state == "tls-pending"
    assert framer.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError, match="TLS handshake"):
        framer.send(b"USER bob")
    framer.tls_started()
    assert framer.trailing_data == b""
    assert framer.capabilities == {}  # RFC 2595 4: forget pre-TLS capabilities
    assert (framer.state, framer.pending) == ("authorization", 0)
    framer.send(b"STAT")
    assert feed(framer, b"-ERR log in first\r\n")[-1] == ERR


def test_stls_refused() -> None:
    framer = greeted()
    framer.send(b"STLS")
    assert feed(framer, b"-ERR TLS unavailable\r\n+OK\r\n")[1] == ERR
    with pytest.raises(LocalProtocolError):
        framer.tls_started()


# ---------------------------------------------------------------------------
# Bad input and memory bounds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("line", [b"hello\r\n", b"OK\r\n", b"+OKAY\r\n", b"\r\n", b"-ER\r\n"])
def test_lines_that_are_not_status_lines(line: bytes) -> None:
    framer = Pop3Framer()
    framer.receive_data(line)
    with pytest.raises(RemoteProtocolError, match="expected a POP3 status line") as info:
        framer.next_event()
    assert repr(line)[:-1] in str(info.value)
    with pytest.raises(RemoteProtocolError):
        framer.next_event()


def _big_message(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    line = b"." + b"m" * 1000 + b"\r\n"  # stuffed lines, to exercise unstuffing
    block = line * (chunk // len(line))
    for _ in range(total // len(block)):
        yield block


def test_a_huge_message_streams_in_bounded_memory() -> None:
    framer = greeted()
    framer.send(b"RETR 1")
    framer.receive_data(b"+OK 50 MB\r\n")
    drain(framer)
    lines = 0
    tracemalloc.start()
    try:
        for piece in _big_message(50 << 20):
            framer.receive_data(piece)
            while (ev := framer.next_event()) is not NEED_DATA:
                assert isinstance(ev, Pop3DataLine)
                lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines > 45_000
    assert peak < 8 << 20, f"peak {peak} bytes while streaming a 50 MB RETR"
    assert feed(framer, b".\r\n") == [DOT, OK]


def test_endless_line_over_the_limit_is_an_error() -> None:
    framer = greeted()
    framer.send(b"RETR 1")
    framer.receive_data(b"+OK\r\n")
    drain(framer)
    with pytest.raises(RemoteProtocolError, match="longer than 1048576 bytes"):
        for _ in range(64):
            framer.receive_data(b"x" * (64 << 10))
            assert framer.next_event() is NEED_DATA


def test_endless_listing_keeps_learned_numbers_bounded() -> None:
    framer = greeted()
    framer.send(b"LIST")
    framer.receive_data(b"+OK\r\n" + b"".join(b"%d 100\r\n" % i for i in range(1, 20_001)))
    framer.receive_data(b".\r\n")
    drain(framer)
    assert len(framer.message_numbers) == 10_000


# ---------------------------------------------------------------------------
# line_status and the vocabulary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("+OK POP3 server ready", "+OK"),
        ("+OK", "+OK"),
        ("-ERR no such message", "-ERR"),
        ("+ VXNlcm5hbWU6", "+"),
        ("+", "+"),
        (".", "."),
        ("1 120", None),
        ("..", None),
        ("+OKAY", None),
    ],
)
def test_line_status(text: str, status: str | None) -> None:
    assert line_status(text) == status


def test_line_status_agrees_with_the_framer() -> None:
    steps = steps_from_transcript(LECTURE, NARRATION)
    framer = Pop3Framer()
    _, events = run(framer, steps, "whole")
    lines = [e for e in events if isinstance(e, ServerLine)]
    for event in lines:
        if isinstance(event, (Pop3StatusLine, Pop3DataEnd)):
            assert line_status(event.text) == event.status


def test_vocabulary() -> None:
    names = "USER PASS APOP STAT LIST RETR DELE NOOP RSET QUIT TOP UIDL CAPA STLS AUTH"
    for name in names.split():
        command = VOCABULARY.command(name)
        assert command is not None and command.rfc.startswith("RFC ") and command.meaning
    assert {n for n, c in VOCABULARY.commands.items() if c.multiline == "yes"} == {
        "RETR",
        "TOP",
        "CAPA",
    }
    assert VOCABULARY.commands["LIST"].multiline == "no-arg"
    assert VOCABULARY.commands["UIDL"].multiline == "no-arg"
    assert VOCABULARY.commands["RETR"].args == ("message",)
    assert VOCABULARY.commands["QUIT"].phase == "goodbye"
    for code, outcome in [("+OK", "ok"), ("-ERR", "error"), ("+", "continue")]:
        reply = VOCABULARY.reply(code)
        assert reply is not None and reply.outcome == outcome


# ---------------------------------------------------------------------------
# Fuzz: any bytes either parse or raise RemoteProtocolError, losing nothing
# ---------------------------------------------------------------------------

_PIECES = [
    b"+OK\r\n",
    b"-ERR no\r\n",
    b"+ abc\r\n",
    b".\r\n",
    b"..x\r\n",
    b"1 120\r\n",
    b"\n",
    b"+O",
    b"K ",
]
_SENDS = [b"LIST", b"LIST 1", b"RETR 1", b"CAPA", b"STLS", b"AUTH LOGIN", b"QUIT", b"eA=="]

_ops = lossless_ops(_PIECES, _SENDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_fuzz_parse_or_remote_error(ops: list[tuple[str, bytes]]) -> None:
    play_lossless(Pop3Framer(Limits(max_line=64)), ops)


def test_retr_and_top_bodies_are_messages_listings_are_not() -> None:
    """Command.message (RFC 1939 5, 7): what --save-body saves is told by the
    framer, on every line and on the end line (an empty message too)."""
    f = Pop3Framer()
    f.receive_data(b"+OK ready\r\n")
    drain(f)
    for command, body, message in (
        (b"RETR 1", b"..a\r\nb\r\n", True),
        (b"TOP 1 0", b"", True),
        (b"LIST", b"1 120\r\n", False),
        (b"CAPA", b"TOP\r\n", False),
        (b"UIDL", b"1 x\r\n", False),
    ):
        f.send(command)
        f.receive_data(b"+OK\r\n" + body + b".\r\n")
        events = drain(f)
        lines = [e for e in events if isinstance(e, Pop3DataLine)]
        ends = [e for e in events if isinstance(e, Pop3DataEnd)]
        assert b"".join(e.data for e in lines) == body.replace(b"..", b".")
        assert [e.message for e in lines] == [message] * body.count(b"\r\n"), command
        assert [e.message for e in ends] == [message], command
