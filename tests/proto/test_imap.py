"""Tests for protoshell/proto/imap.py: the client-role IMAP framer.

Every scripted case runs three ways (h11's test_io habit): server bytes fed
whole, one byte at a time (events drained after each byte), and with the
start of a further line fed after the script (it must change nothing).
Payload chunks are merged before comparing, since their sizes depend on how
the bytes arrived.
"""

from __future__ import annotations

import itertools
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protoshell.proto.base import (
    DEFAULT_LIMITS,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Limits,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    ResponseEnd,
    ServerLine,
)
from protoshell.proto.imap import VOCABULARY, ImapFramer, ImapLine, line_status

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

MODES = ("whole", "bytes", "trailing")
TRAILING = b"* 9 EXI"  # the start of a next line: must produce nothing


def drain(f: ImapFramer) -> list[Event]:
    out: list[Event] = []
    for _ in range(1_000_000):
        ev = f.next_event()
        if ev is NEED_DATA:
            return out
        assert isinstance(ev, Event)
        out.append(ev)
    raise AssertionError("next_event never returned NEED_DATA")


def merge_payloads(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, Payload) and out and isinstance(out[-1], Payload):
            prev = out[-1]
            if prev.offset + len(prev.raw) == ev.offset and prev.total == ev.total:
                out[-1] = Payload(prev.raw + ev.raw, prev.offset, prev.total)
                continue
        out.append(ev)
    return out


def summary(ev: Event) -> str:
    if isinstance(ev, ImapLine):
        s = f"{ev.status or '-'} {ev.outcome}"
        if ev.literal is not None:
            s += f" {{{ev.literal}}}"
        if ev.continued:
            s += " cont"
        return s
    if isinstance(ev, Payload):
        return f"payload {len(ev.raw)}/{ev.total}"
    if isinstance(ev, ResponseEnd):
        return f"END {ev.status} {ev.outcome}" + (" starttls" if ev.starttls else "")
    if isinstance(ev, ConnectionClosed):
        return "CLOSED " + ("clean" if ev.clean else "unclean")
    raise AssertionError(f"unexpected event {ev!r}")


EOF = ("EOF", b"")
# A step: ("C", line) sends, ("S", bytes) receives, ("EOF", b"") closes,
# ("check", fn) asserts fn(framer) at that point.
Step = tuple[str, bytes] | tuple[str, Callable[[ImapFramer], bool]]


def C(line: bytes) -> tuple[str, bytes]:  # the lecture's notation
    return ("C", line)


def S(data: bytes) -> tuple[str, bytes]:
    return ("S", data)


@dataclass
class Run:
    framer: ImapFramer
    events: list[Event]
    wire: list[bytes]
    pending: list[int]  # framer.pending after each C/S/EOF step

    @property
    def summaries(self) -> list[str]:
        return [summary(e) for e in self.events]


def drive(steps: list[Step], mode: str = "whole", framer: ImapFramer | None = None) -> Run:
    f = framer if framer is not None else ImapFramer()
    events: list[Event] = []
    wire: list[bytes] = []
    pending: list[int] = []
    for kind, data in steps:
        if kind == "check":
            assert callable(data)
            assert data(f), f"check failed after {len(pending)} steps"
            continue
        assert isinstance(data, bytes)
        if kind == "C":
            wire.append(f.send(data))
        elif kind == "S":
            if mode == "bytes":
                for i in range(len(data)):
                    f.receive_data(data[i : i + 1])
                    events += drain(f)
            else:
                f.receive_data(data)
                events += drain(f)
        elif kind == "EOF":
            f.receive_data(b"")
            events += drain(f)
        pending.append(f.pending)
    if mode == "trailing" and not any(k == "EOF" for k, _ in steps) and not f._tls_pending:
        f.receive_data(TRAILING)
        events += drain(f)
    return Run(f, merge_payloads(events), wire, pending)


def payload_bytes(n: int, seed: str) -> bytes:
    """n bytes of a plausible message: CRLF lines, including lines that look
    like IMAP responses (they are literal data and must not be parsed)."""
    lines = [
        b"Return-Path: <esr@example.com>",
        b"A0004 OK FETCH completed",
        b"A0005 OK FETCH completed",
        b"* 2 EXISTS",
        b"+ go ahead",
        b"* 1 FETCH (BODY[] {5}",
        b'Subject: "quoted {3}"',
    ]
    out = bytearray()
    i = 0
    while len(out) < n:
        out += lines[i % len(lines)] + f" {seed} {i}".encode() + b"\r\n"
        i += 1
    return bytes(out[:n])


GREETING = b"* OK example.com IMAP4rev1 v12.264 server ready\r\n"
DOVECOT_GREETING = (
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
    b"STARTTLS AUTH=PLAIN AUTH=LOGIN] Dovecot ready.\r\n"
)
HEADER_1425 = payload_bytes(1425, "header")
TEXT_1120 = payload_bytes(1120, "text")

SELECT_RESPONSE = (
    b"* 1 EXISTS\r\n"
    b"* 1 RECENT\r\n"
    b"* FLAGS (\\Answered \\Flagged \\Deleted \\Draft \\Seen)\r\n"
    b"* OK [UNSEEN 1] first unseen message in /var/spool/mail/esr\r\n"
    b"A0002 OK [READ-WRITE] SELECT completed\r\n"
)
FETCH_HEADER_RESPONSE = (
    b"* 1 FETCH (RFC822.HEADER {1425}\r\n" + HEADER_1425 + b")\r\nA0004 OK FETCH completed\r\n"
)
FETCH_TEXT_RESPONSE = (
    b"* 1 FETCH (BODY[TEXT] {1120}\r\n"
    + TEXT_1120
    + b")\r\n* 1 FETCH (FLAGS (\\Recent \\Seen))\r\nA0005 OK FETCH completed\r\n"
)


# ---------------------------------------------------------------------------
# Scripted cases (each runs whole / byte-at-a-time / with trailing data)
# ---------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    steps: list[Step]
    expect: list[str]
    pending: list[int] | None = None
    wire: list[bytes] | None = None
    check: Callable[[Run], object] | None = None  # asserts, or returns a bool
    framer: Callable[[], ImapFramer] = field(default=ImapFramer)


def _check_identify(r: Run) -> None:
    # The lecture's server answers USER with an untagged OK only, so A0001
    # is never completed; a real server (Dovecot) says "A0001 BAD".
    assert r.framer.outstanding == ("A0001",)
    assert r.framer.state == "not-authenticated"


def _check_select(r: Run) -> None:
    f = r.framer
    assert (f.state, f.selected, f.exists) == ("selected", "INBOX", 1)
    assert f.flags == ("\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Seen")
    unseen = [e for e in r.events if isinstance(e, ImapLine) and e.code == "UNSEEN"]
    assert len(unseen) == 1 and unseen[0].status == "* OK"
    exists = [e for e in r.events if isinstance(e, ImapLine) and e.kind == "EXISTS"]
    assert exists[0].number == 1


def _check_header_payload(r: Run) -> None:
    payloads = [e for e in r.events if isinstance(e, Payload)]
    assert payloads[0].raw == HEADER_1425 and payloads[0].offset == 0
    opener = next(e for e in r.events if isinstance(e, ImapLine) and e.literal)
    assert opener.raw == b"* 1 FETCH (RFC822.HEADER {1425}\r\n"
    assert opener.number == 1 and opener.kind == "FETCH"


CASES = [
    Case(
        "lecture identify (USER is not IMAP: no tagged answer)",
        [
            S(GREETING),
            C(b'A0001 USER "frobozz" "xyzzy"'),
            S(b"* OK User frobozz authenticated\r\n"),
        ],
        ["* OK info", "END * OK ok", "* OK info"],
        pending=[0, 1, 1],
        wire=[b'A0001 USER "frobozz" "xyzzy"\r\n'],
        check=_check_identify,
    ),
    Case(
        "lecture identify against Dovecot",
        [
            S(DOVECOT_GREETING),
            C(b'A0001 USER "frobozz" "xyzzy"'),
            S(b"A0001 BAD Error in IMAP command received by server.\r\n"),
        ],
        ["* OK info", "END * OK ok", "A0001 BAD error", "END A0001 BAD error"],
        pending=[0, 1, 0],
    ),
    Case(
        "lecture select",
        [S(GREETING), C(b"A0002 SELECT INBOX"), S(SELECT_RESPONSE)],
        [
            "* OK info",
            "END * OK ok",
            "* EXISTS info",
            "* RECENT info",
            "* FLAGS info",
            "* OK info",
            "A0002 OK ok",
            "END A0002 OK ok",
        ],
        pending=[0, 1, 0],
        check=_check_select,
    ),
    Case(
        "lecture message sizes",
        [
            S(GREETING),
            C(b"A0003 FETCH 1 RFC822.SIZE"),
            S(b"* 1 FETCH (RFC822.SIZE 2545)\r\nA0003 OK FETCH completed\r\n"),
        ],
        ["* OK info", "END * OK ok", "* FETCH info", "A0003 OK ok", "END A0003 OK ok"],
        pending=[0, 1, 0],
    ),
    Case(
        "lecture first message header: a 1425-octet literal",
        [S(GREETING), C(b"A0004 FETCH 1 BODY[HEADER]"), S(FETCH_HEADER_RESPONSE)],
        [
            "* OK info",
            "END * OK ok",
            "* FETCH info {1425}",
            "payload 1425/1425",
            "- data cont",
            "A0004 OK ok",
            "END A0004 OK ok",
        ],
        pending=[0, 1, 0],
        check=_check_header_payload,
    ),
    Case(
        "lecture first message body: a 1120-octet literal, then more data",
        [S(GREETING), C(b"A0005 FETCH 1 BODY[TEXT]"), S(FETCH_TEXT_RESPONSE)],
        [
            "* OK info",
            "END * OK ok",
            "* FETCH info {1120}",
            "payload 1120/1120",
            "- data cont",
            "* FETCH info",
            "A0005 OK ok",
            "END A0005 OK ok",
        ],
        pending=[0, 1, 0],
    ),
    Case(
        "lecture goodbye: BYE, OK, EOF is clean",
        [
            S(GREETING),
            C(b"A0006 LOGOUT"),
            S(
                b"* BYE example.com IMAP4rev1 server terminating connection\r\n"
                b"A0006 OK LOGOUT completed\r\n"
            ),
            EOF,
        ],
        [
            "* OK info",
            "END * OK ok",
            "* BYE info",
            "A0006 OK ok",
            "END A0006 OK ok",
            "CLOSED clean",
        ],
        pending=[0, 1, 0, 0],
        check=lambda r: r.framer.state == "logout",
    ),
    Case(
        "lecture re-ordered: three FETCHes pipelined",
        [
            S(GREETING),
            C(b'A0001 USER "frobozz" "xyzzy"'),
            S(b"* OK User frobozz authenticated\r\n"),
            C(b"A0002 SELECT INBOX"),
            S(SELECT_RESPONSE),
            C(b"A0003 FETCH 1 RFC822.SIZE"),
            C(b"A0004 FETCH 1 BODY[HEADER]"),
            C(b"A0005 FETCH 1 BODY[TEXT]"),
            S(b"* 1 FETCH (RFC822.SIZE 2545)\r\nA0003 OK FETCH completed\r\n"),
            S(FETCH_HEADER_RESPONSE),
            S(FETCH_TEXT_RESPONSE),
            C(b"A0006 LOGOUT"),
            S(b"* BYE bye\r\nA0006 OK LOGOUT completed\r\n"),
            EOF,
        ],
        [
            "* OK info",
            "END * OK ok",
            "* OK info",
            "* EXISTS info",
            "* RECENT info",
            "* FLAGS info",
            "* OK info",
            "A0002 OK ok",
            "END A0002 OK ok",
            "* FETCH info",
            "A0003 OK ok",
            "END A0003 OK ok",
            "* FETCH info {1425}",
            "payload 1425/1425",
            "- data cont",
            "A0004 OK ok",
            "END A0004 OK ok",
            "* FETCH info {1120}",
            "payload 1120/1120",
            "- data cont",
            "* FETCH info",
            "A0005 OK ok",
            "END A0005 OK ok",
            "* BYE info",
            "A0006 OK ok",
            "END A0006 OK ok",
            "CLOSED clean",
        ],
        # A0001 stays outstanding throughout (the lecture's server never tags it).
        pending=[0, 1, 1, 2, 1, 2, 3, 4, 3, 2, 1, 2, 1, 1],
    ),
    Case(
        "pipelined commands completed in any order, by tag",
        [
            S(GREETING),
            C(b"FETCH 1 FLAGS"),
            C(b"FETCH 2 FLAGS"),
            C(b"FETCH 3 FLAGS"),
            S(b"A0003 OK third\r\n"),
            S(b"* 1 FETCH (FLAGS ())\r\nA0001 NO first\r\n"),
            S(b"A0002 BAD second\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "A0003 OK ok",
            "END A0003 OK ok",
            "* FETCH info",
            "A0001 NO temporary",
            "END A0001 NO temporary",
            "A0002 BAD error",
            "END A0002 BAD error",
        ],
        pending=[0, 1, 2, 3, 2, 1, 0],
        wire=[b"A0001 FETCH 1 FLAGS\r\n", b"A0002 FETCH 2 FLAGS\r\n", b"A0003 FETCH 3 FLAGS\r\n"],
    ),
    Case(
        "a tag nobody is waiting for ends nothing",
        [
            S(GREETING),
            C(b"NOOP"),
            S(b"Z9 OK not yours\r\nA0001 OK NOOP done\r\nA0001 OK again\r\n"),
        ],
        ["* OK info", "END * OK ok", "Z9 OK ok", "A0001 OK ok", "END A0001 OK ok", "A0001 OK ok"],
        pending=[0, 1, 0],
    ),
    Case(
        "a tagged line that is not OK/NO/BAD is an error that completes nothing",
        [S(GREETING), C(b"NOOP"), S(b"A0001 FOO bar\r\n")],
        ["* OK info", "END * OK ok", "A0001 FOO error"],
        pending=[0, 1, 1],
    ),
    Case(
        "PREAUTH greeting",
        [S(b"* PREAUTH [CAPABILITY IMAP4rev1] welcome back\r\n")],
        ["* PREAUTH info", "END * PREAUTH ok"],
        pending=[0],
        check=lambda r: (
            (r.framer.state, r.framer.capabilities) == ("authenticated", ("IMAP4rev1",))
        ),
    ),
    Case(
        "BYE greeting: refused, then a clean close",
        [S(b"* BYE too many connections\r\n"), EOF],
        ["* BYE error", "END * BYE error", "CLOSED clean"],
        pending=[0, 0],
    ),
    Case(
        "unsolicited BYE is an error; untagged NO a warning, BAD an error",
        [S(GREETING), S(b"* NO disk almost full\r\n* BAD stray\r\n* BYE autologout\r\n"), EOF],
        [
            "* OK info",
            "END * OK ok",
            "* NO temporary",
            "* BAD error",
            "* BYE error",
            "CLOSED clean",
        ],
    ),
    Case(
        "a line without a usable tag earns an untagged BAD, which ends its turn",
        [S(DOVECOT_GREETING), C(b""), S(b"* BAD Error in IMAP command received by server.\r\n")],
        ["* OK info", "END * OK ok", "* BAD error", "END * BAD error"],
        pending=[0, 1, 0],
        wire=[b"\r\n"],
    ),
    # -- literals ------------------------------------------------------------
    Case(
        "several literals in one response",
        [
            S(GREETING),
            C(b"FETCH 1 (BODY[HEADER] BODY[TEXT])"),
            S(
                b"* 1 FETCH (BODY[HEADER] {5}\r\nhello BODY[TEXT] {3}\r\nabc UID 7)\r\n"
                b"A0001 OK done\r\n"
            ),
        ],
        [
            "* OK info",
            "END * OK ok",
            "* FETCH info {5}",
            "payload 5/5",
            "- data {3} cont",
            "payload 3/3",
            "- data cont",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
        pending=[0, 1, 0],
    ),
    Case(
        "an empty literal",
        [S(GREETING), S(b"* 1 FETCH (BODY[] {0}\r\n)\r\n")],
        ["* OK info", "END * OK ok", "* FETCH info {0}", "- data cont"],
    ),
    Case(
        "a literal holding a line that looks like the tagged completion completes nothing",
        [
            S(GREETING),
            C(b"FETCH 1 BODY[]"),
            S(b"* 1 FETCH (BODY[] {15}\r\nA0001 OK fake\r\n)\r\n"),
            S(b"A0001 OK real\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "* FETCH info {15}",
            "payload 15/15",
            "- data cont",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
        pending=[0, 1, 1, 0],
    ),
    Case(
        "literal ending exactly where a CRLF would be, then a bare CRLF rest",
        [S(GREETING), S(b'* LIST () "/" {7}\r\nArchive\r\n')],
        ["* OK info", "END * OK ok", "* LIST info {7}", "payload 7/7", "- data cont"],
        check=lambda r: r.framer.mailboxes == ("Archive",),
    ),
    Case(
        "{5} inside a quoted string is not a literal",
        [S(GREETING), S(b'* XFOO "ab {5}\r\n* XFOO "a\\" {5}\r\n* 1 FETCH (X "{5}")\r\n')],
        ["* OK info", "END * OK ok", "* XFOO info", "* XFOO info", "* FETCH info"],
    ),
    Case(
        "an escaped backslash closes the quote before {5}",
        [S(GREETING), S(b'* XFOO "a\\\\" {5}\r\nhello\r\n')],
        ["* OK info", "END * OK ok", "* XFOO info {5}", "payload 5/5", "- data cont"],
    ),
    Case(
        "status responses carry text: a trailing {5} or {x} there is not a literal",
        [
            S(GREETING),
            C(b"NOOP"),
            S(b"* OK [ALERT] look {5}\r\n* NO odd {x}\r\n+ more {3}\r\nA0001 OK done {-1}\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "* OK info",
            "* NO temporary",
            "+ continue",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
    ),
    Case(
        "a server {n+} is accepted as a literal",
        [S(GREETING), S(b"* 1 FETCH (BODY[] {2+}\r\nhi)\r\n")],
        ["* OK info", "END * OK ok", "* FETCH info {2}", "payload 2/2", "- data cont"],
    ),
    Case(
        "an unexpected + is shown but ends no turn",
        [S(GREETING), C(b"NOOP"), S(b"+ what?\r\n")],
        ["* OK info", "END * OK ok", "+ continue"],
        pending=[0, 1, 1],
    ),
    # -- client literals -------------------------------------------------------
    Case(
        "APPEND with a synchronizing literal, typed as in a shell",
        [
            S(DOVECOT_GREETING),
            C(b"A0003 APPEND INBOX {11}"),
            S(b"+ OK\r\n"),
            C(b"hello world"),
            C(b""),
            S(b"A0003 OK [APPENDUID 1 7] Append completed.\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "+ continue",
            "END + continue",
            "A0003 OK ok",
            "END A0003 OK ok",
        ],
        pending=[0, 1, 0, 0, 1, 0],
        wire=[b"A0003 APPEND INBOX {11}\r\n", b"hello world", b"\r\n"],
    ),
    Case(
        "APPEND of a message typed line by line: CRLFs count towards n",
        [
            S(GREETING),
            C(b"APPEND Drafts (\\Draft) {22}"),
            S(b"+ Ready for literal data\r\n"),
            C(b"Subject: hi"),
            C(b""),
            C(b"hello"),
            C(b""),
            S(b"A0001 OK APPEND completed\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "+ continue",
            "END + continue",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
        pending=[0, 1, 0, 0, 0, 0, 1, 0],
        wire=[
            b"A0001 APPEND Drafts (\\Draft) {22}\r\n",
            b"Subject: hi\r\n",
            b"\r\n",
            b"hello\r\n",
            b"\r\n",
        ],
    ),
    Case(
        "LITERAL+ sends at once, without waiting for +",
        [
            S(DOVECOT_GREETING),
            C(b"APPEND INBOX {11+}"),
            C(b"hello world"),
            C(b""),
            S(b"A0001 OK Append completed.\r\n"),
        ],
        ["* OK info", "END * OK ok", "A0001 OK ok", "END A0001 OK ok"],
        pending=[0, 0, 0, 1, 0],
        wire=[b"A0001 APPEND INBOX {11+}\r\n", b"hello world", b"\r\n"],
    ),
    Case(
        "two literals in one command (LOGIN), each waiting for +",
        [
            S(GREETING),
            C(b"LOGIN {7}"),
            S(b"+ \r\n"),
            C(b"frobozz"),
            C(b" {5}"),
            S(b"+ \r\n"),
            C(b"xyzzy"),
            C(b""),
            S(b"A0001 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "+ continue",
            "END + continue",
            "+ continue",
            "END + continue",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
        pending=[0, 1, 0, 0, 1, 0, 0, 1, 0],
        wire=[b"A0001 LOGIN {7}\r\n", b"frobozz", b" {5}\r\n", b"xyzzy", b"\r\n"],
        check=lambda r: (
            (r.framer.state, r.framer.capabilities) == ("authenticated", ("IMAP4rev1", "IDLE"))
        ),
    ),
    Case(
        "a NO instead of + ends the command; the next line is a new command",
        [
            S(GREETING),
            C(b"APPEND Nowhere {11}"),
            S(b"A0001 NO [TRYCREATE] Mailbox doesn't exist: Nowhere\r\n"),
            C(b"NOOP"),
        ],
        ["* OK info", "END * OK ok", "A0001 NO temporary", "END A0001 NO temporary"],
        pending=[0, 1, 0, 1],
        wire=[b"A0001 APPEND Nowhere {11}\r\n", b"A0002 NOOP\r\n"],
    ),
    # -- IDLE, AUTHENTICATE, STARTTLS ---------------------------------------------
    Case(
        "IDLE with an unsolicited EXISTS, ended by an untagged DONE",
        [
            S(GREETING),
            C(b"A0002 SELECT INBOX"),
            S(SELECT_RESPONSE),
            C(b"IDLE"),
            S(b"+ idling\r\n"),
            ("check", lambda f: (f.idling, f.state, f.pending) == (True, "idle", 0)),
            S(b"* 3 EXISTS\r\n"),
            C(b"DONE"),
            ("check", lambda f: (f.idling, f.state) == (False, "selected")),
            S(b"A0003 OK Idle completed (0.001 + 1.5 secs).\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "* EXISTS info",
            "* RECENT info",
            "* FLAGS info",
            "* OK info",
            "A0002 OK ok",
            "END A0002 OK ok",
            "+ continue",
            "END + continue",
            "* EXISTS info",
            "A0003 OK ok",
            "END A0003 OK ok",
        ],
        pending=[0, 1, 0, 1, 0, 0, 1, 0],
        wire=[b"A0002 SELECT INBOX\r\n", b"A0003 IDLE\r\n", b"DONE\r\n"],
        check=lambda r: r.framer.exists == 3,
    ),
    Case(
        "AUTHENTICATE: + challenges are turn ends, responses are not tagged",
        [
            S(DOVECOT_GREETING),
            C(b"AUTHENTICATE PLAIN"),
            S(b"+ \r\n"),
            C(b"AGZyb2JvenoAeHl6enk="),
            S(b"A0001 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "+ continue",
            "END + continue",
            "A0001 OK ok",
            "END A0001 OK ok",
        ],
        pending=[0, 1, 0, 1, 0],
        wire=[b"A0001 AUTHENTICATE PLAIN\r\n", b"AGZyb2JvenoAeHl6enk=\r\n"],
        check=lambda r: (r.framer.state, r.framer.capabilities[-1]) == ("authenticated", "MOVE"),
    ),
    Case(
        "AUTHENTICATE with two challenges, cancelled with *",
        [
            S(GREETING),
            C(b"AUTHENTICATE CRAM-MD5"),
            S(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n"),
            C(b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"),
            S(b"+ again\r\n"),
            C(b"*"),
            S(b"A0001 BAD Authentication aborted by client.\r\n"),
        ],
        [
            "* OK info",
            "END * OK ok",
            "+ continue",
            "END + continue",
            "+ continue",
            "END + continue",
            "A0001 BAD error",
            "END A0001 BAD error",
        ],
        pending=[0, 1, 0, 1, 0, 1, 0],
        check=lambda r: r.framer.state == "not-authenticated",
    ),
    Case(
        "STARTTLS refused: no upgrade",
        [S(DOVECOT_GREETING), C(b"STARTTLS"), S(b"A0001 NO not now\r\n")],
        ["* OK info", "END * OK ok", "A0001 NO temporary", "END A0001 NO temporary"],
        check=lambda r: r.framer.trailing_data == b"",
    ),
    # -- EOF -------------------------------------------------------------------
    Case(
        "EOF before the greeting is unclean",
        [S(b"* OK gre"), EOF],
        ["CLOSED unclean"],
    ),
    Case(
        "EOF inside a literal is unclean",
        [S(GREETING), S(b"* 1 FETCH (BODY[] {10}\r\nhello"), EOF],
        ["* OK info", "END * OK ok", "* FETCH info {10}", "payload 5/10", "CLOSED unclean"],
    ),
    Case(
        "EOF after a literal, before the rest of its line, is unclean",
        [S(GREETING), S(b"* 1 FETCH (BODY[] {5}\r\nhello"), EOF],
        ["* OK info", "END * OK ok", "* FETCH info {5}", "payload 5/5", "CLOSED unclean"],
    ),
    Case(
        "EOF with a command unanswered is unclean",
        [S(GREETING), C(b"NOOP"), EOF],
        ["* OK info", "END * OK ok", "CLOSED unclean"],
    ),
    Case(
        "EOF with nothing outstanding is clean, even without BYE",
        [S(GREETING), EOF],
        ["* OK info", "END * OK ok", "CLOSED clean"],
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_scripted(case: Case, mode: str) -> None:
    r = drive(case.steps, mode, case.framer())
    assert r.summaries == case.expect
    if case.pending is not None:
        assert r.pending == case.pending
    if case.wire is not None:
        assert r.wire == case.wire
    # Lossless: every byte the server sent is in exactly one event's raw.
    fed = b"".join(d for k, d in case.steps if k == "S" and isinstance(d, bytes))
    assert b"".join(e.raw for e in r.events) == fed[: len(b"".join(e.raw for e in r.events))]
    if not any(isinstance(e, ConnectionClosed) and not e.clean for e in r.events):
        assert b"".join(e.raw for e in r.events) == fed
    if case.check is not None:
        assert case.check(r) in (None, True)


def test_lecture_identical_across_modes() -> None:
    """The events themselves (not just summaries) do not depend on chunking."""
    steps: list[Step] = [S(GREETING), C(b"A0004 FETCH 1 BODY[HEADER]"), S(FETCH_HEADER_RESPONSE)]
    whole = drive(steps, "whole").events
    assert drive(steps, "bytes").events == whole
    assert drive(steps, "trailing").events == whole


# ---------------------------------------------------------------------------
# Literal edge cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"* 1 FETCH (BODY[] {-1}\r\n",
        b"* 1 FETCH (BODY[] {x}\r\n",
        b"* 1 FETCH (BODY[] {}\r\n",
        b"* 1 FETCH (BODY[] {5}}\r\n",
        b"* 1 FETCH (BODY[] { 5}\r\n",
        b"* 1 FETCH (BODY[] {12345678901234567890}\r\n",  # 20 digits
        b"* 1 FETCH (BODY[] {9223372036854775808}\r\n",  # 2**63
        b"* 1 FETCH (BODY[] {" + b"9" * 5000 + b"}\r\n",
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_bad_literal_size_is_remote_error(line: bytes, mode: str) -> None:
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    with pytest.raises(RemoteProtocolError, match="literal"):
        if mode == "bytes":
            for i in range(len(line)):
                f.receive_data(line[i : i + 1])
                drain(f)
        else:
            f.receive_data(line + (TRAILING if mode == "trailing" else b""))
            drain(f)
    # The framer is dead from then on.
    with pytest.raises(RemoteProtocolError):
        f.next_event()


def test_bad_literal_in_a_continued_segment() -> None:
    f = ImapFramer()
    f.receive_data(GREETING + b"* 1 FETCH (A {2}\r\nhi B {x}\r\n")
    with pytest.raises(RemoteProtocolError):
        drain(f)


def _feed_big_literal(size: int, chunk: int = 1 << 20) -> tuple[int, int, int]:
    """Feed a FETCH with a literal of ``size`` bytes in 1 MB chunks, consuming
    events as they come; return (payload bytes seen, events, peak memory)."""
    f = ImapFramer()
    f.send(b"FETCH 1 BODY[]")
    tracemalloc.start()
    try:
        f.receive_data(GREETING + b"* 1 FETCH (BODY[] {%d}\r\n" % size)
        seen = count = 0
        block = b"A0001 OK fake\r\n" * (chunk // 15) + b"x" * (chunk % 15)
        assert len(block) == chunk
        sent = 0
        while sent < size:
            part = block[: min(chunk, size - sent)]
            f.receive_data(part)
            sent += len(part)
            for ev in drain(f):
                count += 1
                if isinstance(ev, Payload):
                    assert len(ev.raw) <= f.limits.chunk_size
                    assert ev.offset == seen and ev.total == size
                    seen += len(ev.raw)
                else:
                    assert not isinstance(ev, ResponseEnd) or ev.status == "* OK"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seen, count, peak


def test_1_gb_literal_streams_in_bounded_memory() -> None:
    """A 1 GB literal, fed in 1 MB chunks and consumed as it comes (about
    0.3 s here), never costs more than a few chunks of memory."""
    started = time.monotonic()
    size = 1 << 30
    seen, count, peak = _feed_big_literal(size)
    assert seen == size
    assert count >= size // DEFAULT_LIMITS.chunk_size
    assert peak < 8 << 20, f"peak {peak} bytes"
    assert time.monotonic() - started < 8


def test_huge_declared_literal_is_not_preallocated() -> None:
    f = ImapFramer()
    tracemalloc.start()
    try:
        f.receive_data(GREETING + b"* 1 FETCH (BODY[] {9999999999}\r\n" + b"x" * 100_000)
        events = drain(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20
    opener = events[2]
    assert isinstance(opener, ImapLine) and opener.literal == 9999999999
    payloads = [e for e in events if isinstance(e, Payload)]
    assert sum(len(p.raw) for p in payloads) == 100_000
    assert all(p.total == 9999999999 for p in payloads)


def test_200kb_search_line() -> None:
    numbers = b" ".join(str(i).encode() for i in range(1, 36_000))
    line = b"* SEARCH " + numbers + b"\r\n"
    assert 200_000 < len(line) < 1 << 20
    r = drive([S(GREETING), C(b"SEARCH ALL"), S(line + b"A0001 OK Search completed\r\n")])
    assert r.summaries[2:] == ["* SEARCH info", "A0001 OK ok", "END A0001 OK ok"]
    assert r.events[2].raw == line


def test_line_over_the_limit_is_remote_error() -> None:
    f = ImapFramer(Limits(max_line=1024))
    f.receive_data(GREETING + b"* SEARCH " + b"1 " * 600)
    with pytest.raises(RemoteProtocolError, match="longer"):
        drain(f)


def test_endless_line_after_a_literal_is_bounded() -> None:
    f = ImapFramer(Limits(max_line=1024))
    f.receive_data(GREETING + b"* 1 FETCH (BODY[] {2}\r\nhi" + b"x" * 2000)
    with pytest.raises(RemoteProtocolError):
        drain(f)


def test_payload_chunks_respect_chunk_size() -> None:
    f = ImapFramer(Limits(chunk_size=10))
    f.receive_data(GREETING + b"* 1 FETCH (BODY[] {25}\r\n" + b"y" * 25 + b")\r\n")
    payloads = [e for e in drain(f) if isinstance(e, Payload)]
    assert [len(p.raw) for p in payloads] == [10, 10, 5]
    assert [p.offset for p in payloads] == [0, 10, 20]


def test_eof_reasons_say_what_happened() -> None:
    f = ImapFramer()
    f.receive_data(GREETING + b"* 1 FETCH (BODY[] {10}\r\nhello")
    f.receive_data(b"")
    closed = drain(f)[-1]
    assert isinstance(closed, ConnectionClosed) and not closed.clean
    assert "literal" in closed.reason and "5 of 10" in closed.reason
    assert f.next_event() is NEED_DATA  # emitted once


# ---------------------------------------------------------------------------
# Client side: tagging, literals, IDLE
# ---------------------------------------------------------------------------


def test_auto_tagging_follows_the_lecture() -> None:
    f = ImapFramer()
    assert f.next_tag() == "A0001" and f.last_tag is None
    assert f.send(b'A0001 USER "frobozz" "xyzzy"') == b'A0001 USER "frobozz" "xyzzy"\r\n'
    assert f.next_tag() == "A0002"  # the user's tag is not reused
    assert f.send(b"SELECT INBOX") == b"A0002 SELECT INBOX\r\n"
    assert f.send(b"fetch 1 rfc822.size") == b"A0003 fetch 1 rfc822.size\r\n"
    assert f.last_tag == "A0003" and f.next_tag() == "A0004"
    assert f.send(b"A0007 NOOP") == b"A0007 NOOP\r\n"
    assert f.next_tag() == "A0008"
    assert f.send(b"x1 NOOP") == b"x1 NOOP\r\n"  # another tag style: counter unchanged
    assert f.last_tag == "x1" and f.next_tag() == "A0008"
    assert f.send(b"UID FETCH 1:* FLAGS") == b"A0008 UID FETCH 1:* FLAGS\r\n"
    assert f.outstanding == ("A0001", "A0002", "A0003", "A0007", "x1", "A0008")


def test_the_lectures_user_line_typed_without_a_tag_gets_one() -> None:
    """USER is not IMAP, yet a student types the lecture's line without its tag: it gets
    A0001 like any command, so the server's BAD comes back tagged, as the lecture shows
    (it used to be sent untagged, with USER taken as the tag: "USER BAD ... FROBOZZ")."""
    f = ImapFramer()
    assert f.send(b'USER "frobozz" "xyzzy"') == b'A0001 USER "frobozz" "xyzzy"\r\n'
    assert f.send(b"user bob redqueen") == b"A0002 user bob redqueen\r\n"
    assert f.send(b'A0007 USER "frobozz" "xyzzy"') == b'A0007 USER "frobozz" "xyzzy"\r\n'
    assert f.send(b"t.1 FROB") == b"t.1 FROB\r\n"  # not letters only: the user's tag
    assert f.send(b"x LOGIN bob redqueen") == b"x LOGIN bob redqueen\r\n"  # a command follows
    assert f.outstanding == ("A0001", "A0002", "A0007", "t.1", "x")


def test_tag_prefix() -> None:
    f = ImapFramer(tag_prefix="FNHG")
    assert f.send(b'LIST "" *') == b'FNHG0001 LIST "" *\r\n'
    with pytest.raises(ValueError):
        ImapFramer(tag_prefix="A B")


@pytest.mark.parametrize(
    ("line", "wire"),
    [
        (b"NOOP\r\n", b"A0001 NOOP\r\n"),
        (b"NOOP\n", b"A0001 NOOP\r\n"),
        (b"NOOP\r", b"A0001 NOOP\r\n"),
    ],
)
def test_a_pasted_terminator_is_not_doubled(line: bytes, wire: bytes) -> None:
    assert ImapFramer().send(line) == wire


@pytest.mark.parametrize("line", [b"NOOP\rX", b"NO\nOP", b"A1 LOGIN a\r\nA2 NOOP"])
def test_cr_or_lf_inside_a_command_is_local_error(line: bytes) -> None:
    f = ImapFramer()
    with pytest.raises(LocalProtocolError):
        f.send(line)
    assert f.pending == 1  # nothing was learned: only the greeting is awaited


def test_sending_before_the_plus_is_refused() -> None:
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    f.send(b"APPEND INBOX {11}")
    with pytest.raises(LocalProtocolError, match=r"'\+'"):
        f.send(b"hello world")
    g = ImapFramer()
    g.send(b"IDLE")
    with pytest.raises(LocalProtocolError):
        g.send(b"DONE")


@pytest.mark.parametrize(
    ("size", "line"),
    [(5, b"hello world"), (6, b"hello")],  # too long; fits but its CRLF does not
)
def test_literal_line_that_does_not_fit_is_refused(size: int, line: bytes) -> None:
    f = ImapFramer()
    f.send(b"APPEND INBOX {%d+}" % size)
    with pytest.raises(LocalProtocolError, match="literal"):
        f.send(line)
    assert f.send(b"x" * size) == b"x" * size  # still waiting for the same bytes


def test_mid_command_says_when_the_next_line_continues_a_command() -> None:
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    assert not f.mid_command
    f.send(b"APPEND INBOX {5}")
    assert not f.mid_command  # waiting for "+": nothing may be sent
    assert f.literal_remaining is None
    f.receive_data(b"+ OK\r\n")
    drain(f)
    assert f.mid_command and f.literal_remaining == 5
    assert not f.command_continues  # still inside the literal
    assert f.send(b"hel") == b"hel\r\n"  # 3 octets + CRLF: the literal is complete
    assert f.mid_command and f.literal_remaining is None  # the rest of the line is due
    assert f.command_continues  # the shell's prompt says Enter ends it
    f.send(b"")
    assert not f.mid_command and not f.command_continues
    f.send(b"IDLE")
    f.receive_data(b"+ idling\r\n")
    drain(f)
    assert f.mid_command and not f.command_continues


def test_a_command_typed_after_a_literal_ends_the_literals_command() -> None:
    """`LOGIN bob {8}`, `redqueen`, then `SELECT INBOX`: what follows a literal on its line
    starts with SP or ")" (RFC 3501 9), so SELECT is the next command, after the CRLF that
    ends LOGIN; it was glued on ("redqueenSELECT INBOX") and Dovecot answered BAD."""
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    f.send(b"LOGIN bob {8+}")
    assert f.send(b"redqueen") == b"redqueen"
    assert f.send(b"SELECT INBOX") == b"\r\nA0002 SELECT INBOX\r\n"
    assert f.outstanding == ("A0001", "A0002") and f.pending == 2 and not f.mid_command
    f.send(b"APPEND INBOX (\\Seen) {2+}")
    f.send(b"hi")
    assert f.send(b" {3+}") == b" {3+}\r\n"  # the line goes on after a literal: SP...
    f.send(b"abc")
    assert f.send(b")") == b")\r\n"  # ... or ")" (not valid here, but the server's to say)
    assert f.outstanding == ("A0001", "A0002", "A0003")


def test_literal_data_may_contain_crlf() -> None:
    f = ImapFramer()
    msg = b"Subject: x\r\n\r\nbody"
    f.send(b"APPEND INBOX {%d+}" % len(msg))
    assert f.send(msg) == msg
    assert f.send(b"") == b"\r\n"
    assert f.pending == 2  # greeting + the APPEND


def test_empty_sync_literal_goes_straight_to_the_rest() -> None:
    f = ImapFramer()
    f.receive_data(GREETING + b"")
    drain(f)
    assert f.send(b"LOGIN frobozz {0}") == b"A0001 LOGIN frobozz {0}\r\n"
    f.receive_data(b"+ \r\n")
    assert summary(drain(f)[-1]) == "END + continue"
    assert f.send(b"") == b"\r\n"
    assert f.pending == 1


def test_send_raw_learns_without_tagging() -> None:
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    data = b"A0005 APPEND INBOX {5}\r\nhello\r\nA0006 NO"
    assert f.send_raw(data) == data
    assert f.outstanding == ("A0005",)  # "A0006 NO" is not a complete line yet
    assert f.send_raw(b"OP\r\n") == b"OP\r\n"
    assert list(f.outstanding) == ["A0005", "A0006"]
    assert f.next_tag() == "A0007"
    # The "+" the user did not wait for arrives late: shown, ends nothing.
    f.receive_data(b"+ OK\r\nA0005 OK done\r\nA0006 OK done\r\n")
    assert [summary(e) for e in drain(f)] == [
        "+ continue",
        "A0005 OK ok",
        "END A0005 OK ok",
        "A0006 OK ok",
        "END A0006 OK ok",
    ]
    assert f.pending == 0


def test_send_after_partial_raw_is_not_tagged() -> None:
    f = ImapFramer()
    f.send_raw(b"A9 NO")
    assert f.send(b"OP") == b"OP\r\n"
    assert f.outstanding == ("A9",)


def test_idle_done_is_never_tagged_and_other_lines_end_idle_too() -> None:
    f = ImapFramer()
    f.receive_data(GREETING)
    drain(f)
    f.send(b"IDLE")
    f.receive_data(b"+ idling\r\n")
    drain(f)
    assert f.idling and f.pending == 0
    f.receive_data(b"+ still idling\r\n")  # no command waits for this one
    assert [summary(e) for e in drain(f)] == ["+ continue"]
    assert f.idling and f.pending == 0
    assert f.send(b"NOOP") == b"NOOP\r\n"  # the server will end the IDLE with BAD
    assert not f.idling and f.pending == 1
    f.receive_data(b"A0001 BAD Expected DONE.\r\n")
    assert summary(drain(f)[-1]) == "END A0001 BAD error"


# ---------------------------------------------------------------------------
# STARTTLS
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["whole", "bytes"])
def test_starttls_injection_lands_in_trailing_data(mode: str) -> None:
    injected = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\nA0002 OK fake\r\n"
    r = drive(
        [
            S(DOVECOT_GREETING),
            C(b"STARTTLS"),
            S(b"A0001 OK Begin TLS negotiation now.\r\n" + injected),
        ],
        mode,
    )
    f = r.framer
    assert r.summaries == ["* OK info", "END * OK ok", "A0001 OK ok", "END A0001 OK ok starttls"]
    assert f.trailing_data == injected
    assert f.state == "tls-pending" and f.pending == 0
    f.receive_data(b"more")
    assert drain(f) == [] and f.trailing_data == injected + b"more"
    f.tls_started()
    assert f.trailing_data == b"" and f.capabilities == ()
    assert str(f.state) == "not-authenticated"
    f.receive_data(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
    assert [summary(e) for e in drain(f)] == ["* CAPABILITY info"]
    assert f.auth_mechanisms == ("PLAIN",)


def test_tls_started_without_starttls_is_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        ImapFramer().tls_started()


def test_eof_during_tls_pending() -> None:
    r = drive([S(GREETING), C(b"STARTTLS"), S(b"A0001 OK go\r\n")])
    r.framer.receive_data(b"")
    closed = drain(r.framer)
    assert [summary(e) for e in closed] == ["CLOSED unclean"]


def test_plaintext_flood_after_starttls_is_bounded() -> None:
    r = drive(
        [S(GREETING), C(b"STARTTLS"), S(b"A0001 OK go\r\n")],
        framer=ImapFramer(Limits(max_line=100)),
    )
    for _ in range(1000):
        r.framer.receive_data(b"x" * 101)
    assert len(r.framer.trailing_data) == 100  # kept up to the limit, not more
    with pytest.raises(RemoteProtocolError, match="STARTTLS"):
        r.framer.next_event()


# ---------------------------------------------------------------------------
# Learned facts
# ---------------------------------------------------------------------------


def test_mailboxes_capabilities_and_state() -> None:
    r = drive(
        [
            S(DOVECOT_GREETING),
            ("check", lambda f: "STARTTLS" in f.capabilities),
            C(b"LOGIN frobozz xyzzy"),
            S(b"A0001 OK Logged in\r\n"),
            C(b'LIST "" *'),
            S(
                b'* LIST (\\HasNoChildren) "." "INBOX"\r\n'
                b'* LIST (\\HasNoChildren) "/" Sent\r\n'
                b'* LIST () "/" "Sent Items"\r\n'
                b'* LIST () "/" "quo\\"ted"\r\n'
                b'* LSUB () "/" {5}\r\nDraft\r\n'
                b'* STATUS "Archive 2020" (MESSAGES 2 UNSEEN 1)\r\n'
                b"A0002 OK List completed.\r\n"
            ),
            C(b"CREATE Foo"),
            C(b'RENAME "Sent Items" Old'),
            C(b"DELETE Sent"),
            S(b"A0003 OK\r\nA0004 OK\r\nA0005 OK\r\n"),
            C(b"CAPABILITY"),
            S(b"* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN AUTH=XOAUTH2\r\nA0006 OK\r\n"),
            C(b"EXAMINE {5}"),
            S(b"+ OK\r\n"),
            C(b"INBOX"),
            C(b""),
            S(b"* 4 EXISTS\r\n* 2 EXPUNGE\r\nA0007 OK [READ-ONLY] done\r\n"),
        ]
    )
    f = r.framer
    assert f.mailboxes == ("INBOX", 'quo"ted', "Draft", "Archive 2020", "Foo", "Old")
    assert f.auth_mechanisms == ("PLAIN", "XOAUTH2")
    assert (f.state, f.selected, f.exists) == ("selected", "INBOX", 3)
    f.send(b"SELECT Nope")
    f.receive_data(b"A0008 NO [NONEXISTENT] Mailbox doesn't exist\r\n")
    drain(f)
    assert (f.state, f.selected, f.exists) == ("authenticated", None, None)
    f.send(b"LOGOUT")
    assert f.state == "logout"


def test_big_mailbox_literal_is_not_captured() -> None:
    f = ImapFramer()
    name = b"x" * 5000
    f.receive_data(GREETING + b'* LIST () "/" {5000}\r\n' + name + b"\r\n")
    drain(f)
    assert f.mailboxes == ()


# ---------------------------------------------------------------------------
# line_status and the vocabulary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("* OK example.com IMAP4rev1 v12.264 server ready", "* OK"),
        ("A0001 OK [READ-WRITE] SELECT completed", "A0001 OK"),
        ("a1 no sorry", "a1 NO"),
        ("FNHG3 BAD x", "FNHG3 BAD"),
        ("* 1 EXISTS", "* EXISTS"),
        ("* 3 FETCH (FLAGS ())", "* FETCH"),
        ("* FLAGS (\\Answered)", "* FLAGS"),
        ("* SEARCH", "* SEARCH"),
        ("+ idling", "+"),
        ("+", "+"),
        (")", None),
        (" BODY[TEXT] {3}", None),
        ("", None),
        ("A0001", None),
        ("* BYE bye\r\n", "* BYE"),
    ],
)
def test_line_status(text: str, status: str | None) -> None:
    assert line_status(text) == status


def test_line_status_agrees_with_the_framer() -> None:
    r = drive([S(GREETING), C(b"A0002 SELECT INBOX"), S(SELECT_RESPONSE), S(FETCH_TEXT_RESPONSE)])
    lines = [e for e in r.events if isinstance(e, ImapLine) and not e.continued]
    assert len(lines) >= 8
    for ev in lines:
        assert line_status(ev.text) == ev.status


BRIEF_COMMANDS = [
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "IDLE",
    "NAMESPACE",
    "ENABLE",
    "MOVE",
    "UNSELECT",
    "ID",
]


def test_vocabulary_commands() -> None:
    assert set(BRIEF_COMMANDS) == set(VOCABULARY.commands)
    assert VOCABULARY.command("user") is None  # the lecture's USER is not IMAP
    assert VOCABULARY.command("done") is None  # IDLE's DONE is not a command
    for cmd in VOCABULARY.commands.values():
        assert cmd.rfc.startswith("RFC ") and cmd.meaning and cmd.syntax.startswith(cmd.name)
    assert VOCABULARY.command("select").args == ("mailbox",)  # type: ignore[union-attr]
    assert VOCABULARY.command("FETCH").args == ("message", "fetch-item")  # type: ignore[union-attr]
    assert VOCABULARY.command("LOGOUT").phase == "goodbye"  # type: ignore[union-attr]
    assert VOCABULARY.command("LOGIN").phase == "identify"  # type: ignore[union-attr]


def test_vocabulary_replies_and_words() -> None:
    for code in [
        "OK",
        "NO",
        "BAD",
        "PREAUTH",
        "BYE",
        "+",
        "ALERT",
        "CAPABILITY",
        "PARSE",
        "PERMANENTFLAGS",
        "READ-ONLY",
    ]:
        assert VOCABULARY.reply(code) is not None, code
    for code in ["READ-WRITE", "TRYCREATE", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "EXISTS", "FETCH"]:
        assert VOCABULARY.reply(code) is not None, code
    assert VOCABULARY.reply("no").outcome == "temporary"  # type: ignore[union-attr]
    assert VOCABULARY.reply("BAD").outcome == "error"  # type: ignore[union-attr]
    assert VOCABULARY.reply("+").outcome == "continue"  # type: ignore[union-attr]
    items = set(VOCABULARY.words["fetch-item"])
    for item in [
        "FLAGS",
        "UID",
        "INTERNALDATE",
        "RFC822",
        "RFC822.SIZE",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "BODY[]",
        "BODY[HEADER]",
        "BODY[TEXT]",
        "BODY.PEEK[]",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "ALL",
        "FAST",
        "FULL",
    ]:
        assert item in items
    assert "UIDVALIDITY" in VOCABULARY.words["status-item"]
    assert "UNSEEN" in VOCABULARY.words["search-key"]
    assert "\\Seen" in VOCABULARY.words["flag"]
    hints = {a for c in VOCABULARY.commands.values() for a in c.args}
    assert {"mailbox", "fetch-item", "auth-mechanism", "search-key", "status-item", "flag"} <= hints


# ---------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------

FRAGMENTS = [
    b"* ",
    b"A0001 ",
    b"+ ",
    b"OK",
    b"NO",
    b"BYE",
    b"1 FETCH (",
    b"EXISTS",
    b"{3}",
    b"{0}",
    b"{2+}",
    b"{x}",
    b"{",
    b"}",
    b'"',
    b"\\",
    b")",
    b" ",
    b"abc",
    b"\r\n",
    b"\n",
    b"\r",
    b"\x00\xff",
]


def _fuzz(data: bytes, cuts: list[int], sends: list[bytes], eof: bool) -> None:
    f = ImapFramer(Limits(max_line=256, chunk_size=7))
    for line in sends:
        try:
            f.send(line)
        except LocalProtocolError:
            pass
    events: list[Event] = []
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    try:
        for a, b in itertools.pairwise(points):
            f.receive_data(data[a:b])
            events += drain(f)
            assert f.pending >= 0
        if eof:
            f.receive_data(b"")
            events += drain(f)
    except RemoteProtocolError:
        pass
    got = b"".join(e.raw for e in events)
    assert data.startswith(got) or got == b""  # lossless, in order
    for ev in events:
        assert isinstance(ev, (ServerLine, Payload, ResponseEnd, ConnectionClosed))
        if isinstance(ev, ImapLine) and not ev.continued:
            try:
                ev.raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            assert line_status(ev.text) == ev.status


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=600),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8),
    eof=st.booleans(),
)
def test_fuzz_any_bytes(data: bytes, cuts: list[int], eof: bool) -> None:
    _fuzz(data, cuts, [], eof)


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.sampled_from(FRAGMENTS), max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    sends=st.lists(
        st.sampled_from(
            [
                b"NOOP",
                b"IDLE",
                b"DONE",
                b"APPEND X {3}",
                b"APPEND X {2+}",
                b"abc",
                b"",
                b"STARTTLS",
                b"AUTHENTICATE PLAIN",
                b"A0001 LOGOUT",
            ]
        ),
        max_size=5,
    ),
    eof=st.booleans(),
)
def test_fuzz_imap_shaped_bytes(
    parts: list[bytes], cuts: list[int], sends: list[bytes], eof: bool
) -> None:
    _fuzz(b"".join(parts), cuts, sends, eof)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.binary(max_size=40), max_size=12), server=st.binary(max_size=80))
def test_fuzz_send(lines: list[bytes], server: bytes) -> None:
    """Any line either goes out or is refused with LocalProtocolError; a
    sent command line always ends in exactly one CRLF."""
    f = ImapFramer()
    for i, line in enumerate(lines):
        was_literal = f._mode == "literal"
        try:
            wire = f.send(line)
        except LocalProtocolError:
            continue
        if not was_literal:
            assert wire.endswith(b"\r\n") and not wire.endswith(b"\r\n\r\n")
            assert wire.count(b"\n") == 1
        assert f.pending >= 0
        if i == 2:
            f.receive_data(server)
            try:
                drain(f)
            except RemoteProtocolError:
                return
    assert f.send_raw(b"".join(lines)) == b"".join(lines)
