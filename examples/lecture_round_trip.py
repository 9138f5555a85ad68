"""The lecture's "Protocols in Python" round trip, with protoshell.connect.

The lecture sends a mail with smtplib (ehlo, starttls, ehlo again, login,
sendmail) and reads it back with imaplib (login, list, status, select,
search, fetch, email.message_from_bytes).  The same steps here, then
what was said, in the transcript notation (passwords redacted): each
command the line the server saw, each response framed by the protocol's
rules.  Against `protoshell serve --mail` (the defaults)::

    protoshell serve --mail &
    python examples/lecture_round_trip.py \\
        --cafile ~/.local/share/protoshell/tls/mail-cert.pem --save transcripts/

Without --cafile it stays in plaintext (the teaching server allows a login
on loopback).  Exit codes as the CLI's: 0 ok, 1 refused, 2 usage, 3 network.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.utils
import sys
from email.mime.text import MIMEText
from pathlib import Path

import protoshell


def send_mail(args: argparse.Namespace, subject: str) -> str:
    """SMTP: EHLO, STARTTLS, EHLO again, AUTH, MAIL, RCPT, DATA, QUIT."""
    with protoshell.connect(args.smtp, timeout=args.timeout, cafile=args.cafile) as c:
        assert c.greeting is not None and c.greeting.status == "220"
        ehlo = c.send("EHLO heffalump.local", check=True)
        if args.cafile and "STARTTLS" in ehlo.text:  # has_extn('STARTTLS')
            c.starttls()
            c.send("EHLO heffalump.local", check=True)  # re-identify after TLS begins
        login = base64.b64encode(f"\0{args.user}\0{args.password}".encode()).decode()
        c.send(f"AUTH PLAIN {login}", check=True)
        msg = MIMEText("This is an email message")
        msg["From"] = email.utils.formataddr(("Name", args.sender))
        msg["To"] = email.utils.formataddr(("Name", args.to))
        msg["Subject"] = subject
        c.send(f"MAIL FROM:<{args.sender}>", check=True)
        c.send(f"RCPT TO:<{args.to}>", check=True)
        c.send("DATA", check=True)
        c.send_message(msg, check=True)
        c.send("QUIT")
    return c.transcript()


def read_mail(args: argparse.Namespace, subject: str) -> tuple[email.message.Message, str]:
    """IMAP: LOGIN, LIST, STATUS, SELECT, SEARCH, FETCH, LOGOUT."""
    with protoshell.connect(
        args.imap, timeout=args.timeout, cafile=args.cafile, starttls=bool(args.cafile)
    ) as c:
        c.send(f"LOGIN {args.user} {args.password}", check=True)
        c.send('LIST "" *', check=True)
        c.send("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)", check=True)
        c.send("SELECT INBOX", check=True)
        found = c.send(f'SEARCH SUBJECT "{subject}"', check=True)
        numbers = found.lines[0].split()[2:]  # "* SEARCH 1 2"
        if not numbers:
            raise protoshell.RefusedError(found, f"no message with the subject {subject!r}")
        number = numbers[-1]
        header = c.send(f"FETCH {number} (BODY.PEEK[HEADER])", check=True)
        print(header.body.decode("utf-8", "replace"), end="")
        text = c.send(f"FETCH {number} (BODY.PEEK[TEXT])", check=True)
        print(text.body.decode("utf-8", "replace"))
        c.send(f"FETCH {number} (FLAGS)", check=True)
        whole = c.send(f"FETCH {number} (RFC822)", check=True)
        (raw,) = whole.payloads  # the literal: the whole message
        msg = email.message_from_bytes(raw)
        c.send("LOGOUT")
    return msg, c.transcript()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smtp", default="smtp://127.0.0.1:2525")
    parser.add_argument("--imap", default="imap://127.0.0.1:1143")
    parser.add_argument("--cafile", help="trust this certificate and use STARTTLS")
    parser.add_argument("--user", default="bob")
    parser.add_argument("--password", default="redqueen")
    parser.add_argument("--sender", default="addr@host.com")
    parser.add_argument("--to", default="demo@crisewing.com")
    parser.add_argument("--subject", default="this is a test")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--save", type=Path, help="write smtp.txt and imap.txt (redacted) here")
    args = parser.parse_args(argv)
    try:
        smtp_transcript = send_mail(args, args.subject)
        msg, imap_transcript = read_mail(args, args.subject)
    except protoshell.Error as exc:  # RefusedError, UsageError, NetworkError, ProtocolError
        print(f"lecture_round_trip: {exc}", file=sys.stderr)
        return exc.exit_code  # the CLI's: 1 refused, 2 usage, 3 network
    print(smtp_transcript + imap_transcript, end="")  # as set_debuglevel(True) shows it
    print(f"msg['to'] = {msg['to']!r}")
    print(f"msg.get_payload() = {msg.get_payload()!r}")
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        (args.save / "smtp.txt").write_text(smtp_transcript, encoding="utf-8")
        (args.save / "imap.txt").write_text(imap_transcript, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
