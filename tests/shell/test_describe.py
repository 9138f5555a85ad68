""":help, :explain and :last texts, from the vocabulary tables."""

from __future__ import annotations

import pytest

from protoshell.proto import vocabulary_for
from protoshell.proto.base import ResponseEnd, ServerLine
from protoshell.session import Exchange
from protoshell.shell import describe, meta


@pytest.mark.parametrize(
    ("protocol", "code", "needle"),
    [
        ("smtp", "354", "start mail input"),
        ("smtp", "250-", "requested mail action okay"),  # a continuation line's status
        ("smtp", "299", "2xx positive completion"),  # not in the table: its class
        ("smtp", "421", "service not available"),
        ("smtp", "5.1.1", "addressing"),  # RFC 3463 enhanced code
        ("pop3", "-err", "-ERR"),
        ("imap", "A0003 NO", "NO"),
        ("imap", "* BYE", "BYE"),
        ("http", "404", "404"),
        ("http", "HTTP 418", "4xx client error"),
        ("http", "299", "2xx successful"),
    ],
)
def test_explain(protocol: str, code: str, needle: str) -> None:
    text = "\n".join(describe.explain(vocabulary_for(protocol), protocol, code))
    assert needle in text


def test_explain_unknown_word() -> None:
    assert describe.explain(vocabulary_for("pop3"), "pop3", "MAYBE") == [
        "MAYBE: not in the POP3 table"
    ]


def test_help_for_a_command_has_syntax_rfc_and_phase() -> None:
    text = "\n".join(describe.help_text(vocabulary_for("pop3"), meta.usages(), "retr"))
    assert "RETR" in text and "RFC 1939" in text and "the lecture's phase" in text


def test_help_for_http_method_says_safe_and_idempotent() -> None:
    post = "\n".join(describe.help_text(vocabulary_for("http"), meta.usages(), "POST"))
    assert "unsafe" in post and "not idempotent" in post
    get = "\n".join(describe.help_text(vocabulary_for("http"), meta.usages(), "GET"))
    assert "safe," in get and " idempotent" in get


def test_help_overview_lists_meta_commands_and_phases() -> None:
    text = "\n".join(describe.help_text(vocabulary_for("smtp"), meta.usages(), ""))
    for name in meta.REGISTRY:
        assert f":{name}" in text
    assert "identify yourself: HELO EHLO" in text
    assert "say goodbye: QUIT" in text


def test_help_meta_and_unknown() -> None:
    assert describe.help_text(None, meta.usages(), ":quit")[0] == ":quit"
    assert (
        "no help for 'FROB'" in describe.help_text(vocabulary_for("smtp"), meta.usages(), "FROB")[0]
    )


def test_last_summary_of_an_http_response() -> None:
    from protoshell.proto.http import HttpHeaderLine, HttpStatusLine

    exchanges = [
        Exchange(
            "S",
            b"HTTP/1.1 200 OK\r\n",
            HttpStatusLine(b"HTTP/1.1 200 OK\r\n", "HTTP 200", "ok", "HTTP/1.1", 200, "OK"),
            0.0,
        ),
        Exchange(
            "S",
            b"Content-Length: 5\r\n",
            HttpHeaderLine(b"Content-Length: 5\r\n", None, "info", "Content-Length", "5"),
            0.0,
        ),
        Exchange("S", b"", ResponseEnd(b"", "HTTP 200", "ok"), 0.0),
    ]
    # The body streamed: the session counted its 5 octets (Session.last_payload_size).
    text = describe.last_summary(exchanges, 0.0123, 5)
    assert text[0] == "status: HTTP 200 (ok)"
    assert "  Content-Length: 5" in text
    assert "lines: 2; payload: 5 octets; on the wire: 41 octets" in text
    assert text[-1] == "round trip: 12.3 ms"
    assert describe.last_status(exchanges) == "HTTP 200"


def test_last_summary_without_response() -> None:
    assert describe.last_summary([], None) == ["no response yet"]
    line = ServerLine(b"+OK\r\n", "+OK", "ok")
    assert describe.last_status([Exchange("S", line.raw, line, 0.0)]) == "+OK"
