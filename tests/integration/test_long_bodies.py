"""Long POP3 answers and SMTP messages in pipe mode, against real servers.

A RETR of a message of a few MB (Dovecot, and ``protoshell serve --mail``'s
POP3) is cut on screen at ``--max-lines`` with one line saying what was left
out, while ``--save-body`` gets the message byte for byte, dot-unstuffed
(RFC 1939 3), and ``--record`` every line (a transcript that replays).  A
long message pasted after SMTP's 354 is cut on screen the same way and
still reaches aiosmtpd whole.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from protoshell.replay.cli_entry import load_transcript
from protoshell.server.mail.service import MailServices
from protoshell.transcript.model import ClientLine

from .servers import HOST, TLSCA, Dovecot, SMTPServer
from .test_pipe_mode import protoshell

pytestmark = pytest.mark.timeout(60)


def big_message(lines: int = 60_000, *, lone_dots: bool = True) -> bytes:
    """A few MB of CRLF lines, with what POP3 and SMTP must stuff and
    unstuff: lines that start with '.', '..', and (``lone_dots``: not for a
    message typed after SMTP's 354, where it is the end) lines that are only '.'."""
    head = b"From: alice@example.com\r\nTo: bob@example.com\r\nSubject: long\r\n\r\n"
    body = bytearray(head)
    for i in range(lines):
        if i % 97 == 0 and lone_dots:
            body += b".\r\n"
        elif i % 89 == 0:
            body += b"..double %d\r\n" % i
        elif i % 13 == 0:
            body += b".leading dot on line %d\r\n" % i
        else:
            body += b"line %d of a long message, some text to make it longer\r\n" % i
    body += b"the end\r\n"
    return bytes(body)


def pop3(url: str, commands: bytes, *options: str) -> subprocess.CompletedProcess[str]:
    """Log in as bob, send ``commands``, QUIT; the run must succeed."""
    r = protoshell([url, *options], b"USER bob\nPASS redqueen\n" + commands + b"QUIT\n")
    assert r.returncode == 0, r.stderr + r.stdout[-2000:]
    return r


def cut_line(out: str, side: str = "S") -> re.Match[str]:
    m = re.search(
        rf"^{side}: <(?:server|client) sends (\d+) lines \((\d+) octets\)[^:]*: first (\d+) lines shown \(--max-lines\)>$",
        out,
        re.MULTILINE,
    )
    assert m is not None, out[-3000:]
    return m


def test_retr_from_dovecot_is_cut_on_screen_and_saved_whole(dovecot: Dovecot, tmp_path: Path) -> None:
    message = big_message()
    assert len(message) > 2_000_000
    dovecot.deliver(message)
    saved = tmp_path / "m.eml"
    r = pop3(dovecot.pop3_url, b"RETR 1\n", "--max-lines", "40", "--save-body", str(saved))
    out = r.stdout.splitlines()
    assert len(out) < 60, r.stdout[-2000:]
    m = cut_line(r.stdout)
    assert int(m[1]) == message.count(b"\r\n") and int(m[3]) == 40
    # The octets are the wire's: the message, stuffed, without the "." line.
    assert int(m[2]) == len(message) + sum(1 for line in message.split(b"\r\n") if line.startswith(b"."))
    i = out.index(m[0])
    assert out[i - 1].startswith("S: line ") or out[i - 1].startswith("S: ..")  # the 40th line shown
    assert out[i + 1] == "S: ."  # the end of the answer is shown after the cut
    assert saved.read_bytes() == message


def test_top_and_long_list_are_cut_too(dovecot: Dovecot, tmp_path: Path) -> None:
    message = big_message(3000)
    for _ in range(30):
        dovecot.deliver(b"Subject: short\r\n\r\nhi\r\n")
    dovecot.deliver(message)
    saved = tmp_path / "top.eml"
    r = pop3(dovecot.pop3_url, b"LIST\nTOP 31 2000\n", "--max-lines", "10", "--save-body", str(saved))
    assert len(r.stdout.splitlines()) < 50, r.stdout
    cuts = re.findall(r"^S: <server sends (\d+) lines .*first 10 lines shown \(--max-lines\)>$", r.stdout, re.MULTILINE)
    assert cuts == ["31", str(2000 + 4)], r.stdout  # LIST: 31 lines; TOP: 4 header lines + 2000
    head, _, body = message.partition(b"\r\n\r\n")
    assert saved.read_bytes() == head + b"\r\n\r\n" + b"".join(body.split(b"\r\n")[i] + b"\r\n" for i in range(2000))


def test_recorded_long_retr_keeps_every_line_and_replays(dovecot: Dovecot, tmp_path: Path) -> None:
    message = big_message(5000)
    dovecot.deliver(message)
    record = tmp_path / "retr.txt"
    r = pop3(dovecot.pop3_url, b"RETR 1\n", "--max-lines", "5", "--record", str(record))
    assert len(r.stdout.splitlines()) < 30
    text = record.read_text(encoding="utf-8")
    server = [line for line in text.splitlines() if line.startswith("S:") and not line.startswith("S: <")]
    # greeting, +OK USER, +OK PASS, +OK RETR, every line, ".", +OK QUIT
    assert len(server) == 4 + message.count(b"\r\n") + 2, text[-500:]
    assert "S: ..leading dot on line 13" in text.splitlines()  # as on the wire, stuffed
    replay = protoshell(
        ["replay", str(record), "--target", dovecot.pop3_url, "--set", "password=redqueen", "--max-lines", "7"], b""
    )
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr
    assert len(replay.stdout.splitlines()) < 40, replay.stdout[-2000:]
    m = cut_line(replay.stdout)
    assert int(m[1]) == message.count(b"\r\n") and int(m[3]) == 7


def test_retr_from_serve_mail_saved_whole(tmp_path: Path, tls_ca: TLSCA) -> None:
    message = big_message(40_000)
    with MailServices(
        tmp_path / "Maildir", HOST, smtp_port=0, pop3_port=0, imap_port=0,
        cert=tls_ca.cert_chain, key=tls_ca.key, ready_timeout=10.0,
    ) as services:
        services.store.deliver(message)
        saved = tmp_path / "m.eml"
        r = pop3(f"pop3://{HOST}:{services.pop3_port}", b"RETR 1\n", "--max-lines", "20", "--save-body", str(saved))
    assert len(r.stdout.splitlines()) < 40
    assert int(cut_line(r.stdout)[1]) == message.count(b"\r\n")
    assert saved.read_bytes() == message


def test_long_smtp_message_is_cut_on_screen_and_arrives_whole(smtp_server: SMTPServer, tmp_path: Path) -> None:
    message = big_message(20_000, lone_dots=False)
    typed = message.replace(b"\r\n", b"\n")  # as a user pipes it in; protoshell stuffs the dots
    record = tmp_path / "data.txt"
    stdin = b"EHLO me\nMAIL FROM:<a@example.com>\nRCPT TO:<b@example.com>\nDATA\n" + typed + b".\nQUIT\n"
    r = protoshell([smtp_server.url, "--max-lines", "25", "--record", str(record)], stdin)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) < 60, r.stdout[-2000:]
    m = cut_line(r.stdout, "C")
    assert int(m[1]) == message.count(b"\r\n") and int(m[3]) == 25
    i = out.index(m[0])
    assert out[i + 1] == "C: ."  # the end of the message is shown
    assert out[i + 2].startswith("S: 250")
    got = smtp_server.wait_for_messages(1)[0]
    assert got.data == message or got.data + b"\r\n" == message, (len(got.data), len(message))
    # The transcript has every line as the user gave it (replaying stuffs it once).
    sent = [step.raw for step in load_transcript(str(record)).steps if isinstance(step, ClientLine)]
    start = sent.index(b"DATA\r\n") + 1
    assert b"".join(sent[start : sent.index(b".\r\n", start)]) == message
    # Replayed (a batch run, which sends each line as soon as it may), the
    # screen is cut the same way and the server gets the message whole again.
    replay = protoshell(["replay", str(record), "--target", smtp_server.url, "--max-lines", "6"], b"")
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr
    assert len(replay.stdout.splitlines()) < 60, replay.stdout[-2000:]
    m = cut_line(replay.stdout, "C")
    assert int(m[1]) == message.count(b"\r\n") and int(m[3]) == 6
    again = smtp_server.wait_for_messages(2)[1]
    assert again.data == got.data


def test_long_imap_responses_from_dovecot_are_cut_the_tagged_line_shown_the_recording_whole(
    dovecot: Dovecot, tmp_path: Path
) -> None:
    """FETCH 1:* on 1,500 messages and LIST "" * on 60 folders: the first
    --max-lines untagged lines, one cut line that counts them, then the
    tagged completion; the recording keeps every line and replays."""
    for i in range(1500):
        dovecot.deliver(b"Subject: m%d\r\n\r\nhi\r\n" % i)
    login = b"LOGIN bob redqueen\n"
    made = protoshell([dovecot.imap_url], login + b"".join(b"CREATE f%d\n" % i for i in range(60)) + b"LOGOUT\n")
    assert made.returncode == 0, made.stderr + made.stdout[-2000:]
    record = tmp_path / "fetch.txt"
    r = protoshell(
        [dovecot.imap_url, "--max-lines", "20", "--record", str(record)],
        login + b'SELECT INBOX\nFETCH 1:* FLAGS\nLIST "" *\nLOGOUT\n',
    )
    assert r.returncode == 0, r.stderr + r.stdout[-2000:]
    lines = r.stdout.splitlines()
    assert len(lines) < 80, r.stdout[-3000:]
    fetch = lines.index("C: A0003 FETCH 1:* FLAGS")
    assert lines[fetch + 1].startswith("S: * 1 FETCH (FLAGS (")
    assert lines[fetch + 20].startswith("S: * 20 FETCH (FLAGS (")
    assert re.fullmatch(
        r"S: <server sends 1500 lines \(\d+ octets\) of untagged responses: first 20 lines shown \(--max-lines\)>",
        lines[fetch + 21],
    ), lines[fetch + 21]
    assert lines[fetch + 22].startswith("S: A0003 OK ")
    listing = lines.index('C: A0004 LIST "" *')
    assert re.fullmatch(r"S: <server sends 61 lines \(\d+ octets\) of untagged responses: .*>", lines[listing + 21])
    assert lines[listing + 22].startswith("S: A0004 OK ")
    # Only the screen is cut.
    text = record.read_text(encoding="utf-8").splitlines()
    assert sum(1 for line in text if re.match(r"S: \* \d+ FETCH ", line)) == 1500
    assert sum(1 for line in text if line.startswith("S: * LIST ")) == 61
    replay = protoshell(
        ["replay", str(record), "--target", dovecot.imap_url, "--set", "password=redqueen", "--max-lines", "7"], b""
    )
    assert replay.returncode == 0, replay.stdout[-2000:] + replay.stderr
    assert len(replay.stdout.splitlines()) < 80, replay.stdout[-3000:]
    assert "S: <server sends 1500 lines " in replay.stdout
