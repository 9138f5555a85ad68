"""SMTP client framer: bytes in, events out (RFC 5321, 3207, 2920, 4954)."""

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
)
from protoshell.proto.smtp import (
    MAX_EHLO_KEYWORDS,
    VOCABULARY,
    SmtpFramer,
    SmtpReplyLine,
    line_status,
    outcome_of,
)
from tests.proto.feed_mail import (
    SPLITS,
    drain,
    lossless_ops,
    play_lossless,
    run,
    server_lines,
    steps_from_transcript,
    summary,
)

# The lecture's SMTP exchange, verbatim (identify, ask/answer, goodbye).
LECTURE = """
S: 220 foo.com Simple Mail Transfer Service Ready
C: EHLO bar.com
S: 250-foo.com greets bar.com
S: 250-8BITMIME
S: 250-SIZE
S: 250-DSN
S: 250 HELP
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Jones@foo.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: DATA
S: 354 Start mail input; end with <CRLF>.<CRLF>
C: Blah blah blah...
C: ...etc. etc. etc.
C: .
S: 250 OK
C: QUIT
S: 221 foo.com Service closing transmission channel
"""

# The lecture's smtplib debug output (the EHLO reply of smtp.webfaction.com),
# with the lines hidden behind "..." filled in.
WEBFACTION_EHLO = (
    b"250-smtp.webfaction.com\r\n"
    b"250-PIPELINING\r\n"
    b"250-SIZE 20971520\r\n"
    b"250-VRFY\r\n"
    b"250-ETRN\r\n"
    b"250-STARTTLS\r\n"
    b"250-AUTH PLAIN LOGIN\r\n"
    b"250-AUTH=PLAIN LOGIN CRAM-MD5\r\n"
    b"250-ENHANCEDSTATUSCODES\r\n"
    b"250-8BITMIME\r\n"
    b"250 DSN\r\n"
)

TRAILING = b"250-the start of a reply that has not arrived yet"


def greeted() -> SmtpFramer:
    framer = SmtpFramer()
    framer.receive_data(b"220 mx ready\r\n")
    assert [summary(e) for e in drain(framer)][-1] == ("end", "220", "ok")
    return framer


def feed(framer: SmtpFramer, data: bytes) -> list[tuple[object, ...]]:
    framer.receive_data(data)
    return [summary(e) for e in drain(framer)]


def L(status: str, raw: bytes) -> tuple[object, ...]:
    return ("SmtpReplyLine", status, raw)


# ---------------------------------------------------------------------------
# The lecture, whole / byte by byte / with trailing data
# ---------------------------------------------------------------------------

# Every C: line goes out with one CRLF; "...etc. etc. etc." is a message line
# starting with a dot, so it is stuffed (RFC 5321 4.5.2) -- the lecture shows it.
LECTURE_WIRE = (
    b"EHLO bar.com\r\n"
    b"MAIL FROM:<Smith@bar.com>\r\n"
    b"RCPT TO:<Jones@foo.com>\r\n"
    b"RCPT TO:<Green@foo.com>\r\n"
    b"DATA\r\n"
    b"Blah blah blah...\r\n"
    b"....etc. etc. etc.\r\n"
    b".\r\n"
    b"QUIT\r\n"
)

LECTURE_EVENTS = [
    L("220", b"220 foo.com Simple Mail Transfer Service Ready\r\n"),
    ("end", "220", "ok"),
    L("250-", b"250-foo.com greets bar.com\r\n"),
    L("250-", b"250-8BITMIME\r\n"),
    L("250-", b"250-SIZE\r\n"),
    L("250-", b"250-DSN\r\n"),
    L("250", b"250 HELP\r\n"),
    ("end", "250", "ok"),
    L("250", b"250 OK\r\n"),
    ("end", "250", "ok"),
    L("250", b"250 OK\r\n"),
    ("end", "250", "ok"),
    L("550", b"550 No such user here\r\n"),
    ("end", "550", "error"),
    L("354", b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"),
    ("end", "354", "continue"),
    L("250", b"250 OK\r\n"),
    ("end", "250", "ok"),
    L("221", b"221 foo.com Service closing transmission channel\r\n"),
    ("end", "221", "ok"),
]


@pytest.mark.parametrize("split", SPLITS)
def test_lecture_exchange(split: str) -> None:
    steps = steps_from_transcript(LECTURE)
    framer = SmtpFramer()
    sent, events = run(framer, steps, split, trailing=TRAILING)
    assert sent == LECTURE_WIRE
    assert [summary(e) for e in events] == LECTURE_EVENTS
    assert framer.ehlo_keywords == {"8BITMIME": "", "SIZE": "", "DSN": "", "HELP": ""}
    assert framer.pending == 0
    assert framer.state == "closed"
    if split != "trailing":
        framer.receive_data(b"")
        assert [summary(e) for e in drain(framer)] == [("closed", True)]


def test_lecture_pipelined_frames_like_interleaved() -> None:
    """Sending every C: line before any reply arrives (RFC 2920) gives the
    same wire bytes and events as waiting for each reply."""
    steps = steps_from_transcript(LECTURE)
    framer = SmtpFramer()
    sent = b"".join(framer.send(d) for k, d in steps if k == "C")
    assert framer.pending == 8  # greeting, EHLO, MAIL, 2 RCPT, DATA, the ".", QUIT
    framer.receive_data(b"".join(d for k, d in steps if k == "S"))
    events = [summary(e) for e in drain(framer)]
    assert sent == LECTURE_WIRE
    assert events == LECTURE_EVENTS
    assert framer.pending == 0


def test_state_follows_the_lecture() -> None:
    framer = SmtpFramer()
    assert (framer.state, framer.pending) == ("greeting", 1)
    feed(framer, b"220 foo.com ready\r\n")
    assert (framer.state, framer.pending) == ("command", 0)
    framer.send(b"DATA")
    assert framer.pending == 1 and not framer.in_data
    feed(framer, b"354 go\r\n")
    assert (framer.state, framer.in_data, framer.pending) == ("data", True, 0)
    assert framer.send(b"Blah blah blah...") == b"Blah blah blah...\r\n"
    assert framer.pending == 0  # message lines get no reply
    framer.send(b".")
    assert (framer.state, framer.in_data, framer.pending) == ("command", False, 1)
    assert feed(framer, b"250 OK\r\n")[-1] == ("end", "250", "ok")
    framer.send(b"QUIT")
    feed(framer, b"221 bye\r\n")
    assert framer.state == "closed"


@pytest.mark.parametrize("line", server_lines(steps_from_transcript(LECTURE)))
def test_line_status_agrees_with_the_framer(line: bytes) -> None:
    framer = SmtpFramer()
    framer.receive_data(line)
    event = framer.next_event()
    assert isinstance(event, SmtpReplyLine)
    assert line_status(event.text) == event.status


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("250-foo.com greets bar.com", "250-"),
        ("250 OK", "250"),
        ("250", "250"),
        ("250-", "250-"),
        ("354 Start mail input", "354"),
        ("hello", None),
        ("199 not smtp", None),
        ("2500 x", None),
        ("", None),
    ],
)
def test_line_status(text: str, status: str | None) -> None:
    assert line_status(text) == status


# ---------------------------------------------------------------------------
# Replies: EHLO keywords, odd but valid lines, invalid lines
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_ehlo_keywords_and_auth_mechanisms(split: str) -> None:
    framer = SmtpFramer()
    steps = [("S", b"220 smtp.webfaction.com ESMTP\r\n"), ("C", b"EHLO heffalump.local")]
    _, events = run(framer, [*steps, ("S", WEBFACTION_EHLO)], split, trailing=TRAILING)
    assert summary(events[-1]) == ("end", "250", "ok")
    assert framer.ehlo_keywords == {
        "PIPELINING": "",
        "SIZE": "20971520",
        "VRFY": "",
        "ETRN": "",
        "STARTTLS": "",
        "AUTH": "PLAIN LOGIN CRAM-MD5",  # the old "AUTH=" line merged in
        "ENHANCEDSTATUSCODES": "",
        "8BITMIME": "",
        "DSN": "",
    }
    assert framer.auth_mechanisms == ("PLAIN", "LOGIN", "CRAM-MD5")


def test_failed_ehlo_and_helo_forget_keywords() -> None:
    framer = greeted()
    framer.send(b"EHLO a")
    feed(framer, b"250-mx\r\n250 PIPELINING\r\n")
    assert framer.ehlo_keywords == {"PIPELINING": ""}
    framer.send(b"HELO a")
    feed(framer, b"250 mx\r\n")
    assert framer.ehlo_keywords == {}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"250\r\n", [L("250", b"250\r\n"), ("end", "250", "ok")]),
        (
            b"250-\r\n250 \r\n",
            [L("250-", b"250-\r\n"), L("250", b"250 \r\n"), ("end", "250", "ok")],
        ),
        # Bare LF is tolerated; raw keeps exactly what came.
        (
            b"250-a\n250 b\r\n",
            [L("250-", b"250-a\n"), L("250", b"250 b\r\n"), ("end", "250", "ok")],
        ),
        (b"452 full\r\n", [L("452", b"452 full\r\n"), ("end", "452", "temporary")]),
        (
            b"250 caf\xc3\xa9 \xff\r\n",
            [L("250", b"250 caf\xc3\xa9 \xff\r\n"), ("end", "250", "ok")],
        ),
    ],
)
@pytest.mark.parametrize("split", SPLITS)
def test_reply_shapes(data: bytes, expected: list[tuple[object, ...]], split: str) -> None:
    framer = greeted()
    _, events = run(framer, [("C", b"NOOP"), ("S", data)], split, trailing=TRAILING)
    assert [summary(e) for e in events] == expected


def test_multiline_code_mismatch_is_an_error() -> None:
    framer = greeted()
    framer.send(b"EHLO a")
    framer.receive_data(b"250-mx greets a\r\n251 different code\r\n")
    first = framer.next_event()
    assert isinstance(first, SmtpReplyLine)
    assert summary(first) == L("250-", b"250-mx greets a\r\n")
    with pytest.raises(RemoteProtocolError, match="from 250 to 251"):
        framer.next_event()
    with pytest.raises(RemoteProtocolError):  # the framer stays dead
        framer.next_event()


@pytest.mark.parametrize(
    "line",
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"25 short code\r\n",
        b"2500 long code\r\n",
        b"250_wrong separator\r\n",
        b"199 not an SMTP code\r\n",
        b"650 not an SMTP code\r\n",
        b"\r\n",
        b" 250 leading space\r\n",
    ],
)
def test_lines_that_are_not_replies(line: bytes) -> None:
    framer = SmtpFramer()
    framer.receive_data(line)
    with pytest.raises(RemoteProtocolError, match="not an SMTP reply line") as info:
        framer.next_event()
    assert repr(line[:20])[:-1] in str(info.value)  # the message quotes the line


def test_error_message_quotes_long_lines_shortened() -> None:
    framer = SmtpFramer()
    framer.receive_data(b"x" * 5000 + b"\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        framer.next_event()
    assert "5002 bytes" in str(info.value)
    assert len(str(info.value)) < 300


# ---------------------------------------------------------------------------
# Memory bounds
# ---------------------------------------------------------------------------


def _endless_continuation(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    line_no = 0
    block = bytearray()
    sent = 0
    while sent < total:
        while len(block) < chunk:
            # Distinct EHLO keywords: the keyword table must stay bounded too.
            block += b"250-K%07d %s\r\n" % (line_no, b"p" * 1000)
            line_no += 1
        yield bytes(block[:chunk])
        sent += chunk
        del block[:chunk]


def test_endless_continuation_lines_keep_memory_bounded() -> None:
    framer = greeted()
    framer.send(b"EHLO a")
    lines = 0
    tracemalloc.start()
    try:
        for piece in _endless_continuation(50 << 20):
            framer.receive_data(piece)
            while framer.next_event() is not NEED_DATA:
                lines += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines > 45_000
    assert peak < 8 << 20, f"peak {peak} bytes while streaming 50 MB of 250- lines"
    assert framer.pending == 1  # still inside the EHLO reply
    framer.receive_data(b"\r\n250 done\r\n")  # finish the cut line, then end the reply
    events = [summary(e) for e in drain(framer)]
    assert events[-1] == ("end", "250", "ok")
    assert len(framer.ehlo_keywords) == MAX_EHLO_KEYWORDS


def test_endless_line_over_the_limit_is_an_error() -> None:
    framer = SmtpFramer()
    fed = 0
    with pytest.raises(RemoteProtocolError, match="longer than 1048576 bytes"):
        framer.receive_data(b"220 ")
        for _ in range(64):
            framer.receive_data(b"x" * (64 << 10))
            fed += 64 << 10
            assert framer.next_event() is NEED_DATA
    assert fed <= (1 << 20) + (64 << 10)


def test_a_smaller_line_limit_is_honoured() -> None:
    framer = SmtpFramer(Limits(max_line=100))
    framer.receive_data(b"220 " + b"x" * 200 + b"\r\n")
    with pytest.raises(RemoteProtocolError, match="longer than 100 bytes"):
        framer.next_event()


# ---------------------------------------------------------------------------
# Sending: terminators, dot-stuffing, DATA mode, pipelining, :raw
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "wire"),
    [
        (b"NOOP", b"NOOP\r\n"),
        (b"NOOP\r\n", b"NOOP\r\n"),  # pasted with its CRLF: not doubled
        (b"NOOP\n", b"NOOP\r\n"),
        (b"NOOP\r", b"NOOP\r\n"),
        (b"", b"\r\n"),
        (b".not stuffed outside DATA", b".not stuffed outside DATA\r\n"),
    ],
)
def test_send_adds_exactly_one_crlf(line: bytes, wire: bytes) -> None:
    framer = greeted()
    assert framer.send(line) == wire
    assert framer.pending == 1


@pytest.mark.parametrize("line", [b"NOOP\r\nQUIT", b"NOOP\rx", b"a\nb", b"NOOP\r\n\r\n"])
def test_send_refuses_embedded_line_breaks(line: bytes) -> None:
    framer = greeted()
    with pytest.raises(LocalProtocolError, match="CR or LF"):
        framer.send(line)
    assert framer.pending == 0


def in_data() -> SmtpFramer:
    framer = greeted()
    framer.send(b"DATA")
    feed(framer, b"354 go ahead\r\n")
    assert framer.in_data
    return framer


@pytest.mark.parametrize(
    ("line", "wire"),
    [
        (b"Subject: hi", b"Subject: hi\r\n"),
        (b"", b"\r\n"),
        (b".hidden", b"..hidden\r\n"),  # RFC 5321 4.5.2
        (b"..", b"...\r\n"),
        (b". ", b".. \r\n"),
        (b".hidden\r\n", b"..hidden\r\n"),  # pasted CRLF not doubled, still stuffed
        (b"x.y", b"x.y\r\n"),
    ],
)
def test_dot_stuffing_in_data_mode(line: bytes, wire: bytes) -> None:
    framer = in_data()
    assert framer.send(line) == wire
    assert (framer.pending, framer.in_data) == (0, True)


def test_lone_dot_ends_the_message() -> None:
    framer = in_data()
    assert framer.send(b".\r\n") == b".\r\n"
    assert (framer.pending, framer.in_data) == (1, False)
    assert feed(framer, b"250 2.0.0 queued\r\n")[-1] == ("end", "250", "ok")
    assert framer.send(b".x") == b".x\r\n"  # back to commands: no stuffing


def test_data_refused_means_no_message_mode() -> None:
    framer = greeted()
    framer.send(b"DATA")
    assert feed(framer, b"503 need MAIL first\r\n")[-1] == ("end", "503", "error")
    assert not framer.in_data and framer.state == "command"
    assert framer.send(b".x") == b".x\r\n"
    assert framer.pending == 1


def test_lines_pipelined_behind_a_refused_data_become_commands() -> None:
    framer = greeted()
    framer.send(b"DATA")
    framer.send(b"Subject: typed too early")
    assert framer.pending == 1  # predicted: a message line
    feed(framer, b"503 5.5.1 no valid recipients\r\n")
    assert framer.pending == 1  # the server read it as a command: one more reply
    assert feed(framer, b"500 5.5.2 unrecognized\r\n")[-1] == ("end", "500", "error")
    assert framer.pending == 0


def test_message_pipelined_behind_data() -> None:
    framer = greeted()
    wire = b"".join(framer.send(x) for x in [b"DATA", b"Subject: x", b".hidden", b"."])
    assert wire == b"DATA\r\nSubject: x\r\n..hidden\r\n.\r\n"
    assert framer.pending == 2  # DATA and the final "."
    feed(framer, b"354 go\r\n")
    assert (framer.pending, framer.in_data) == (1, False)
    feed(framer, b"250 queued\r\n")
    assert (framer.pending, framer.state) == (0, "command")


def test_bdat_chunk_follows_the_command_before_any_reply() -> None:
    """RFC 3030 2: BDAT's octets follow it at once and its reply comes after them; waiting
    for the reply first hung against Postfix, which waits for the octets."""
    framer = greeted()
    assert framer.send(b"BDAT 12") == b"BDAT 12\r\n"
    assert (framer.pending, framer.literal_remaining, framer.state) == (0, 12, "chunk")
    assert framer.mid_command
    assert framer.send(b".dot line!") == b".dot line!\r\n"  # binary data: no dot-stuffing
    assert (framer.pending, framer.literal_remaining) == (1, None)
    assert feed(framer, b"250 2.0.0 Ok: 12 bytes\r\n")[-1] == ("end", "250", "ok")
    framer.send(b"BDAT 7 LAST")
    assert framer.send(b"") == b"\r\n" and framer.literal_remaining == 5
    with pytest.raises(LocalProtocolError, match="BDAT chunk needs 5 more byte"):
        framer.send(b"too long")
    assert framer.send(b"hello") == b"hello"  # fills the chunk exactly: no CRLF
    assert (framer.pending, framer.mid_command, framer.state) == (1, False, "command")
    assert feed(framer, b"250 2.0.0 Ok: queued\r\n")[-1] == ("end", "250", "ok")
    assert framer.send(b"BDAT 0 LAST") == b"BDAT 0 LAST\r\n" and framer.pending == 1  # no octets
    assert framer.send(b"NOOP") == b"NOOP\r\n" and framer.pending == 2


def test_bdat_chunk_sent_raw_is_counted_by_the_octet() -> None:
    framer = greeted()
    framer.send_raw(b"BDAT 7 LAST\r\n\r\nhel")
    assert (framer.pending, framer.literal_remaining) == (0, 2)
    framer.send_raw(b"loNOOP\r\n")  # a chunk need not end with a line; a command follows
    assert (framer.pending, framer.literal_remaining) == (2, None)


@pytest.mark.parametrize("split", SPLITS)
def test_pipelined_transaction(split: str) -> None:
    framer = greeted()
    steps = [
        ("C", b"MAIL FROM:<a@b>"),
        ("C", b"RCPT TO:<c@d>"),
        ("C", b"RCPT TO:<e@f>"),
        ("C", b"DATA"),
        ("S", b"250 ok\r\n250 ok\r\n550 no such user\r\n354 go\r\n"),
    ]
    _, events = run(framer, steps, split, trailing=b"")
    ends = [summary(e) for e in events if isinstance(e, ResponseEnd)]
    assert ends == [
        ("end", "250", "ok"),
        ("end", "250", "ok"),
        ("end", "550", "error"),
        ("end", "354", "continue"),
    ]
    assert framer.in_data and framer.pending == 0


def test_send_raw_learns_from_every_crlf_line() -> None:
    framer = greeted()
    data = b"EHLO x\r\nNOOP\r\n"
    assert framer.send_raw(data) == data
    assert framer.pending == 2
    assert framer.send_raw(b"NO") == b"NO"  # unfinished: no reply expected yet
    assert framer.pending == 2
    framer.send_raw(b"OP\r\n")
    assert framer.pending == 3
    feed(framer, b"250-mx\r\n250 SIZE 10\r\n250 ok\r\n250 ok\r\n")
    assert framer.pending == 0
    assert framer.ehlo_keywords == {"SIZE": "10"}


def test_send_raw_in_data_mode_finds_the_end_of_message() -> None:
    framer = in_data()
    framer.send_raw(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert (framer.pending, framer.in_data) == (1, False)


# ---------------------------------------------------------------------------
# AUTH (RFC 4954)
# ---------------------------------------------------------------------------


def test_auth_login_continuations() -> None:
    framer = greeted()
    framer.send(b"AUTH LOGIN")
    assert feed(framer, b"334 VXNlcm5hbWU6\r\n") == [
        L("334", b"334 VXNlcm5hbWU6\r\n"),
        ("end", "334", "continue"),
    ]
    assert framer.state == "auth"
    # "DATA" is valid base64: here it is a SASL response, not the DATA command.
    assert framer.send(b"DATA") == b"DATA\r\n"
    feed(framer, b"334 UGFzc3dvcmQ6\r\n")
    framer.send(b"c2VjcmV0")
    assert feed(framer, b"235 2.7.0 Authentication successful\r\n")[-1] == ("end", "235", "ok")
    assert (framer.state, framer.in_data, framer.pending) == ("command", False, 0)


def test_auth_with_initial_response() -> None:
    framer = greeted()
    framer.send(b"AUTH PLAIN AGJvYgBzZWNyZXQ=")
    assert feed(framer, b"535 5.7.8 bad credentials\r\n")[-1] == ("end", "535", "error")
    assert framer.state == "command"


# ---------------------------------------------------------------------------
# STARTTLS (RFC 3207)
# ---------------------------------------------------------------------------

INJECTED = b"250-injected before the handshake\r\n250 AUTH PLAIN\r\n"


@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_starttls_keeps_injected_bytes_out_of_the_parser(split: str) -> None:
    framer = greeted()
    framer.send(b"EHLO a")
    feed(framer, b"250-mx\r\n250-STARTTLS\r\n250 PIPELINING\r\n")
    assert framer.ehlo_keywords == {"STARTTLS": "", "PIPELINING": ""}
    steps = [("C", b"STARTTLS"), ("S", b"220 2.0.0 Ready to start TLS\r\n" + INJECTED)]
    _, events = run(framer, steps, split)
    assert [summary(e) for e in events] == [
        L("220", b"220 2.0.0 Ready to start TLS\r\n"),
        ("end", "220", "ok", "starttls"),
    ]
    assert framer.trailing_data == INJECTED
    assert framer.state == "tls-pending"
    framer.receive_data(b"more plaintext\r\n")
    assert framer.next_event() is NEED_DATA
    assert framer.trailing_data == INJECTED + b"more plaintext\r\n"
    with pytest.raises(LocalProtocolError, match="TLS handshake"):
        framer.send(b"EHLO a")  # never send plaintext after STARTTLS was accepted
    framer.tls_started()
    assert framer.trailing_data == b""
    assert framer.ehlo_keywords == {}  # RFC 3207 4.2: forget the pre-TLS EHLO
    assert (framer.state, framer.pending) == ("command", 0)
    framer.send(b"EHLO a")
    feed(framer, b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")
    assert framer.auth_mechanisms == ("PLAIN", "LOGIN")


def test_commands_pipelined_after_starttls_are_forgotten() -> None:
    framer = greeted()
    framer.send(b"STARTTLS")
    framer.send(b"NOOP")
    assert framer.pending == 2
    feed(framer, b"220 go ahead\r\n")
    assert framer.pending == 0


def test_starttls_refused_keeps_parsing() -> None:
    framer = greeted()
    framer.send(b"STARTTLS")
    assert feed(framer, b"454 TLS not available\r\n250 x\r\n")[:2] == [
        L("454", b"454 TLS not available\r\n"),
        ("end", "454", "temporary"),
    ]
    assert framer.trailing_data == b""
    with pytest.raises(LocalProtocolError):
        framer.tls_started()


def test_plaintext_flood_after_starttls_is_bounded() -> None:
    framer = SmtpFramer(Limits(max_line=1000))
    feed(framer, b"220 hi\r\n")
    framer.send(b"STARTTLS")
    feed(framer, b"220 go\r\n")
    for _ in range(10):
        framer.receive_data(b"x" * 500)
    assert len(framer.trailing_data) == 1000
    with pytest.raises(RemoteProtocolError, match="plaintext"):
        framer.next_event()


# ---------------------------------------------------------------------------
# EOF
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sends", "data", "clean", "reason"),
    [
        ([], b"", False, "1 reply outstanding"),  # no greeting at all
        ([], b"220 hi\r\n", True, "closed"),
        ([b"NOOP", b"NOOP"], b"220 hi\r\n", False, "2 replies outstanding"),
        ([b"NOOP"], b"220 hi\r\n250 o", False, "middle of a line"),
        ([b"EHLO a"], b"220 hi\r\n250-mx\r\n", False, "multi-line 250 reply"),
        ([b"QUIT"], b"220 hi\r\n221 bye\r\n", True, "after 221"),
        ([b"QUIT", b"NOOP"], b"220 hi\r\n221 bye\r\n", True, "after 221"),
        ([], b"220 hi\r\n421 4.4.2 idle timeout\r\n", True, "after 421"),
        ([b"DATA"], b"220 hi\r\n354 go\r\n", False, "message input"),
    ],
)
def test_eof(sends: list[bytes], data: bytes, clean: bool, reason: str) -> None:
    framer = SmtpFramer()
    for line in sends:
        framer.send(line)
    framer.receive_data(data)
    framer.receive_data(b"")
    events = drain(framer)
    closed = events[-1]
    assert isinstance(closed, ConnectionClosed)
    assert closed.clean is clean
    assert reason in closed.reason
    assert framer.state == "closed"
    assert framer.next_event() is NEED_DATA  # reported once
    with pytest.raises(LocalProtocolError):
        framer.send(b"NOOP")


def test_eof_keeps_the_bytes_of_a_cut_line() -> None:
    framer = greeted()
    framer.send(b"NOOP")
    framer.receive_data(b"250 cut sh")
    framer.receive_data(b"")
    closed = drain(framer)[-1]
    assert isinstance(closed, ConnectionClosed) and closed.raw == b"250 cut sh"


def test_unsolicited_421_is_framed() -> None:
    framer = greeted()
    assert feed(framer, b"421 4.4.2 mx Error: timeout exceeded\r\n") == [
        L("421", b"421 4.4.2 mx Error: timeout exceeded\r\n"),
        ("end", "421", "temporary"),
    ]
    assert (framer.pending, framer.state) == (0, "closed")


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------


def test_vocabulary_covers_rfc5321_and_extensions() -> None:
    rfc5321 = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "VRFY", "EXPN", "HELP", "NOOP"]
    for name in [*rfc5321, "QUIT", "STARTTLS", "AUTH"]:
        command = VOCABULARY.command(name.lower())
        assert command is not None and command.meaning and command.syntax.startswith(name)
    assert VOCABULARY.commands["EHLO"].phase == "identify"
    assert VOCABULARY.commands["QUIT"].phase == "goodbye"
    assert VOCABULARY.commands["AUTH"].args == ("auth-mechanism",)
    codes = "211 214 220 221 250 251 252 354 421 450 451 452 455 500 501 502 503 504 550 551 "
    codes += "552 553 554 555 235 334 530 535 538 454"
    for code in codes.split():
        assert VOCABULARY.reply(code) is not None, code


def test_vocabulary_outcomes_match_the_framer() -> None:
    """:explain and the colours must agree with the ResponseEnd outcome."""
    for code, reply in VOCABULARY.replies.items():
        assert reply.outcome == outcome_of(int(code)), code
    assert "PLAIN" in VOCABULARY.words["auth-mechanism"]
    assert "PIPELINING" in VOCABULARY.words["esmtp-keyword"]


# ---------------------------------------------------------------------------
# Fuzz: any bytes either parse or raise RemoteProtocolError, losing nothing
# ---------------------------------------------------------------------------

_PIECES = [
    b"220 hi\r\n",
    b"250-x\r\n",
    b"250 ok\r\n",
    b"354 go\r\n",
    b"334 VXNlcg==\r\n",
    b"220 tls\r\n",
    b"221 bye\r\n",
    b"421 bye\r\n",
    b"\r\n",
    b"\n",
    b"25",
    b"0 ",
]
_SENDS = [b"EHLO a", b"DATA", b".", b".x", b"STARTTLS", b"AUTH LOGIN", b"QUIT", b"NOOP"]

_ops = lossless_ops(_PIECES, _SENDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ops)
def test_fuzz_parse_or_remote_error(ops: list[tuple[str, bytes]]) -> None:
    play_lossless(SmtpFramer(Limits(max_line=64)), ops)


# -- sending ahead of a plain reply (what a replay's early send relies on) -------


def _after_greeting(*commands: bytes) -> SmtpFramer:
    framer = SmtpFramer()
    framer.receive_data(b"220 hi\r\n")
    drain(framer)
    for command in commands:
        framer.send(command)
    return framer


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"250 OK\r\n", "250"),
        (b"250\r\n", "250"),
        (b"550 no such user\r\n", "550"),
        (b"452 later\r\n", "452"),
        (b"421 closing\r\n", None),  # a goodbye: the server closes next
        (b"354 go ahead\r\n", None),  # a continuation changes the mode
        (b"250-first\r\n", None),  # not the last line
        (b"250-first\r\n250 last\r\n", None),  # two lines
        (b"250 OK\n", None),  # bare LF
        (b"250 OK", None),  # unfinished
        (b"250 OK\r\n220 x\r\n", None),
        (b"25 OK\r\n", None),
        (b"2500 OK\r\n", None),
        (b"\xd9\xa0\xd9\xa1\xd9\xa2 OK\r\n", None),  # not ASCII digits
    ],
)
def test_plain_reply_status(data: bytes, status: str | None) -> None:
    assert _after_greeting(b"NOOP").plain_reply_status(data) == status


@pytest.mark.parametrize(
    "commands",
    [
        [],  # nothing owed but the greeting... already answered: nothing owed
        [b"NOOP", b"RSET"],  # two owed
        [b"DATA"],
        [b"AUTH LOGIN"],
        [b"STARTTLS"],
        [b"QUIT"],
        [b"EHLO me"],
        [b"HELO me"],
    ],
)
def test_send_ahead_refuses_what_the_reply_may_change(commands: list[bytes]) -> None:
    framer = _after_greeting(*commands)
    pending = framer.pending
    assert framer.send_ahead(b"NOOP") is None
    assert framer.pending == pending  # it changes nothing


def test_send_ahead_refuses_mid_reply_before_the_greeting_and_bad_lines() -> None:
    assert SmtpFramer().send_ahead(b"NOOP") is None  # the greeting is owed
    framer = _after_greeting(b"NOOP")
    assert framer.send_ahead(b"RSET\r\nQUIT") is None  # two lines
    framer.receive_data(b"250-partial\r\n")
    drain(framer)
    assert framer.send_ahead(b"RSET") is None  # a multi-line reply has begun


_COMMANDS = [b"NOOP", b"RSET", b"MAIL FROM:<a@b>", b"RCPT TO:<c@d>", b"VRFY x", b"HELP"]
_NEXT = [*_COMMANDS, b"DATA", b"EHLO x", b"QUIT", b"STARTTLS", b"AUTH LOGIN", b".dot", b""]
_REPLIES = [b"250 OK\r\n", b"250\r\n", b"550 no\r\n", b"452 full\r\n", b"502 what?\r\n"]


@pytest.mark.parametrize("command", _COMMANDS)
@pytest.mark.parametrize("reply", _REPLIES)
@pytest.mark.parametrize("line", _NEXT)
def test_send_before_a_plain_reply_is_framed_changes_nothing(command: bytes, reply: bytes, line: bytes) -> None:
    """send_ahead's promise: send(line) then receive_data(reply) gives the
    same bytes, events and state as the usual order, and so does what
    follows (the reply to ``line``)."""
    usual = _after_greeting(command)
    usual.receive_data(reply)
    events = drain(usual)
    usual_wire = usual.send(line)

    early = _after_greeting(command)
    wire = early.send_ahead(line)
    assert wire is not None and early.plain_reply_status(reply) == reply[:3].decode()
    assert early.send(line) == wire == usual_wire
    early.receive_data(reply)
    assert drain(early) == events

    for framer in (usual, early):
        framer.receive_data(b"354 go\r\n" if line == b"DATA" else b"250-x\r\n250 y\r\n")
    assert drain(early) == drain(usual)
    assert (early.pending, early.state, early.in_data, early.ehlo_keywords) == (
        usual.pending,
        usual.state,
        usual.in_data,
        usual.ehlo_keywords,
    )
