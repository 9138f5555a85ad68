"""What completion learns: framer facts, and links from a directory listing."""

from __future__ import annotations

from protoshell.proto.base import NEED_DATA, Payload, ResponseEnd
from protoshell.proto.http import HttpHeaderLine, HttpStatusLine
from protoshell.proto.imap import ImapFramer
from protoshell.proto.pop3 import Pop3Framer
from protoshell.proto.smtp import SmtpFramer
from protoshell.session import Exchange
from protoshell.shell.facts import PathLearner, extract_links, learned_facts, request_path


def drain(framer: object) -> None:
    for _ in range(200):
        if framer.next_event() is NEED_DATA:  # type: ignore[attr-defined]
            return


def test_smtp_facts_from_ehlo() -> None:
    framer = SmtpFramer()
    framer.receive_data(b"220 hi\r\n")
    framer.send(b"EHLO me")
    framer.receive_data(b"250-hi\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n")
    drain(framer)
    facts = learned_facts(framer)
    assert facts["auth-mechanism"] == ("PLAIN", "LOGIN")
    assert facts["esmtp-keyword"] == ("AUTH", "PIPELINING")


def test_pop3_message_numbers_from_list() -> None:
    framer = Pop3Framer()
    framer.receive_data(b"+OK hi\r\n")
    framer.send(b"LIST")
    framer.receive_data(b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n")
    drain(framer)
    assert learned_facts(framer)["message"] == ("1", "2")


def test_imap_mailboxes_and_flags() -> None:
    framer = ImapFramer()
    framer.receive_data(b"* PREAUTH hi\r\n")
    framer.send(b'LIST "" *')
    framer.receive_data(
        b'* LIST (\\HasNoChildren) "." INBOX\r\n* LIST () "." Archive\r\nA0001 OK done\r\n'
    )
    drain(framer)
    facts = learned_facts(framer, ["/x"])
    assert facts["mailbox"] == ("INBOX", "Archive")
    assert facts["path"] == ("/x",)
    assert "message" not in facts  # nothing learned: no key


def test_extract_links_resolves_against_the_request_path() -> None:
    html = (
        '<a href="../">..</a><a href="b%20c.txt">b c</a><a href="sub/">sub/</a>'
        '<a href="/abs?x=1#frag">abs</a><a href="http://other/x">other</a><a>none</a>'
    )
    assert extract_links(html, "/dir/") == ["/", "/abs?x=1", "/dir/b%20c.txt", "/dir/sub/"]


def test_request_path() -> None:
    assert request_path(b"GET /a/ HTTP/1.1\r\n") == "/a/"
    assert request_path(b"Host: x\r\n") is None


def _ex(direction: str, raw: bytes, event: object = None) -> Exchange:
    return Exchange(direction, raw, event, 0.0)  # type: ignore[arg-type]


def test_path_learner_reads_html_listings_only() -> None:
    learner = PathLearner()
    status = HttpStatusLine(b"HTTP/1.1 200 OK\r\n", "HTTP 200", "ok", "HTTP/1.1", 200, "OK")
    html = HttpHeaderLine(b"", None, "info", "Content-Type", "text/html")
    text = HttpHeaderLine(b"", None, "info", "Content-Type", "text/plain")
    end = ResponseEnd(b"", "HTTP 200", "ok")
    for ex in [
        _ex("C", b"GET /docs/ HTTP/1.1\r\n"),
        _ex("C", b"Host: x\r\n"),
        _ex("C", b"\r\n"),
        _ex("S", status.raw, status),
        _ex("S", b"", html),
        _ex("S", b'<a href="a.txt">', Payload(b'<a href="a.txt">', 0, None)),
        _ex("S", b"x</a>", Payload(b"x</a>", 16, None)),
        _ex("S", b"", end),
    ]:
        learner(ex)
    assert learner.paths == ["/docs/a.txt"]
    for ex in [
        _ex("C", b"GET /docs/a.txt HTTP/1.1\r\n"),
        _ex("C", b"\r\n"),
        _ex("S", status.raw, status),
        _ex("S", b"", text),
        _ex("S", b'<a href="no.txt">', Payload(b'<a href="no.txt">', 0, None)),
        _ex("S", b"", end),
    ]:
        learner(ex)
    assert learner.paths == ["/docs/a.txt"]  # a text file's contents are not links
