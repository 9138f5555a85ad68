"""Transcript folders for the ``protoshell test`` and pytest plugin tests.

``write_suite(root, urls)`` writes a folder with passing and failing
transcripts of all four protocols, against aiosmtpd (the lecture's SMTP
server), Dovecot (POP3, IMAP), ``protoshell serve --mail`` (SMTP, POP3,
IMAP) and the embedded HTTP server; a ``notes.txt`` without the header
that must not be collected.  The HTTP files name a dead port in their
header: the run must point them at the server with ``--target``.  Every
login takes its password from ``--set password=...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PASSWORD_ARGS = ("--set", "password=redqueen")


def header(url: str) -> str:
    return f"# protoshell transcript · target: {url}\n"


SMTP_PASS = """\
S: 220 *
C: EHLO bar.com
S: 250-*
...
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Jones@foo.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 550 No such user here
C: QUIT
S: 221 *
"""

# Fails at line 8 (the header is line 1): Green is not known.  The
# expected text has XML's special characters, for the JUnit file.
SMTP_FAIL = """\
S: 220 *
C: HELO bar.com
S: 250 *
C: MAIL FROM:<Smith@bar.com>
S: 250 OK
C: RCPT TO:<Green@foo.com>
S: 250 <ok> & "fine"
C: QUIT
S: 221 *
"""

SMTP_MAIL_PASS = """\
S: 220 *
C: EHLO bar.com
S: 250-*
...
C: NOOP
S: 250 *
C: QUIT
S: 221 *
"""

POP3_PASS = """\
S: +OK *
C: USER bob
S: +OK *
C: PASS $password
S: +OK *
C: STAT
S: +OK 0 0
C: QUIT
S: +OK *
"""

# Fails at line 8: the maildrop is empty.
POP3_FAIL = """\
S: +OK *
C: USER bob
S: +OK *
C: PASS $password
S: +OK *
C: RETR 1
S: +OK *
C: QUIT
S: +OK *
"""

IMAP_PASS = """\
S: * OK *
C: a1 LOGIN bob $password
S: a1 OK *
C: a2 SELECT INBOX
S: ...
S: a2 OK *
C: a3 LOGOUT
S: * BYE *
S: a3 OK *
"""

# Fails at line 6: there is no such mailbox.
IMAP_FAIL = """\
S: * OK *
C: a1 LOGIN bob $password
S: a1 OK *
C: a2 SELECT NoSuchBox
S: a2 OK *
C: a3 LOGOUT
S: * BYE *
S: a3 OK *
"""

HTTP_PASS = """\
C: GET / HTTP/1.1
C:
S: HTTP/1.1 200 OK
S: ...
S:
S: <server sends message payload>
"""

# Fails at line 4: 404.
HTTP_FAIL = """\
C: GET /no-such-page.html HTTP/1.1
C:
S: HTTP/1.1 200 OK
S: ...
S:
S: <server sends message payload>
"""


@dataclass(frozen=True)
class Urls:
    smtp: str  # aiosmtpd
    pop3: str  # Dovecot
    imap: str  # Dovecot
    mail_smtp: str  # protoshell serve --mail
    mail_pop3: str
    mail_imap: str
    http: str  # given with --target, not in the headers


# name -> (header URL attribute, body, failing line or 0)
SUITE = {
    "http-fail.txt": ("dead_http", HTTP_FAIL, 4),
    "http-pass.txt": ("dead_http", HTTP_PASS, 0),
    "imap/dovecot-fail.txt": ("imap", IMAP_FAIL, 6),
    "imap/dovecot-pass.txt": ("imap", IMAP_PASS, 0),
    "imap/mail-pass.txt": ("mail_imap", IMAP_PASS, 0),
    "pop3-dovecot-pass.txt": ("pop3", POP3_PASS, 0),
    "pop3-mail-fail.txt": ("mail_pop3", POP3_FAIL, 8),
    "smtp-aiosmtpd-fail.txt": ("smtp", SMTP_FAIL, 8),
    "smtp-aiosmtpd-pass.txt": ("smtp", SMTP_PASS, 0),
    "smtp-mail-pass.txt": ("mail_smtp", SMTP_MAIL_PASS, 0),
}


def write_suite(root: Path, urls: Urls, dead_http: str) -> list[Path]:
    """Write SUITE under ``root``; return the transcript paths in the order
    a folder run lists them."""
    paths = []
    for name, (attr, body, _line) in SUITE.items():
        url = dead_http if attr == "dead_http" else getattr(urls, attr)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header(url) + body, encoding="utf-8")
        paths.append(path)
    (root / "notes.txt").write_text("C: not a transcript: no header\n", encoding="utf-8")
    return sorted(paths)
