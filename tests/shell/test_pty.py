"""Two runs in a real pseudo-terminal (pexpect): what a person at a terminal sees.

IMAP on Dovecot: LOGIN, SELECT, FETCH of a literal, and IDLE showing a message
delivered while idling, printed above the prompt.  SMTP on aiosmtpd through
DATA.  Colours are off (NO_COLOR) so the screen text can be matched; CPR
queries are off so prompt_toolkit does not wait for an answer pexpect never
gives.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.integration.servers import Dovecot, SMTPServer

pytestmark = pytest.mark.timeout(40)

ROOT = Path(__file__).resolve().parents[2]
# The command that opens the shell on a terminal (cli.py routes a TTY to run_shell).
PROTOSHELL_COMMAND = [sys.executable, "-m", "protoshell"]
TIMEOUT = 8


def spawn(*argv: str) -> pexpect.spawn:
    env = dict(os.environ)
    env.update(
        NO_COLOR="1",
        TERM="xterm-256color",
        PROMPT_TOOLKIT_NO_CPR="1",
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    child = pexpect.spawn(
        PROTOSHELL_COMMAND[0],
        [*PROTOSHELL_COMMAND[1:], *argv, "--timeout", "5"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        timeout=TIMEOUT,
        dimensions=(40, 160),
    )
    return child


def typed(child: pexpect.spawn, line: str) -> None:
    child.send(line + "\r")  # Enter, as a terminal sends it


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)


def test_imap_session_with_literal_and_idle(dovecot: Dovecot) -> None:
    dovecot.deliver(b"From: alice@example.com\r\nSubject: week 2\r\n\r\nBlah blah blah...\r\n")
    child = spawn(dovecot.imap_url)
    try:
        child.expect(r"S: \* OK ")
        child.expect(r"imap> ")
        # The password as a literal: once its 8 octets are in, the command line goes on
        # and the prompt says Enter ends it (it showed 'imap> ', the server silent).
        typed(child, "LOGIN bob {8}")
        child.expect(r"literal \(8 octets\)> ")
        typed(child, "redqueen")
        child.expect(r"rest of the command \(Enter ends it\)> ")
        typed(child, "")
        child.expect(r"S: A0001 OK ")
        typed(child, "SELECT INBOX")
        child.expect(r"S: \* 1 EXISTS")
        child.expect(r"S: A0002 OK ")
        typed(child, "FETCH 1 BODY[]")
        child.expect(r"S: \* 1 FETCH \(.*BODY\[\] \{\d+\}")
        child.expect(r"S: Subject: week 2")
        child.expect(r"S: Blah blah blah\.\.\.")
        child.expect(r"S: A0003 OK ")
        typed(child, "IDLE")
        child.expect(r"S: \+ idling")
        child.expect(r"idle \(DONE ends it\)> ")
        dovecot.deliver(b"Subject: new\r\n\r\narrived during IDLE\r\n")
        child.expect(r"S: \* 2 EXISTS", timeout=15)  # above the prompt, unasked
        typed(child, "DONE")
        child.expect(r"S: A0004 OK ")
        typed(child, "LOGOUT")
        child.expect(r"S: \* BYE")
        assert finish(child) == 0
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_smtp_session_through_data(smtp_server: SMTPServer) -> None:
    child = spawn(smtp_server.url)
    try:
        child.expect(r"S: 220 ")
        child.expect(r"smtp> ")
        typed(child, "EHLO bar.com")
        child.expect(r"S: 250 HELP")
        typed(child, "MAIL FROM:<Smith@bar.com>")
        child.expect(r"S: 250 OK")
        typed(child, "RCPT TO:<Jones@foo.com>")
        child.expect(r"S: 250 OK")
        typed(child, "DATA")
        child.expect(r"S: 354 ")
        child.expect(r"data> ")
        typed(child, "Subject: lecture")
        typed(child, "")
        typed(child, "Blah blah blah...")
        typed(child, ".etc. etc. etc.")
        typed(child, ".")
        child.expect(r"S: 250 OK message accepted")
        typed(child, "QUIT")
        child.expect(r"S: 221 ")
        assert finish(child) == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
    (msg,) = smtp_server.wait_for_messages(1)
    assert msg.data == b"Subject: lecture\r\n\r\nBlah blah blah...\r\n.etc. etc. etc.\r\n"
    assert msg.mail_from == "Smith@bar.com"


def test_bare_protoshell_opens_the_embedded_server() -> None:
    child = spawn()
    try:
        child.expect(r"# embedded web server on http://127\.0\.0\.1:\d+ .*try: GET / HTTP/1\.1")
        child.expect(r"http> ")
        typed(child, "GET / HTTP/1.1")
        child.expect(r"\.\.\.> ")  # the request goes on until an empty line
        typed(child, "")
        child.expect(r"C: Host: 127\.0\.0\.1:\d+")
        child.expect(r"S: HTTP/1\.1 200 OK")
        child.expect(r"http> ")
        child.sendcontrol("d")
        assert finish(child) == 0
    finally:
        if child.isalive():
            child.terminate(force=True)
