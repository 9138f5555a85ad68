"""checker.py: what "matches" means, per protocol, in each mode (pure)."""

from __future__ import annotations

import pytest

from protoshell.replay.checker import (
    ActualClose,
    ActualLine,
    ActualPayload,
    Checker,
    describe_actual,
    describe_expected,
)
from protoshell.transcript import parse_transcript
from protoshell.transcript.model import Narration, ServerLine


def expected(text: str) -> ServerLine:
    step = parse_transcript(f"S: {text}" if text else "S:").steps[0]
    assert isinstance(step, ServerLine)
    return step


def narration(text: str) -> Narration:
    step = parse_transcript(text).steps[0]
    assert isinstance(step, Narration)
    return step


def line(raw: bytes, status: str | None) -> ActualLine:
    return ActualLine(raw, status)


# (protocol, expected text, actual bytes, framer status, matches by default?)
STATUS_CASES = [
    ("smtp", "250 OK", b"250 OK message accepted\r\n", "250", True),
    ("smtp", "250-8BITMIME", b"250-SIZE 33554432\r\n", "250-", True),
    ("smtp", "250-8BITMIME", b"250 HELP\r\n", "250", False),  # the continuation mark counts
    ("smtp", "550 No such user here", b"250 OK\r\n", "250", False),
    ("pop3", "+OK bob", b"+OK\r\n", "+OK", True),
    ("pop3", "+OK 2 320", b"-ERR no\r\n", "-ERR", False),
    ("pop3", "1 120", b"1 118\r\n", None, True),  # data line: any data line
    ("pop3", "1 120", b"+OK\r\n", "+OK", False),
    ("pop3", "+OK looks like status", b"+OK inside a message\r\n", None, True),  # text agrees
    ("pop3", ".", b".\r\n", ".", True),
    ("imap", "* OK User frobozz authenticated", b"A0001 BAD Error\r\n", "A0001 BAD", False),
    ("imap", "A0002 OK [READ-WRITE] SELECT completed", b"A0002 OK [READ-WRITE] Select completed.\r\n", "A0002 OK", True),
    ("imap", "A0002 OK done", b"A0003 OK done\r\n", "A0003 OK", False),  # the tag counts
    ("imap", "* 1 EXISTS", b"* 7 EXISTS\r\n", "* EXISTS", True),
    ("imap", "* 1 EXISTS", b"* 1 RECENT\r\n", "* RECENT", False),
    ("imap", ")", b")\r\n", None, True),
    ("http", "HTTP/1.1 200 OK", b"HTTP/1.0 200 Fine\r\n", "HTTP 200", True),
    ("http", "HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found\r\n", "HTTP 404", False),
    ("http", "Date: Mon, 23 May 2005 22:38:34 GMT", b"Server: x\r\n", None, True),
    ("http", "", b"\r\n", None, True),
]


@pytest.mark.parametrize(("protocol", "text", "raw", "status", "ok"), STATUS_CASES)
def test_default_mode_compares_protocol_status(protocol: str, text: str, raw: bytes, status: str | None, ok: bool) -> None:
    check = Checker(protocol).line(expected(text), line(raw, status))
    assert check.ok is ok, check.reason
    if not ok:
        assert check.reason


def test_mismatch_reason_names_both_statuses() -> None:
    check = Checker("imap").line(expected("* OK User frobozz authenticated"), line(b"A0001 BAD x\r\n", "A0001 BAD"))
    assert check.reason == "expected status * OK, the server answered A0001 BAD"
    assert (check.expected_status, check.actual_status) == ("* OK", "A0001 BAD")


@pytest.mark.parametrize(
    ("text", "raw", "ok"),
    [
        ("250 OK", b"250 OK\r\n", True),
        ("250 OK", b"250 OK message accepted\r\n", False),
        ("250 OK*", b"250 OK message accepted\r\n", True),
        ("220 * ESMTP *", b"220 mail.example ESMTP Postfix\r\n", True),
        ("250 OK", b"250 OK\n", False),  # the terminator is part of the line
        ("250 OK\\n", b"250 OK\n", True),
    ],
)
def test_strict_mode_compares_the_whole_line(text: str, raw: bytes, ok: bool) -> None:
    assert Checker("smtp", strict=True).line(expected(text), line(raw, "250")).ok is ok


def test_imap_untagged_star_is_literal_in_strict_mode() -> None:
    check = Checker("imap", strict=True).line(expected("* OK ready"), line(b"A1 OK ready\r\n", "A1 OK"))
    assert not check.ok


def test_captures_in_both_modes() -> None:
    want = expected("* OK [UIDVALIDITY $uv] *")
    got = line(b"* OK [UIDVALIDITY 1357449499] UIDs valid\r\n", "* OK")
    for strict in (False, True):
        check = Checker("imap", strict=strict).line(want, got)
        assert check.ok and check.captures == {"uv": "1357449499"}


def test_default_mode_capture_needs_the_text_too() -> None:
    check = Checker("smtp").line(expected("250 OK queued as $qid"), line(b"250 OK message accepted\r\n", "250"))
    assert not check.ok
    assert "$qid cannot be captured" in check.reason


def test_after_an_elision_data_lines_are_found_by_text() -> None:
    c = Checker("http")
    blank = expected("")
    assert not c.found_after_elision(blank, line(b"Server: x\r\n", None))
    assert c.found_after_elision(blank, line(b"\r\n", None))
    ctype = expected("Content-Type: text/html*")
    assert c.found_after_elision(ctype, line(b"Content-Type: text/html; charset=utf-8\r\n", None))
    assert c.found_after_elision(expected("HTTP/1.1 404 x"), line(b"HTTP/1.1 404 Not Found\r\n", "HTTP 404"))


def test_payload_size_only_under_strict() -> None:
    n = narration("S: <server sends 1425 octets of message payload>")
    assert Checker("imap").payload(n, ActualPayload(18)).ok
    check = Checker("imap", strict=True).payload(n, ActualPayload(18))
    assert not check.ok and check.reason == "expected 1425 octets, 18 arrived"
    assert Checker("imap", strict=True).payload(n, ActualPayload(1425)).ok
    any_size = narration("S: <the POP3 server sends the text of message 1>")
    assert Checker("pop3", strict=True).payload(any_size, ActualPayload(7)).ok


def test_descriptions_use_the_notation() -> None:
    assert describe_actual(ActualLine(b"250 OK \r\n", "250")) == "S: 250 OK\\x20"
    assert describe_actual(ActualLine(b"\r\n", None)) == "S:"
    assert describe_actual(ActualPayload(12)) == "S: <server sends 12 octets of message payload>"
    assert describe_actual(ActualClose("bye")) == "(the server closed the connection: bye)"
    assert describe_actual(None).startswith("(nothing more")
    assert describe_expected(expected("250 OK")) == "S: 250 OK"
    assert describe_expected(narration("S: ...")) == "S: ..."


def test_a_listing_longer_or_shorter_than_the_transcripts_says_so() -> None:
    # A lesson written for two messages, replayed on a maildrop of three (or one).
    check = Checker("pop3").line(expected("."), line(b"3 38\r\n", None))
    assert not check.ok and "end of the answer" in check.reason and "more to list" in check.reason
    check = Checker("pop3").line(expected("2 200"), line(b".\r\n", "."))
    assert not check.ok and "ended the answer" in check.reason


def test_a_count_that_changes_between_runs_says_how_to_accept_any() -> None:
    """A second run against a mailbox that changed: the reason says how to make
    the transcript robust (S: ...), not only that it differs."""
    more = Checker("pop3").line(expected("."), line(b"3 38\r\n", None))
    fewer = Checker("pop3").line(expected("2 200"), line(b".\r\n", "."))
    for check in (more, fewer):
        assert check.reason.endswith("a line 'S: ...' in place of the listed lines accepts any number")
    # Dovecot's SELECT adds "* OK [UNSEEN 1]" once a message is unseen.
    check = Checker("imap").line(expected("A0002 OK [READ-WRITE] Select completed."), line(b"* OK [UIDNEXT 5] x\r\n", "* OK"))
    assert check.reason == (
        "expected status A0002 OK, the server answered * OK: it sent more untagged responses than the "
        "transcript (the mailbox changed?); a line 'S: ...' before the tagged line accepts any number"
    )
    # The same under --strict (it only said that the text differs).
    strict = Checker("imap", strict=True).line(expected("A0002 OK [READ-WRITE] Select completed."), line(b"* OK [UIDNEXT 5] x\r\n", "* OK"))
    assert strict.reason.startswith("the text differs (--strict")
    assert strict.reason.endswith("a line 'S: ...' before the tagged line accepts any number")


def test_an_smtp_multiline_reply_is_one_reply_by_status() -> None:
    # The lecture's EHLO reply has 5 lines; a server's may have more or fewer (RFC 5321 4.2.1).
    c = Checker("smtp")
    assert c.reply_goes_on(expected("250 HELP"), line(b"250-SMTPUTF8\r\n", "250-"))
    assert c.reply_ended(expected("250-DSN"), line(b"250 HELP\r\n", "250"))
    assert not c.reply_goes_on(expected("250 HELP"), line(b"550-no\r\n", "550-"))  # another code
    assert not c.reply_ended(expected("250-DSN"), line(b"250-SIZE\r\n", "250-"))  # a line each
    assert not c.reply_ended(expected("250-$host"), line(b"250 HELP\r\n", "250"))  # captures need the line
    strict = Checker("smtp", strict=True)
    assert not strict.reply_goes_on(expected("250 HELP"), line(b"250-SMTPUTF8\r\n", "250-"))
    assert not Checker("pop3").reply_ended(expected("+OK"), line(b"+OK\r\n", "+OK"))


def test_a_header_to_capture_from_that_the_server_does_not_send_is_named() -> None:
    """The lab server sends no Date: the reason names the headers, not
    'the status matches' (header lines have no status)."""
    check = Checker("http").line(expected("Date: $weekday, $day $month $year $time GMT"), line(b"Content-Type: text/html\r\n", None))
    assert not check.ok
    assert check.reason.startswith("expected the server's Date header here, it sent Content-Type: it sends no Date header")
    assert "status matches" not in check.reason
    same = Checker("http").line(expected("Date: $weekday, x"), line(b"date: Mon 23 May\r\n", None))
    assert "cannot be captured: the text around it differs" in same.reason  # same header: as before
