"""The real shell against Dovecot (IMAP and POP3), through prompt_toolkit's pipe input."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.integration.servers import Dovecot

from .driver import running_shell

pytestmark = pytest.mark.timeout(30)

MESSAGE = b"From: alice@example.com\r\nSubject: lecture\r\n\r\nBlah blah blah...\r\n"


def login(sh: object) -> None:
    sh.expect(r"^S: \* OK ")  # type: ignore[attr-defined]
    sh.line("LOGIN bob redqueen")  # type: ignore[attr-defined]
    sh.expect(r"^S: A0001 OK ")  # type: ignore[attr-defined]


def test_imap_tags_are_added_unless_typed(dovecot: Dovecot) -> None:
    with running_shell(dovecot.imap_url) as sh:
        login(sh)
        sh.line("x7 NOOP")  # the user's own tag is kept
        sh.expect(r"^C: x7 NOOP$")
        sh.expect(r"^S: x7 OK ")
        sh.line("A0005 NOOP")  # a typed A-tag moves the counter past it
        sh.expect(r"^S: A0005 OK ")
        sh.line("noop")
        sh.expect(r"^C: A0006 noop$")
        sh.expect(r"^S: A0006 OK ")
        sh.line("LOGOUT")
        sh.expect(r"^S: A0007 OK ")
        assert sh.wait_exit() == 0  # the server closed after our goodbye


def test_imap_literal_typed_and_from_a_file(dovecot: Dovecot, tmp_path: Path) -> None:
    msg = tmp_path / "msg.eml"
    msg.write_bytes(MESSAGE)
    with running_shell(dovecot.imap_url) as sh:
        login(sh)
        # RFC 9051 4.3: announce 11 octets, wait for "+", then send them.
        sh.line("APPEND INBOX {11}")
        sh.expect(r"^C: A0002 APPEND INBOX \{11\}$")
        sh.expect(r"^S: \+ ")
        sh.line("hello world")
        sh.line("")  # the rest of the command line: just CRLF
        sh.expect(r"^S: A0002 OK ")
        sh.line(f"APPEND INBOX {{{len(MESSAGE)}}}")
        sh.expect(r"^S: \+ ")
        sh.line(f":send-file {msg}")
        sh.expect(r"literal sent")
        sh.line("")
        sh.expect(r"^S: A0003 OK ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    # Dovecot stores messages with LF line ends.
    stored = sorted(p.read_bytes() for p in dovecot.maildir().glob("*/*"))
    assert stored == sorted([b"hello world", MESSAGE.replace(b"\r\n", b"\n")])


def test_braces_inside_a_quoted_string_are_not_a_literal(dovecot: Dovecot) -> None:
    """What is a literal is the IMAP framer's call alone (the shell reads
    ``literal_remaining``): a quoted `"{5+}"` is text, so the shell waits for
    the answer and the next line is a new, tagged command."""
    with running_shell(dovecot.imap_url) as sh:
        login(sh)
        sh.line("SELECT INBOX")
        sh.expect(r"^S: A0002 OK ")
        sh.line('SEARCH TEXT "{5+}"')
        sh.expect(r"^S: A0003 OK ")
        sh.line("NOOP")
        sh.expect(r"^C: A0004 NOOP$")  # tagged: a command, not literal octets
        sh.expect(r"^S: A0004 OK ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_imap_save_body_completion_and_idle(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(MESSAGE)
    body = tmp_path / "body.eml"
    with running_shell(dovecot.imap_url) as sh:
        login(sh)
        sh.line('LIST "" *')
        sh.expect(r"^S: A0002 OK ")
        sh.type("SELECT IN\t")  # INBOX, learned from LIST
        time.sleep(0.3)
        sh.line("")
        sh.expect(r"^C: A0003 SELECT INBOX$")
        sh.expect(r"^S: A0003 OK ")
        sh.line(f":save-body {body}")
        sh.line("FETCH 1 BODY[]")
        sh.expect(r"^S: Blah blah blah\.\.\.$")
        sh.expect(rf"saved {len(MESSAGE)} octets to ")
        sh.line("IDLE")
        sh.expect(r"^S: \+ idling")
        time.sleep(0.2)
        dovecot.deliver(b"Subject: new\r\n\r\nduring IDLE\r\n")
        sh.expect(r"^S: \* 2 EXISTS$", timeout=10)  # unsolicited, shown at once
        sh.line("DONE")
        sh.expect(r"^C: DONE$")  # the IDLE's continuation: never tagged
        sh.expect(r"^S: A0005 OK ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    assert body.read_bytes() == MESSAGE


def test_imap_pipeline_sends_at_once(dovecot: Dovecot) -> None:
    with running_shell(dovecot.imap_url) as sh:
        login(sh)
        sh.line(":pipeline")
        sh.expect(r"pipeline on")
        sh.line("NOOP")
        sh.line("CHECK")
        sh.line("CAPABILITY")
        sh.line(":go")
        sh.expect(r"sending 3 queued command")
        m = sh.expect(r"^S: A0004 OK ")
        text = sh.text[: m.end()]
        # All three went out before the first answer came back.
        first_reply = text.index("S: A0002")
        assert text.index("C: A0004 CAPABILITY") < first_reply
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_pop3_pipeline_refused_until_capa_allows(dovecot: Dovecot) -> None:
    dovecot.deliver(MESSAGE)
    dovecot.deliver(MESSAGE)
    with running_shell(dovecot.pop3_url) as sh:
        sh.expect(r"^S: \+OK ")
        sh.line(":pipeline")
        sh.expect(r"would it work for POP3\? Why not\?")
        sh.expect(r"RFC 2449 section 6\.6")
        sh.line("CAPA")
        sh.expect(r"^S: \.$")
        sh.line(":pipeline on")
        sh.expect(r"pipeline on")
        sh.line("USER bob")
        sh.line("PASS redqueen")
        sh.line("STAT")
        sh.line("")  # an empty line sends the queue
        m = sh.expect(r"^S: \+OK 2 \d+$")
        text = sh.text[: m.end()]
        assert text.index("C: STAT") < text.index("S: +OK", text.index("C: USER bob"))
        sh.line(":pipeline off")
        sh.line("RETR 1")
        sh.expect(r"^S: Blah blah blah\.\.\.$")
        sh.line("QUIT")
        sh.expect(r"^S: \+OK ")
        assert sh.wait_exit() == 0
    assert not re.search(r"redqueen", (Path(_history_file("pop3")).read_text()))


def _history_file(protocol: str) -> str:
    import os

    return os.path.join(os.environ["XDG_DATA_HOME"], "protoshell", f"history-{protocol}")


def test_imap_auth_plain(dovecot: Dovecot) -> None:
    with running_shell(dovecot.imap_url) as sh:
        sh.expect(r"^S: \* OK ")
        sh.line(":auth plain bob")
        sh.line("redqueen")
        sh.expect(r"^C: A0001 AUTHENTICATE PLAIN$")
        sh.expect(r"^C: <redacted> ")
        sh.expect(r"^S: A0001 OK ")
        sh.line("SELECT INBOX")
        sh.expect(r"^S: A0002 OK ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
        assert "AGJvYgByZWRxdWVlbg==" not in sh.text


def test_pop3_retr_is_cut_on_screen_and_save_body_gets_it_whole(dovecot: Dovecot, tmp_path: Path) -> None:
    message = b"Subject: long\r\n\r\n" + b"".join(
        (b".dot %d\r\n" if i % 7 == 0 else b"line %d\r\n") % i for i in range(5000)
    ) + b".\r\n..\r\nend\r\n"
    dovecot.deliver(message)
    body = tmp_path / "m.eml"
    with running_shell(dovecot.pop3_url, "--max-lines", "5") as sh:
        sh.expect(r"^S: \+OK ")
        sh.line("USER bob")
        sh.expect(r"^S: \+OK")
        sh.line("PASS redqueen")
        sh.expect(r"^S: \+OK")
        sh.line(f":save-body {body}")
        sh.line("RETR 1")
        m = sh.expect(r"^S: <server sends (\d+) lines \((\d+) octets\) of message text: first 5 lines shown \(--max-lines\)>$")
        assert int(m[1]) == message.count(b"\r\n")
        sh.expect(r"^S: \.$")
        sh.expect(rf"saved {len(message)} octets to ")
        sh.line(":last")  # counts every line, though only the first 1,000 are kept
        sh.expect(r"^status: \+OK \(ok\)$")
        lines = message.count(b"\r\n") + 2  # +OK, the message, "."
        sh.expect(rf"^lines: {lines}; payload: 0 octets; on the wire: \d+ octets$")
        sh.line("TOP 1 3000")
        sh.expect(r"^S: <server sends 3002 lines ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
        assert len(sh.text.splitlines()) < 60
    assert body.read_bytes() == message[: message.index(b"line 3000\r\n")]  # the last one: TOP's


def test_a_long_imap_fetch_is_cut_in_the_shell_and_its_tagged_line_shown(dovecot: Dovecot) -> None:
    for i in range(600):
        dovecot.deliver(b"Subject: m%d\r\n\r\nhi\r\n" % i)
    with running_shell(dovecot.imap_url, "--max-lines", "5") as sh:
        login(sh)
        sh.line("SELECT INBOX")
        sh.expect(r"^S: A0002 OK ")
        sh.line("FETCH 1:* FLAGS")
        sh.expect(r"^S: \* 5 FETCH ")
        sh.expect(r"^S: <server sends 600 lines \(\d+ octets\) of untagged responses: first 5 lines shown \(--max-lines\)>$")
        sh.expect(r"^S: A0003 OK ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
        assert "* 6 FETCH" not in sh.text
        assert len(sh.text.splitlines()) < 60


def test_enter_on_an_empty_prompt_sends_nothing(dovecot: Dovecot) -> None:
    """A newcomer presses Enter for a fresh prompt. Each press sent an empty line,
    earned '* BAD', and Dovecot's login process hung up at the third ('Too many
    invalid IMAP commands'), before the user had typed anything."""
    with running_shell(dovecot.imap_url) as sh:
        sh.expect(r"^S: \* OK ")
        for _ in range(4):
            sh.line("")
        sh.line("LOGIN bob redqueen")
        sh.expect(r"^S: A0001 OK ")
        assert "BAD" not in sh.text and not re.search(r"^C: $", sh.text, re.MULTILINE)
        sh.line("LOGOUT")
        sh.expect(r"^S: A0002 OK ")
        assert sh.wait_exit() == 0
