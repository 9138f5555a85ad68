"""The POP3 server state machine without sockets (protoshell/proto/pop3_server.py).

Every conversation is fed whole, one byte at a time, and with the start of a
further command appended (which must change nothing); the server's bytes
are compared exactly.  The server's output is also read back by
protoshell's own POP3 client framer, so the two roles agree.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protoshell.proto.base import NEED_DATA
from protoshell.proto.pop3 import Pop3DataLine, Pop3Framer
from protoshell.proto.pop3_server import (
    MAX_AUTH_FAILURES,
    RULES,
    Close,
    MessageEncoder,
    OpenMaildrop,
    Pop3Message,
    Pop3Server,
    Send,
    SendMessage,
    StartTls,
    Update,
    encode_message,
    unique_id,
    wire_size,
)

SPLITS = ("whole", "bytewise", "trailing")
GREETING = b"+OK protoshell POP3 server ready\r\n"


def _sized(first: bytes, size: int) -> bytes:
    body = first + b"\r\n"
    pad = size - len(body) - 2
    return body + b"x" * pad + b"\r\n"


# The lecture's maildrop: two messages of 120 and 200 octets.
MSG1 = _sized(b"Subject: message 1\r\n", 120)
MSG2 = _sized(b"Subject: message 2\r\n", 200)
LECTURE_DROP = {"k1": MSG1, "k2": MSG2}


@dataclass
class Run:
    wire: bytes
    actions: list[object]
    drop: dict[str, bytes]
    machine: Pop3Server
    closed: Close | None = None
    updates: list[Update] = field(default_factory=list)


def _pieces(data: bytes, split: str) -> Iterator[bytes]:
    if split == "bytewise":
        for i in range(len(data)):
            yield data[i : i + 1]
    elif split == "trailing":
        yield data + b"NOO"  # an unfinished next command: must change nothing
    else:
        yield data


def converse(
    client: bytes,
    split: str = "whole",
    *,
    drop: dict[str, bytes] | None = None,
    eof: bool = False,
    update_failures: int = 0,
    maildrop_error: str | None = None,
    **options: object,
) -> Run:
    """Play ``client`` against a fresh machine, carrying out its actions as
    the driver does, with a fake maildrop (key -> message bytes)."""
    machine = Pop3Server({"bob": "redqueen"}, **options)  # type: ignore[arg-type]
    drop = dict(LECTURE_DROP if drop is None else drop)
    run = Run(b"", [], drop, machine)
    wire = bytearray()

    def pump() -> None:
        for _ in range(100_000):
            action = machine.next_action()
            if action is NEED_DATA:
                return
            run.actions.append(action)
            if isinstance(action, Send):
                wire.extend(action.data)
            elif isinstance(action, OpenMaildrop):
                if maildrop_error is not None:
                    machine.maildrop_failed(maildrop_error)
                else:
                    machine.maildrop_opened([Pop3Message(k, wire_size(v)) for k, v in drop.items()])
            elif isinstance(action, SendMessage):
                if action.key in drop:
                    wire.extend(action.status + encode_message(drop[action.key], action.top))
                else:
                    wire.extend(action.error)
            elif isinstance(action, Update):
                run.updates.append(action)
                for key in action.delete:
                    drop.pop(key, None)
                machine.update_done(update_failures)
            elif isinstance(action, StartTls):
                machine.tls_started()
            elif isinstance(action, Close):
                run.closed = action
        raise AssertionError("the machine never stopped")

    pump()
    for piece in _pieces(client, split):
        machine.receive_data(piece)
        pump()
    if eof:
        machine.receive_data(b"")
        pump()
    run.wire = bytes(wire)
    return run


LOGIN = b"USER bob\r\nPASS redqueen\r\n"
LOGGED_IN = b"+OK bob\r\n+OK bob's maildrop has 2 messages (320 octets)\r\n"

# (name, client bytes, server bytes after the greeting)
CASES: list[tuple[str, bytes, bytes]] = [
    (
        "the lecture's exchange",
        LOGIN + b"STAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n",
        LOGGED_IN
        + b"+OK 2 320\r\n"
        + b"+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n"
        + b"+OK 120 octets\r\n"
        + MSG1
        + b".\r\n"
        + b"+OK message 1 deleted\r\n"
        + b"+OK 200 octets\r\n"
        + MSG2
        + b".\r\n"
        + b"+OK message 2 deleted\r\n"
        + b"+OK protoshell POP3 server signing off (maildrop empty)\r\n",
    ),
    (
        "commands are case-insensitive, a bare LF ends a line too",
        b"user bob\npass redqueen\nstat\r\n",
        LOGGED_IN + b"+OK 2 320\r\n",
    ),
    (
        "wrong password",
        b"USER bob\r\nPASS blue\r\nUSER eve\r\nPASS redqueen\r\n",
        (
            b"+OK bob\r\n-ERR [AUTH] invalid user name or password\r\n"
            b"+OK eve\r\n-ERR [AUTH] invalid user name or password\r\n"
        ),
    ),
    ("PASS without USER", b"PASS redqueen\r\n", b"-ERR send USER first (RFC 1939 7)\r\n"),
    (
        "a password may contain spaces (RFC 1939 7)",
        b"USER bob\r\nPASS red queen\r\n",
        b"+OK bob\r\n-ERR [AUTH] invalid user name or password\r\n",
    ),
    (
        "TRANSACTION commands before login",
        b"STAT\r\nRETR 1\r\nNOOP\r\n",
        (
            b"-ERR STAT is only valid after login (TRANSACTION state), RFC 1939 5\r\n"
            b"-ERR RETR is only valid after login (TRANSACTION state), RFC 1939 5\r\n"
            b"-ERR NOOP is only valid after login (TRANSACTION state), RFC 1939 5\r\n"
        ),
    ),
    (
        "AUTHORIZATION commands after login",
        LOGIN + b"USER bob\r\nSTLS\r\n",
        LOGGED_IN
        + b"-ERR USER is only valid before login (AUTHORIZATION state), RFC 1939 7\r\n"
        + b"-ERR STLS is only valid before login (AUTHORIZATION state), RFC 2595 4\r\n",
    ),
    (
        "unknown, empty and binary commands",
        b"HELO x\r\n\r\n   \r\n\xff\xfe\r\nLIST\x00\r\n",
        (
            b"-ERR unknown command 'HELO'\r\n"
            b"-ERR empty command line\r\n"
            b"-ERR empty command line\r\n"
            b"-ERR not a POP3 command: '??'\r\n"
            b"-ERR not a POP3 command: 'LIST?'\r\n"
        ),
    ),
    (
        "APOP and AUTH are refused with a reason",
        b"APOP bob 0123\r\nAUTH PLAIN\r\n",
        (
            b"-ERR APOP is not offered here: log in with USER and PASS\r\n"
            b"-ERR SASL AUTH is not offered here: log in with USER and PASS\r\n"
        ),
    ),
    (
        "message numbers",
        LOGIN + b"LIST 2\r\nLIST 0\r\nLIST 3\r\nLIST x\r\nLIST -1\r\nLIST 1 2\r\nLIST  1\r\n",
        LOGGED_IN
        + b"+OK 2 200\r\n"
        + b"-ERR no such message: 0 (the maildrop has 2 messages)\r\n"
        + b"-ERR no such message: 3 (the maildrop has 2 messages)\r\n"
        + b"-ERR not a message number: 'x'\r\n"
        + b"-ERR not a message number: '-1'\r\n"
        + b"-ERR LIST: wrong number of arguments (RFC 1939 5: LIST [msg])\r\n"
        + b"-ERR LIST: arguments are separated by one space (RFC 1939 5)\r\n",
    ),
    (
        "missing arguments",
        LOGIN + b"RETR\r\nDELE\r\nTOP 1\r\nSTAT 1\r\n",
        LOGGED_IN
        + b"-ERR RETR: wrong number of arguments (RFC 1939 5: RETR msg)\r\n"
        + b"-ERR DELE: wrong number of arguments (RFC 1939 5: DELE msg)\r\n"
        + b"-ERR TOP: wrong number of arguments (RFC 1939 7: TOP msg n)\r\n"
        + b"-ERR STAT: wrong number of arguments (RFC 1939 5: STAT)\r\n",
    ),
    (
        "DELE marks, RSET unmarks; deleted messages vanish from STAT and LIST",
        LOGIN + b"DELE 1\r\nDELE 1\r\nRETR 1\r\nLIST 1\r\nSTAT\r\nLIST\r\nRSET\r\nSTAT\r\n",
        LOGGED_IN
        + b"+OK message 1 deleted\r\n"
        + b"-ERR message 1 already deleted\r\n"
        + b"-ERR message 1 already deleted\r\n"
        + b"-ERR message 1 already deleted\r\n"
        + b"+OK 1 200\r\n"
        + b"+OK 1 message (200 octets)\r\n2 200\r\n.\r\n"
        + b"+OK maildrop has 2 messages (320 octets)\r\n"
        + b"+OK 2 320\r\n",
    ),
    (
        "TOP: the header, the blank line, n body lines",
        LOGIN + b"TOP 1 0\r\nTOP 1 1\r\nTOP 1 x\r\nTOP 9 0\r\n",
        LOGGED_IN
        + b"+OK top of message 1 follows\r\nSubject: message 1\r\n\r\n.\r\n"
        + b"+OK top of message 1 follows\r\n"
        + MSG1
        + b".\r\n"
        + b"-ERR TOP: the line count must be a number 0 or more, not 'x'\r\n"
        + b"-ERR no such message: 9 (the maildrop has 2 messages)\r\n",
    ),
    (
        "UIDL",
        LOGIN + b"UIDL\r\nUIDL 2\r\nDELE 1\r\nUIDL\r\n",
        LOGGED_IN
        + b"+OK unique-id listing follows\r\n1 k1\r\n2 k2\r\n.\r\n"
        + b"+OK 2 k2\r\n"
        + b"+OK message 1 deleted\r\n"
        + b"+OK unique-id listing follows\r\n2 k2\r\n.\r\n",
    ),
    ("NOOP", LOGIN + b"NOOP\r\n", LOGGED_IN + b"+OK\r\n"),
    (
        "QUIT before login ends the session",
        b"QUIT\r\nSTAT\r\n",
        b"+OK protoshell POP3 server signing off\r\n",
    ),
    (
        "nothing is read after QUIT",
        LOGIN + b"DELE 2\r\nQUIT\r\nDELE 1\r\nQUIT\r\n",
        LOGGED_IN
        + b"+OK message 2 deleted\r\n"
        + b"+OK protoshell POP3 server signing off (1 message left)\r\n",
    ),
    (
        "CAPA before and after login",
        b"CAPA\r\n" + LOGIN + b"CAPA\r\n",
        b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\n"
        b"IMPLEMENTATION protoshell teaching server\r\n.\r\n"
        + LOGGED_IN
        + b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
        b"IMPLEMENTATION protoshell teaching server\r\n.\r\n",
    ),
    (
        "STLS without a certificate",
        b"STLS\r\n",
        b"-ERR STLS is not available: the server has no certificate\r\n",
    ),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("name", "client", "expected"), CASES, ids=[c[0] for c in CASES])
def test_conversation(name: str, client: bytes, expected: bytes, split: str) -> None:
    run = converse(client, split)
    assert run.wire == GREETING + expected


@pytest.mark.parametrize("split", SPLITS)
def test_quit_deletes_in_the_update_state_only(split: str) -> None:
    run = converse(LOGIN + b"DELE 1\r\nQUIT\r\n", split)
    assert run.updates == [Update("bob", ("k1",))]
    assert list(run.drop) == ["k2"]
    assert run.closed == Close("QUIT")


@pytest.mark.parametrize("split", SPLITS)
def test_hanging_up_without_quit_deletes_nothing(split: str) -> None:
    # RFC 1939 6: without QUIT the session never enters the UPDATE state.
    run = converse(LOGIN + b"DELE 1\r\nDELE 2\r\n", split, eof=True)
    assert run.updates == []
    assert list(run.drop) == ["k1", "k2"]
    assert run.closed is not None
    want = "middle of a line" if split == "trailing" else "without QUIT"
    assert want in run.closed.reason


def test_a_line_without_crlf_then_eof_is_not_a_command() -> None:
    run = converse(LOGIN + b"DELE 1\r\nQUIT", eof=True)
    assert run.updates == []
    assert run.closed == Close("client closed the connection in the middle of a line")
    assert run.wire.endswith(b"+OK message 1 deleted\r\n")


def test_failed_deletions_are_reported() -> None:
    run = converse(LOGIN + b"DELE 1\r\nDELE 2\r\nQUIT\r\n", update_failures=1)
    assert run.wire.endswith(b"-ERR [SYS/TEMP] 1 deleted message not removed\r\n")
    assert run.closed == Close("QUIT")


def test_maildrop_in_use() -> None:
    run = converse(LOGIN + b"STAT\r\n", maildrop_error="[IN-USE] maildrop already locked")
    assert run.wire == GREETING + (
        b"+OK bob\r\n-ERR [IN-USE] maildrop already locked\r\n"
        b"-ERR STAT is only valid after login (TRANSACTION state), RFC 1939 5\r\n"
    )
    assert run.machine.state == "authorization"


def test_too_many_failed_logins_close_the_connection() -> None:
    client = b"USER bob\r\nPASS x\r\n" * MAX_AUTH_FAILURES + b"USER bob\r\nPASS redqueen\r\n"
    run = converse(client)
    assert run.wire.count(b"-ERR [AUTH]") == MAX_AUTH_FAILURES
    assert run.wire.endswith(b"too many failures, goodbye\r\n")
    assert run.closed == Close("too many failed logins")
    assert not any(isinstance(a, OpenMaildrop) for a in run.actions)


def test_a_message_that_vanished_gets_err() -> None:
    machine_drop = dict(LECTURE_DROP)
    run = converse(LOGIN, drop=machine_drop)
    del run.drop["k1"]  # another session removed it
    machine = run.machine
    machine.receive_data(b"RETR 1\r\n")
    action = machine.next_action()
    assert isinstance(action, SendMessage)
    assert action.error.startswith(b"-ERR [SYS/TEMP] message 1 cannot be read")


# -- plain-text login and STLS (RFC 2595) --------------------------------------------------


def test_without_plaintext_login_user_needs_tls() -> None:
    run = converse(
        b"CAPA\r\nUSER bob\r\nPASS redqueen\r\n", tls_available=True, plaintext_login=False
    )
    assert b"\r\nUSER\r\n" not in run.wire  # RFC 2449 6.8: not offered
    assert b"\r\nSTLS\r\n" in run.wire
    assert run.wire.count(b"-ERR [AUTH] USER/PASS need TLS on this address") == 2


def _actions_until_need_data(machine: Pop3Server) -> list[object]:
    out: list[object] = []
    while (action := machine.next_action()) is not NEED_DATA:
        out.append(action)
        if isinstance(action, StartTls):
            break
    return out


def test_stls_discards_what_was_pipelined_after_it() -> None:
    machine = Pop3Server({"bob": "redqueen"}, tls_available=True, plaintext_login=False)
    machine.next_action()  # greeting
    # An attacker in the middle appends commands to the client's STLS.
    machine.receive_data(b"STLS\r\nUSER bob\r\nPASS redqueen\r\nDELE 1\r\n")
    assert _actions_until_need_data(machine) == [Send(b"+OK Begin TLS negotiation\r\n"), StartTls()]
    assert machine.waiting
    with pytest.raises(RuntimeError, match="tls"):
        machine.next_action()
    machine.receive_data(b"QUIT\r\n")  # plaintext before the handshake: dropped too
    machine.tls_started()
    assert machine.next_action() is NEED_DATA
    machine.receive_data(b"CAPA\r\nUSER bob\r\n")
    capa = machine.next_action()
    assert isinstance(capa, Send)
    assert b"\r\nSTLS\r\n" not in capa.data  # already TLS
    assert b"\r\nUSER\r\n" in capa.data  # now allowed
    assert machine.next_action() == Send(b"+OK bob\r\n")


def test_stls_twice() -> None:
    run = converse(b"STLS\r\n", tls_available=True)
    assert run.wire == GREETING + b"+OK Begin TLS negotiation\r\n"
    run.machine.receive_data(b"STLS\r\n")
    assert run.machine.next_action() == Send(b"-ERR TLS is already active on this connection\r\n")


# -- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["whole", "chunks"])
def test_an_over_long_line_gets_one_err_and_the_session_goes_on(split: str) -> None:
    machine = Pop3Server({"bob": "redqueen"})
    machine.next_action()
    line = b"USER " + b"a" * (2 << 20) + b"\r\n"
    data = line + b"NOOP\r\nUSER bob\r\n"
    out = bytearray()
    size = len(data) if split == "whole" else 4096
    for i in range(0, len(data), size):
        machine.receive_data(data[i : i + size])
        assert machine.buffered <= machine.max_line + size
        while (action := machine.next_action()) is not NEED_DATA:
            assert isinstance(action, Send)
            out += action.data
    assert out == (
        b"-ERR line too long (more than 1024 octets; RFC 2449 4 allows 255 for a command)\r\n"
        b"-ERR NOOP is only valid after login (TRANSACTION state), RFC 1939 5\r\n"
        b"+OK bob\r\n"
    )


def test_memory_stays_bounded_for_an_endless_line() -> None:
    machine = Pop3Server({"bob": "redqueen"})
    machine.next_action()
    chunk = b"x" * (1 << 20)
    tracemalloc.start()
    try:
        for _ in range(64):  # 64 MiB without a line end
            machine.receive_data(chunk)
            assert machine.next_action() is NEED_DATA
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    machine.receive_data(b"\r\nQUIT\r\n")
    assert machine.next_action() == Send(
        b"-ERR line too long (more than 1024 octets; RFC 2449 4 allows 255 for a command)\r\n"
    )
    assert machine.next_action() == Send(b"+OK protoshell POP3 server signing off\r\n")


def test_idle_timeout() -> None:
    machine = Pop3Server({"bob": "redqueen"})
    machine.next_action()
    assert machine.timeout_reply() == b"-ERR autologout: idle for too long\r\n"
    assert machine.state == "closed"
    machine.receive_data(b"QUIT\r\n")
    assert machine.next_action() is NEED_DATA


def test_pipelined_commands_are_answered_in_order() -> None:
    client = LOGIN + b"NOOP\r\n" * 500 + b"STAT\r\n"
    run = converse(client)
    assert run.wire == GREETING + LOGGED_IN + b"+OK\r\n" * 500 + b"+OK 2 320\r\n"


def test_every_command_of_the_vocabulary_has_a_handler() -> None:
    from protoshell.proto.pop3 import VOCABULARY

    for name in RULES:
        assert hasattr(Pop3Server, f"_cmd_{name}"), name
        assert VOCABULARY.command(name) is not None, name


# -- message encoding ----------------------------------------------------------------------------

ENCODE_CASES = [
    (b"a\r\nb\r\n", None, b"a\r\nb\r\n.\r\n"),
    (b"a\nb\n", None, b"a\r\nb\r\n.\r\n"),  # LF files get CRLF
    (b".hidden\r\n..two\r\n.\r\n", None, b"..hidden\r\n...two\r\n..\r\n.\r\n"),
    (b"no final newline", None, b"no final newline\r\n.\r\n"),
    (b"bare\rcr\r\n", None, b"bare\rcr\r\n.\r\n"),
    (b"ends in cr\r", None, b"ends in cr\r\r\n.\r\n"),
    (b"", None, b".\r\n"),
    (b"H: 1\r\n\r\nb1\r\nb2\r\n", 0, b"H: 1\r\n\r\n.\r\n"),
    (b"H: 1\r\n\r\nb1\r\nb2\r\n", 1, b"H: 1\r\n\r\nb1\r\n.\r\n"),
    (b"H: 1\r\n\r\nb1\r\nb2\r\n", 5, b"H: 1\r\n\r\nb1\r\nb2\r\n.\r\n"),
    (b"H: 1\r\nH: 2\r\n", 0, b"H: 1\r\nH: 2\r\n.\r\n"),  # no body at all
]


@pytest.mark.parametrize(("message", "top", "wire"), ENCODE_CASES)
def test_encode_message(message: bytes, top: int | None, wire: bytes) -> None:
    assert encode_message(message, top) == wire
    encoder = MessageEncoder(top)
    bytewise = b"".join(encoder.feed(message[i : i + 1]) for i in range(len(message)))
    assert bytewise + encoder.finish() == wire


def _client_reads(wire: bytes) -> bytes:
    """What protoshell's POP3 client framer makes of a RETR answer."""
    framer = Pop3Framer()
    framer.receive_data(b"+OK hi\r\n")
    framer.send(b"RETR 1")
    framer.receive_data(b"+OK\r\n" + wire)
    data = b""
    while (event := framer.next_event()) is not NEED_DATA:
        if isinstance(event, Pop3DataLine):
            data += event.data
    return data


def _crlf(message: bytes) -> bytes:
    out = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return out + (b"\r\n" if out and not out.endswith(b"\n") else b"")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=st.binary(max_size=300)
    | st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b".\r\n", b" "])).map(b"".join),
    cuts=st.lists(st.integers(0, 300), max_size=6),
)
def test_encoding_round_trips_through_the_client(message: bytes, cuts: list[int]) -> None:
    """Any message, cut anywhere: the client gets it back with CRLF line
    ends, and wire_size is what it gets."""
    encoder = MessageEncoder()
    pieces = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(message)):
        pieces.append(message[start:cut])
        start = cut
    pieces.append(message[start:])
    wire = b"".join(encoder.feed(p) for p in pieces) + encoder.finish()
    assert wire == encode_message(message)
    got = _client_reads(wire)
    if b"\r" not in message.replace(b"\r\n", b""):  # no bare CR: exact CRLF normalisation
        assert got == _crlf(message)
    assert len(got) == wire_size(message) == wire_size(pieces)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_get_replies_never_an_exception(data: bytes) -> None:
    run = converse(data, eof=True)
    assert run.closed is not None
    for action in run.actions:
        if isinstance(action, Send):
            assert action.data.endswith(b"\r\n")
            assert action.data.startswith((b"+OK", b"-ERR"))


def test_unique_id() -> None:
    assert unique_id("1700000000.M1P2Q3.host") == "1700000000.M1P2Q3.host"
    long = "x" * 71
    assert len(unique_id(long)) == 40 and unique_id(long) == unique_id(long)
    assert unique_id("has space") != "has space"
