"""Tests for protoshell/proto/imap_response.py: serialising response data."""

from __future__ import annotations

from dataclasses import dataclass

from protoshell.proto.imap_response import fetch_response, mailbox_name, string


def test_strings_quoted_or_literal() -> None:
    assert string(b'say "hi" \\o/') == b'"say \\"hi\\" \\\\o/"'
    assert string(b"two\r\nlines") == b"{10}\r\ntwo\r\nlines"
    assert string("caf\u00e9".encode()) == b"{5}\r\ncaf\xc3\xa9"
    assert mailbox_name("INBOX") == b"INBOX"
    assert mailbox_name("My Folder") == b'"My Folder"'


@dataclass
class _Span:
    size: int


def test_fetch_response_with_external_literal() -> None:
    span = _Span(1425)
    parts = fetch_response(1, [("UID", b"7"), ("BODY[HEADER]", span), ("FLAGS", b"(\\Seen)")])
    assert parts == [b"* 1 FETCH (UID 7 BODY[HEADER] {1425}\r\n", span, b" FLAGS (\\Seen))\r\n"]
    assert fetch_response(2, [("RFC822.SIZE", b"2545")]) == [b"* 2 FETCH (RFC822.SIZE 2545)\r\n"]
