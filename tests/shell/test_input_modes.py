"""What a typed line means: meta or protocol, HTTP buffer, IMAP literal, pipeline."""

from __future__ import annotations

import pytest

from protoshell.proto.base import NEED_DATA
from protoshell.proto.pop3 import Pop3Framer
from protoshell.proto.smtp import SmtpFramer
from protoshell.shell.input_modes import (
    POP3_REFUSAL,
    MetaLine,
    ProtocolLine,
    classify,
    http_request_complete,
    http_request_hint,
    pipeline_refusal,
    prompt_text,
    split_http_request,
)


def drain(framer: object) -> None:
    for _ in range(100):
        if framer.next_event() is NEED_DATA:  # type: ignore[attr-defined]
            return


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":help EHLO", MetaLine("help", "EHLO")),
        (":QUIT", MetaLine("quit", "")),
        (":raw  a\\r\\n ", MetaLine("raw", " a\\r\\n ")),  # :raw keeps every space
        ("::help", ProtocolLine(":help")),
        ("RSET", ProtocolLine("RSET")),
        ("Rset", ProtocolLine("Rset")),  # no magic letters (openssl s_client's R)
        ("", ProtocolLine("")),
    ],
)
def test_classify(text: str, expected: object) -> None:
    assert classify(text) == expected


@pytest.mark.parametrize(
    ("buffer", "complete"),
    [
        ("GET / HTTP/1.1", False),
        ("GET / HTTP/1.1\nHost: x", False),
        ("GET / HTTP/1.1\n", True),
        ("GET / HTTP/1.1\nHost: x\n", True),
        ("\nGET / HTTP/1.1", False),  # a leading empty line does not end it
        ("POST / HTTP/1.1\nContent-Length: 5\n", False),
        ("POST / HTTP/1.1\nContent-Length: 5\n\nhel", False),
        ("POST / HTTP/1.1\nContent-Length: 5\n\nhello", True),
        ("POST / HTTP/1.1\nContent-Length: 7\n\nab\ncde", True),  # CRLF counts
        (":quit", True),
        ("", True),
    ],
)
def test_http_request_complete(buffer: str, complete: bool) -> None:
    assert http_request_complete(buffer) is complete


def test_split_http_request() -> None:
    head, body = split_http_request("POST /f HTTP/1.1\nContent-Length: 7\n\nab\ncdefgh")
    assert head == [b"POST /f HTTP/1.1", b"Content-Length: 7"]
    assert body == b"ab\r\ncde"
    assert split_http_request("GET / HTTP/1.0\n") == ([b"GET / HTTP/1.0"], b"")


def test_pop3_pipeline_refused_with_the_lecture_question() -> None:
    framer = Pop3Framer()
    reason = pipeline_refusal("pop3", framer)
    assert reason == POP3_REFUSAL
    assert "would it work for POP3? Why not?" in reason and "RFC 2449" in reason


def test_pop3_pipeline_allowed_when_capa_says_so() -> None:
    framer = Pop3Framer()
    framer.receive_data(b"+OK ready\r\n")
    drain(framer)
    framer.send(b"CAPA")
    framer.receive_data(b"+OK\r\nPIPELINING\r\nUSER\r\n.\r\n")
    drain(framer)
    assert pipeline_refusal("pop3", framer) is None


def test_smtp_pipeline_needs_the_ehlo_keyword() -> None:
    framer = SmtpFramer()
    assert "EHLO first" in (pipeline_refusal("smtp", framer) or "")
    framer.receive_data(b"220 hi\r\n")
    framer.send(b"EHLO me")
    framer.receive_data(b"250-hi\r\n250 SIZE 10\r\n")
    drain(framer)
    assert "does not list PIPELINING" in (pipeline_refusal("smtp", framer) or "")
    framer.send(b"EHLO me")
    framer.receive_data(b"250-hi\r\n250 PIPELINING\r\n")
    drain(framer)
    assert pipeline_refusal("smtp", framer) is None


def test_imap_and_http_pipeline() -> None:
    assert pipeline_refusal("imap", object()) is None
    assert pipeline_refusal("http", object()) is None


def test_prompt_says_what_enter_does() -> None:
    assert prompt_text("smtp") == "smtp> "
    assert prompt_text("smtp", message_mode=True) == "data> "
    assert prompt_text("imap", literal_left=11) == "literal (11 octets)> "
    assert prompt_text("imap", queued=2) == "imap pipeline [2]> "
    assert prompt_text("pop3", closed=True) == "closed> "
    assert prompt_text("imap", idling=True) == "idle (DONE ends it)> "


def test_http_request_hint_says_what_sends_it() -> None:
    # The "...>" prompt alone left a newcomer waiting for an answer to a request not sent.
    assert http_request_hint("GET / HTTP/1.1") == "an empty line sends the request"
    assert http_request_hint("GET / HTTP/1.1\nAccept: */*") == "an empty line sends the request"
    assert http_request_hint("POST /f HTTP/1.1\nContent-Length: 5\n\nab") == "the body: 3 more octets"
    assert http_request_hint("GET / HTTP/1.1\n") == "an empty line sends the request"  # on it now
    assert http_request_hint("POST /f HTTP/1.1\nContent-Length: 2\n\nab\n") is None  # all there
    assert http_request_hint("") is None and http_request_hint(":help") is None


def test_http_hint_says_a_typed_crlf_line_is_no_header() -> None:
    """The lecture's ``\\r\\n`` typed as a line is text: the toolbar says so while the
    request waits for its real empty line."""
    from protoshell.shell.input_modes import http_request_hint

    hint = http_request_hint("GET / HTTP/1.1\nHost: x\n\\r\\n\n")
    assert hint == "'\\r\\n' is no header line; an empty line sends the request"
    assert http_request_hint("GET / HTTP/1.1\nHost: x\n") == "an empty line sends the request"


def test_prompt_after_a_literal_says_the_command_goes_on() -> None:
    assert prompt_text("imap", command_continues=True) == "rest of the command (Enter ends it)> "
