"""protoshell.connect() (protoshell/api.py) against real servers on 127.0.0.1.

aiosmtpd receives a whole mail byte for byte; Dovecot answers IMAP and POP3
(a literal of a few MB streamed to a file, STARTTLS verified with the
trustme CA and refused without it); the embedded HTTP server serves a file;
`protoshell serve --mail` (MailServices) carries a mail from SMTP to POP3
and IMAP, and the transcript of an API session replays with `protoshell
replay`.  Faults no real server makes on demand come from a scripted
socket.  No test here runs an event loop, except the one that checks the
API from inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.utils
import os
import pickle
import re
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from email.mime.text import MIMEText
from pathlib import Path

import pytest

import protoshell
from protoshell.server.control import EmbeddedServer
from protoshell.server.mail.service import MailServices
from protoshell.session import LAST_RESPONSE_LINES

from .integration.scripted_server import ScriptedServer, Step
from .integration.servers import HOST, TLSCA, Dovecot, Nginx, SMTPServer, free_port

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 10.0
USER, PASSWORD = "bob", "redqueen"
HANG_ON = b"\x00never sent\x00"  # a scripted server's last step: wait until the client hangs up

# What SMTP must carry through: a line that starts with a dot (stuffed by the
# framer, unstuffed by the server), 8-bit UTF-8, trailing spaces, an empty line.
MESSAGE = (
    b"From: Smith <Smith@bar.com>\r\n"
    b"To: Jones <Jones@foo.com>\r\n"
    b"Subject: from a script\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b"caf\xc3\xa9 \xe2\x98\x95   \r\n"
    b"\r\n"
)


def cli_env() -> dict[str, str]:
    """``python -m protoshell`` from this checkout, whatever is installed."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def replay(transcript: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protoshell", "replay", str(transcript), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )


@contextlib.contextmanager
def scripted(scheme: str, *steps: Step) -> Iterator[protoshell.Connection]:
    """A connection to a ScriptedServer that plays ``steps``, then waits for
    the client to hang up."""
    with (
        ScriptedServer([*steps, ("expect", HANG_ON)]) as server,
        protoshell.connect(f"{scheme}://{server.url_host}", timeout=TIMEOUT) as c,
    ):
        yield c


def send_mail(
    url: str, message: bytes = MESSAGE, rcpt: str = "bob@localhost"
) -> protoshell.Response:
    """A whole mail transaction through the API; the final reply to the message."""
    with protoshell.connect(url, timeout=TIMEOUT) as c:
        assert c.greeting is not None and c.greeting.status == "220"
        assert c.send("EHLO me").ok
        c.send("MAIL FROM:<Smith@bar.com>", check=True)
        c.send(f"RCPT TO:<{rcpt}>", check=True)
        data = c.send("DATA")
        assert (data.status, data.outcome, data.ok) == ("354", "continue", True)
        final = c.send_message(message)
        assert c.send("QUIT").status == "221"
    return final


# -- SMTP ----------------------------------------------------------------------------------------


def test_a_whole_mail_arrives_byte_identical(smtp_server: SMTPServer) -> None:
    final = send_mail(smtp_server.url)
    assert final.ok and final.status == "250"
    assert final.raw == b"250 OK message accepted\r\n"
    assert final.lines == ("250 OK message accepted",)
    (received,) = smtp_server.wait_for_messages(1)
    assert received.data == MESSAGE
    assert received.mail_from == "Smith@bar.com"


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_submission_upgrades_before_the_mail(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    url = smtp_server.url.replace("smtp://", "submission://")
    with protoshell.connect(url, timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        assert c.greeting is not None and c.greeting.status == "220"  # in plaintext
        assert c.tls is not None and c.tls.verified
        assert "250-STARTTLS" not in c.send("EHLO again").lines  # RFC 3207 4.2: asked afresh
        for line in ("MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"):
            c.send(line, check=True)
        c.send_message(MESSAGE, check=True)
    (received,) = smtp_server.wait_for_messages(1)
    assert received.tls and received.data == MESSAGE
    assert "C: EHLO localhost\nS: 250-" in c.transcript()  # STARTTLS_DIALOGUE's EHLO, recorded


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_after_an_ehlo_sends_no_second_one(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    """The lecture's ehlo(), starttls(), ehlo(): starttls() said its own
    EHLO first, a third one in the transcript."""
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        assert "250-STARTTLS" in c.send("EHLO heffalump.local").lines
        assert c.starttls().status == "220" and c.tls is not None
        c.send("EHLO heffalump.local", check=True)
    said = [line for line in c.transcript().splitlines() if line.startswith("C: ")]
    assert said[1:4] == ["C: EHLO heffalump.local", "C: STARTTLS", "C: EHLO heffalump.local"]


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_when_it_cannot_be_is_a_usage_error(
    smtp_server: SMTPServer, tls_ca: TLSCA
) -> None:
    """Twice, a refusal came back as a Response; inside DATA its EHLO and
    STARTTLS went into the message."""
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        for line in ("EHLO me", "MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"):
            c.send(line)
        with pytest.raises(protoshell.UsageError, match="inside a message"):
            c.starttls()
        assert c.send_message(b"Subject: plain\r\n").status == "250"
        c.starttls()
        with pytest.raises(protoshell.UsageError, match="TLS already"):
            c.starttls()
        assert c.send("NOOP").status == "250"
    (received,) = smtp_server.wait_for_messages(1)
    assert received.data == b"Subject: plain\r\n"
    assert c.transcript().count("C: STARTTLS") == 1


def test_message_lines_can_also_be_sent_one_by_one(smtp_server: SMTPServer) -> None:
    """After 354 a line awaits no reply: send() returns at once with no status."""
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        for line in ("HELO me", "MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"):
            c.send(line, check=True)
        quiet = c.send(".hidden")
        assert (quiet.status, quiet.outcome, quiet.lines, quiet.raw, quiet.ok) == (
            None,
            None,
            (),
            b"",
            True,
        )
        assert c.send(".").status == "250"
    assert smtp_server.wait_for_messages(1)[0].data == b".hidden\r\n"


def test_send_message_takes_an_email_message(smtp_server: SMTPServer) -> None:
    """The lecture's ``MIMEText``, as ``sendmail(..., msg.as_string())`` takes it."""
    msg = MIMEText("This is an email message\n.a dot\n")
    msg["From"] = email.utils.formataddr(("Name", "addr@host.com"))
    msg["Subject"] = "Simple Test"
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        for line in ("EHLO me", "MAIL FROM:<addr@host.com>", "RCPT TO:<other@another.com>", "DATA"):
            c.send(line, check=True)
        assert c.send_message(msg).status == "250"
    received = email.message_from_bytes(smtp_server.wait_for_messages(1)[0].data)
    assert received["subject"] == "Simple Test"
    assert received.get_payload() == "This is an email message\r\n.a dot\r\n"


def test_send_message_refuses_a_lone_dot_and_text_outside_data(smtp_server: SMTPServer) -> None:
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        with pytest.raises(protoshell.UsageError, match="after DATA"):
            c.send_message("Subject: too early\r\n")
        for line in ("HELO me", "MAIL FROM:<a@b.c>", "RCPT TO:<d@e.f>", "DATA"):
            c.send(line, check=True)
        with pytest.raises(protoshell.UsageError, match="line 2 .* lone '.'"):
            c.send_message("one\r\n.\r\nthree\r\n")
        # Nothing was sent: the message can still be given.
        assert c.send_message("one\r\nthree\r\n").status == "250"
    assert smtp_server.wait_for_messages(1)[0].data == b"one\r\nthree\r\n"


def test_a_refusal_is_a_response_unless_checked(smtp_server: SMTPServer) -> None:
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        r = c.send("RCPT TO:<nobody@x>")  # before MAIL FROM: 503
        assert (r.ok, r.outcome, r.status) == (False, "error", "503")
        with pytest.raises(protoshell.RefusedError, match=r"^the server refused: 503 ") as info:
            c.send("RCPT TO:<nobody@x>", check=True)
        assert info.value.response.status == "503" and info.value.exit_code == 1
        # A process pool sends it back pickled; it failed to load ('str' has no 'lines').
        back = pickle.loads(pickle.dumps(info.value))
        assert (str(back), back.response, back.kind) == (
            str(info.value),
            info.value.response,
            "refused-by-server",
        )
        with pytest.raises(protoshell.RefusedError):
            r.raise_for_status()
        assert c.send("NOOP").raise_for_status().status == "250"


# -- IMAP and POP3 (Dovecot) --------------------------------------------------------------------


def test_imap_tags_exact_bytes_and_a_refused_login(dovecot: Dovecot) -> None:
    dovecot.deliver(b"Subject: one\r\n\r\nHello\r\n")
    with protoshell.connect(dovecot.imap_url, timeout=TIMEOUT) as c:
        assert c.greeting is not None and c.greeting.status == "* OK"
        bad = c.send(f"LOGIN {USER} wrong")
        assert (bad.ok, bad.outcome, bad.status) == (False, "temporary", "A0001 NO")
        r = c.send(f"LOGIN {USER} {PASSWORD}")
        assert (r.ok, r.status) == (True, "A0002 OK")
        assert r.raw.startswith(b"A0002 OK ") and r.raw.endswith(b"\r\n")
        sel = c.send("SELECT INBOX")
        assert "* 1 EXISTS" in sel.lines
        assert sel.raw == b"".join(line.encode() + b"\r\n" for line in sel.lines)
        typed = c.send("x1 NOOP")  # a typed tag is kept
        assert typed.status == "x1 OK"
        # A client literal, synchronizing ({n}: wait for "+") and not ({n+}).
        go = c.send("APPEND INBOX {5}")
        assert (go.status, go.outcome) == ("+", "continue")
        assert c.send("two\r\n".removesuffix("\r\n") + "!!").status is None  # the 5 octets
        assert c.send("").status == "A0004 OK"  # the end of the command line
        c.send("APPEND INBOX {3+}")
        c.send("xyz")
        assert c.send("").status == "A0005 OK"
        # Literal octets may hold CRLFs: a whole message in one send().
        mail = b"Subject: three\r\n\r\nHi!"
        c.send(b"APPEND INBOX {%d+}" % len(mail))
        assert c.send(mail).status is None
        assert c.send("").status == "A0006 OK"
        assert c.send("FETCH 4 BODY[]").body == mail
        fetch = c.send("FETCH 1 BODY[]")
        assert fetch.body == b"Subject: one\r\n\r\nHello\r\n"
        assert fetch.payload_size == len(fetch.body)
        assert (
            b"{23}\r\nSubject: one\r\n\r\nHello\r\n)\r\n" in fetch.raw
        )  # the literal in wire order
        c.send("LOGOUT")
    assert c.closed


def test_an_imap_literal_of_megabytes_streams_to_a_file(dovecot: Dovecot, tmp_path: Path) -> None:
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    message = b"Subject: big\r\n\r\n" + line * (3_000_000 // len(line))
    dovecot.deliver(message)
    out = tmp_path / "literal.eml"
    with protoshell.connect(dovecot.imap_url, timeout=TIMEOUT) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        tracemalloc.start()
        try:
            r = c.send("FETCH 1 BODY[]", save_body=out)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert r.status == "A0003 OK"
        assert out.read_bytes() == message
        assert r.payload_size == len(message) and r.body == b"" and r.truncated
        assert len(r.raw) < 300, r.raw  # the FETCH line, ")" and the tagged OK
        assert peak < len(message) // 2, f"the literal was held in memory (peak {peak} bytes)"
        # Without save_body, only max_payload bytes are kept.
        kept = c.send("FETCH 1 BODY[]")
        assert kept.body == message[: protoshell.api.DEFAULT_MAX_PAYLOAD] and kept.truncated
        assert kept.payload_size == len(message)
        # Its repr (what a notebook shows) stays short: it held 2 MiB of bytes.
        shown = repr(kept)
        assert len(shown) < 1500 and shown.startswith("Response(status='A0004 OK'")
        assert f"... ({len(kept.raw)} bytes)" in shown and "payloads=1" in shown


def test_each_literal_of_a_fetch_is_its_own_payload(dovecot: Dovecot) -> None:
    """The lecture's ``fetch(..., '(RFC822)')`` then ``email.message_from_bytes``,
    for several messages in one response: ``body`` runs them together."""
    first = (
        b"From: a@b.c\r\nTo: demo@crisewing.com\r\nSubject: one\r\n\r\nThis is an email message\r\n"
    )
    second = b"From: IPIP <x@y.z>\r\nSubject: two\r\n\r\nsecond\r\n"
    dovecot.deliver(first)
    dovecot.deliver(second)
    with protoshell.connect(dovecot.imap_url, timeout=TIMEOUT) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        r = c.send("FETCH 1:* (BODY.PEEK[HEADER] BODY.PEEK[TEXT])")
        cut1, cut2 = first.index(b"\r\n\r\n") + 4, second.index(b"\r\n\r\n") + 4
        assert r.payloads == (first[:cut1], first[cut1:], second[:cut2], second[cut2:])
        assert r.body == first + second
        whole = c.send("FETCH 1:* RFC822")
        messages = [email.message_from_bytes(p) for p in whole.payloads]
        assert [m["subject"] for m in messages] == ["one", "two"]
        assert messages[0]["to"] == "demo@crisewing.com"
        assert messages[0].get_payload() == "This is an email message\r\n"
        assert c.send("FETCH 1 FLAGS").payloads == ()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a full disk)")
@pytest.mark.parametrize("size", [100, 600_000])  # under and over the saver's write buffer
def test_a_save_body_file_on_a_full_disk_is_an_error(dovecot: Dovecot, size: int) -> None:
    """It was a bare OSError from inside (the saver's close), hiding the API's error."""
    dovecot.deliver(b"Subject: full\r\n\r\n" + b"x" * size + b"\r\n")
    with protoshell.connect(dovecot.imap_url, timeout=TIMEOUT) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        with pytest.raises(protoshell.Error, match="^cannot write save_body file '/dev/full': "):
            c.send("FETCH 1 BODY[]", save_body="/dev/full")


def test_pop3_multiline_answers_and_refusals(dovecot: Dovecot) -> None:
    dovecot.deliver(b"Subject: a\r\n\r\n.dot\r\n")
    dovecot.deliver(b"Subject: b\r\n\r\nx\r\n")
    with protoshell.connect(dovecot.pop3_url, timeout=TIMEOUT) as c:
        assert c.greeting is not None and c.greeting.status == "+OK"
        assert c.send(f"USER {USER}").ok
        refused = c.send("PASS wrong")
        assert (refused.ok, refused.status) == (False, "-ERR")
    with protoshell.connect(dovecot.pop3_url, timeout=TIMEOUT) as c:
        c.send(f"USER {USER}", check=True)
        c.send(f"PASS {PASSWORD}", check=True)
        listing = c.send("LIST")  # multi-line: the framer knows LIST without an argument is
        assert listing.lines[0].startswith("+OK") and listing.lines[-1] == "."
        assert len(listing.lines) == 4
        assert len(c.send("LIST 1").lines) == 1
        retr = c.send("RETR 1")
        assert retr.lines[1:] == ("Subject: a", "", "..dot", ".")  # as on the wire (stuffed)
        assert c.send("QUIT").status == "+OK"


def test_a_pop3_message_streams_to_a_file(dovecot: Dovecot, tmp_path: Path) -> None:
    message = b"Subject: c\r\n\r\n.starts with a dot\r\n" + b"x" * 70 + b"\r\n"
    dovecot.deliver(message)
    out = tmp_path / "retr.eml"
    with protoshell.connect(dovecot.pop3_url, timeout=TIMEOUT) as c:
        c.send(f"USER {USER}", check=True)
        c.send(f"PASS {PASSWORD}", check=True)
        r = c.send("RETR 1", save_body=out)
    assert r.ok and out.read_bytes() == message  # unstuffed, as the message was
    assert r.payload_size == len(message)  # what the file holds, as for a literal


def test_the_transcript_of_a_long_retr_is_saved_without_one_big_string(dovecot: Dovecot, tmp_path: Path) -> None:
    """A 3 MB message read with RETR is 3 MB of S: lines in the transcript: transcript() makes
    it one string (a 200 MB RETR peaked at 423 MB); save_transcript() copies it in pieces."""
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\r\n"
    dovecot.deliver(b"Subject: big\r\n\r\n" + line * (3_000_000 // len(line)))
    saved = tmp_path / "pop3.txt"
    with protoshell.connect(dovecot.pop3_url, timeout=TIMEOUT) as c:
        c.send(f"USER {USER}", check=True)
        c.send(f"PASS {PASSWORD}", check=True)
        c.send("RETR 1", check=True)
        tracemalloc.start()
        try:
            c.save_transcript(saved)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        text = c.transcript()
    assert saved.read_text(encoding="utf-8") == text
    assert len(text) > 3_000_000 and "PASS <redacted>" in text and PASSWORD not in text
    assert peak < 1_500_000, f"the transcript was held whole (peak {peak} bytes)"
    with pytest.raises(protoshell.UsageError, match="^cannot write the transcript to "):
        c.save_transcript(tmp_path / "no-such-folder" / "t.txt")


def test_starttls_verified_with_the_ca_and_refused_without(dovecot: Dovecot, tls_ca: TLSCA) -> None:
    with protoshell.connect(
        dovecot.imap_url, timeout=TIMEOUT, starttls=True, cafile=str(tls_ca.ca_cert)
    ) as c:
        assert c.tls is not None and c.tls.verified
        assert c.greeting is not None and "STARTTLS" in c.greeting.text  # said in plaintext
        assert c.send(f"LOGIN {USER} {PASSWORD}").ok
        c.send("LOGOUT")
    with protoshell.connect(dovecot.pop3_url, timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        go = c.starttls()  # later, by hand
        assert go.status == "+OK" and c.tls is not None and c.tls.verified
        assert c.send(f"USER {USER}").ok
    with protoshell.connect(dovecot.imaps_url, timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        assert c.tls is not None and c.tls.verified  # implicit TLS, before the greeting
        assert c.greeting is not None and c.greeting.status == "* OK"
    with pytest.raises(protoshell.NetworkError, match="certificate") as info:
        protoshell.connect(dovecot.imap_url, timeout=TIMEOUT, starttls=True)
    assert info.value.kind == "tls" and "\n" not in str(info.value)
    with pytest.raises(protoshell.NetworkError, match="certificate"):
        protoshell.connect(dovecot.imaps_url, timeout=TIMEOUT)
    with protoshell.connect(dovecot.imap_url, timeout=TIMEOUT, starttls=True, insecure=True) as c:
        assert c.tls is not None and not c.tls.verified


def test_a_refused_starttls_raises_and_stays_plaintext() -> None:
    with scripted(
        "imap",
        ("send", b"* OK ready\r\n"),
        ("expect", b"STARTTLS\r\n"),
        ("send", b"A0001 BAD not now\r\n"),
        ("expect", b"NOOP\r\n"),
        ("send", b"A0002 OK still here\r\n"),
    ) as c:
        with pytest.raises(
            protoshell.RefusedError, match="refused STARTTLS.*A0001 BAD not now"
        ) as info:
            c.starttls()
        assert info.value.response.status == "A0001 BAD"
        assert c.tls is None
        assert c.send("NOOP").status == "A0002 OK"


# -- HTTP (the embedded server) -----------------------------------------------------------------


def test_http_requests_to_the_embedded_server(tmp_path: Path) -> None:
    root = tmp_path / "www"
    root.mkdir()
    payload = bytes(range(256)) * 4096  # 1 MiB, binary
    (root / "blob.bin").write_bytes(payload)
    (root / "hello.txt").write_bytes(b"hello\n")
    with EmbeddedServer(root, port=0) as server:
        url = f"http://127.0.0.1:{server.port}"
        with protoshell.connect(url, timeout=TIMEOUT) as c:
            assert c.greeting is None
            r = c.send("GET /hello.txt HTTP/1.1")
            assert (r.status, r.ok, r.body) == ("HTTP 200", True, b"hello\n")
            assert r.lines[0] == "HTTP/1.1 200 OK" and r.raw.endswith(b"\r\n\r\nhello\n")
            head = c.send("HEAD /hello.txt HTTP/1.1\nAccept: text/plain\n")
            assert head.status == "HTTP 200" and head.body == b"" and head.payload_size == 0
            missing = c.send("GET /nope HTTP/1.1")
            assert (missing.status, missing.ok) == ("HTTP 404", False)
            post = c.send("POST /hello.txt HTTP/1.1", body=b"a=1")
            assert post.status == "HTTP 405"
            saved = tmp_path / "blob.out"
            big = c.send("GET /blob.bin HTTP/1.1", save_body=saved)
            assert saved.read_bytes() == payload and big.payload_size == len(payload)
            assert len(big.raw) < 1000
            with pytest.raises(protoshell.UsageError, match="body="):
                c.send("GET / HTTP/1.1\n\nbody")
            # A head pasted as on the wire, with the empty line that ends it.
            pasted = c.send("GET /hello.txt HTTP/1.1\r\nAccept: */*\r\n\r\n")
            assert (pasted.status, pasted.body) == ("HTTP 200", b"hello\n")
            assert c.send("POST /hello.txt HTTP/1.1", body="caf\u00e9").status == "HTTP 405"
        text = c.transcript()
        # Host and Content-Length were completed as in the shell, and shown.
        assert f"C: Host: 127.0.0.1:{server.port}\n" in text
        assert "C: Content-Length: 3\n" in text
        assert "C: Content-Length: 5\n" in text  # "café" sent as UTF-8


def test_https_to_nginx_a_chunked_body_and_a_close(nginx: Nginx, tls_ca: TLSCA) -> None:
    (nginx.root / "hello.txt").write_bytes(b"hello\n")
    with protoshell.connect(nginx.https_url(), timeout=TIMEOUT, cafile=str(tls_ca.ca_cert)) as c:
        assert c.tls is not None and c.tls.verified
        listing = c.send("GET / HTTP/1.1")  # autoindex: a chunked body
        assert listing.status == "HTTP 200" and "Transfer-Encoding: chunked" in listing.lines
        assert b"hello.txt" in listing.body and b"\r\n0\r\n" not in listing.body  # de-chunked
        assert listing.payloads == (listing.body,)
        last = c.send("GET /hello.txt HTTP/1.1\nConnection: close")
        assert (last.status, last.body) == ("HTTP 200", b"hello\n")
        assert c.closed  # nginx closes next
        with pytest.raises(protoshell.NetworkError, match="connect\\(\\) again") as info:
            c.send("GET /hello.txt HTTP/1.1")
        assert info.value.kind == "closed"


# -- errors --------------------------------------------------------------------------------------


def test_a_dead_port_a_silent_server_and_bad_arguments() -> None:
    port = free_port()
    with pytest.raises(protoshell.NetworkError, match="refused") as info:
        protoshell.connect(f"smtp://127.0.0.1:{port}", timeout=TIMEOUT)
    assert info.value.kind == "refused" and info.value.exit_code == 3  # as the CLI's
    with ScriptedServer([("expect", HANG_ON)]) as silent:
        with pytest.raises(protoshell.NetworkError, match="within 0.3 s") as info:
            protoshell.connect(f"smtp://{silent.url_host}", timeout=0.3)
        assert info.value.kind == "timeout"
    with pytest.raises(protoshell.UsageError, match="unknown scheme") as usage:
        protoshell.connect("gopher://127.0.0.1:70")
    assert usage.value.exit_code == 2
    with pytest.raises(protoshell.UsageError, match="HTTP has no STARTTLS"):
        protoshell.connect("http://127.0.0.1:80", starttls=True)
    with pytest.raises(ValueError):  # UsageError is a ValueError
        protoshell.connect("smtp://127.0.0.1:25", timeout=0)
    assert issubclass(protoshell.NetworkError, protoshell.Error)


def test_a_protocol_violation_is_a_protocol_error() -> None:
    with scripted(
        "smtp",
        ("send", b"220 ready\r\n"),
        ("expect", b"NOOP\r\n"),
        ("send", b"999 not a reply code\r\n"),
    ) as c:
        with pytest.raises(protoshell.ProtocolError, match="protocol error from server") as info:
            c.send("NOOP")
        assert info.value.kind == "protocol" and "\n" not in str(info.value)
        with pytest.raises(protoshell.ProtocolError):
            c.send("NOOP")  # the connection cannot be trusted any more
        assert c.closed


def test_a_cr_in_a_line_and_use_after_close(smtp_server: SMTPServer) -> None:
    c = protoshell.connect(smtp_server.url, timeout=TIMEOUT)
    with pytest.raises(protoshell.UsageError, match="CR or LF"):
        c.send("NOOP\rRSET")
    assert c.send("NOOP").ok
    c.close()
    c.close()
    with pytest.raises(protoshell.UsageError, match="closed"):
        c.send("NOOP")


def test_a_send_after_the_servers_goodbye_is_a_network_error(smtp_server: SMTPServer) -> None:
    """After 221 the server closes: a line sent then got an empty Response
    (status None) instead of an error."""
    c = protoshell.connect(smtp_server.url, timeout=TIMEOUT)
    assert c.send("QUIT").status == "221"
    assert c.closed  # it closes next
    with pytest.raises(protoshell.NetworkError, match="goodbye.*connect\\(\\) again") as info:
        c.send("NOOP")
    assert info.value.kind == "closed"
    with pytest.raises(protoshell.NetworkError):
        c.starttls()
    c.close()
    assert "C: NOOP" not in c.transcript()  # not sent


def test_arguments_of_the_wrong_type_are_usage_errors(smtp_server: SMTPServer) -> None:
    """``send(42)`` sent 42 NUL bytes; ``timeout="5"`` was a TypeError from inside."""
    with pytest.raises(protoshell.UsageError, match="timeout must be a number of seconds"):
        protoshell.connect(smtp_server.url, timeout="5")  # type: ignore[arg-type]
    with pytest.raises(protoshell.UsageError, match="max_payload"):
        protoshell.connect(smtp_server.url, max_payload=1.5)  # type: ignore[arg-type]
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        for wrong in (42, None, ["NOOP"]):
            with pytest.raises(protoshell.UsageError, match="a line is a str or bytes, not"):
                c.send(wrong)  # type: ignore[arg-type]
        with pytest.raises(protoshell.UsageError, match="UTF-8"):
            c.send("NOOP \udc80")
        with pytest.raises(protoshell.UsageError, match="0 or more seconds"):
            c.receive(-1)
        with pytest.raises(protoshell.UsageError, match="more than 0 seconds"):
            c.send("NOOP", timeout=0)
        assert c.send("NOOP").raw == b"250 OK\r\n"  # nothing was sent before it
    assert "\x00" not in c.transcript()
    with protoshell.connect(smtp_server.url, timeout=float("inf")) as c:  # was an OverflowError
        assert c.send("NOOP", timeout=1e10).ok


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_an_unreadable_cafile_is_a_usage_error(smtp_server: SMTPServer, tmp_path: Path) -> None:
    """It was ``Error`` of kind "observer", "SessionError: cannot load CA file..."."""
    missing = str(tmp_path / "missing-ca.pem")
    with pytest.raises(protoshell.UsageError, match="^cannot load CA file") as info:
        protoshell.connect(smtp_server.url, timeout=TIMEOUT, starttls=True, cafile=missing)
    assert info.value.kind == "usage"
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT, cafile=missing) as c:
        with pytest.raises(protoshell.UsageError, match="cannot load CA file"):
            c.starttls()
        assert c.send("NOOP").ok and c.tls is None  # said before STARTTLS: still plaintext
        c.send("EHLO me")
        with pytest.raises(protoshell.UsageError, match="cannot load CA file"):
            c.send("STARTTLS")  # typed by hand: the upgrade follows the 220


def test_a_call_from_a_second_thread_is_refused_while_one_waits() -> None:
    """Two threads on one socket would each get half a response."""
    with scripted(
        "smtp",
        ("send", b"220 ready\r\n"),
        ("expect", b"NOOP\r\n"),
        ("sleep", 0.5),
        ("send", b"250 late\r\n"),
    ) as c:
        results: list[protoshell.Response] = []
        waiting = threading.Thread(target=lambda: results.append(c.send("NOOP")))
        waiting.start()
        deadline = time.monotonic() + TIMEOUT
        while not c._session.framer.pending and time.monotonic() < deadline:  # NOOP sent
            time.sleep(0.01)
        for call in (lambda: c.send("RSET"), lambda: c.receive(0), c.close, c.transcript):
            with pytest.raises(protoshell.UsageError, match="busy with a call from another thread"):
                call()
        waiting.join(TIMEOUT)
        assert [r.lines for r in results] == [("250 late",)]
        assert not c.closed


def test_after_a_timeout_the_connection_stays_in_step() -> None:
    """As after Ctrl-C: the late reply comes first in the next response."""
    with scripted(
        "smtp",
        ("send", b"220 ready\r\n"),
        ("expect", b"NOOP 1\r\n"),
        ("sleep", 0.5),
        ("send", b"250 one\r\n"),
        ("expect", b"NOOP 2\r\n"),
        ("send", b"250 two\r\n"),
    ) as c:
        with pytest.raises(protoshell.NetworkError, match="within 0.2 s") as info:
            c.send("NOOP 1", timeout=0.2)
        assert info.value.kind == "timeout" and not c.closed
        r = c.send("NOOP 2")
        assert (r.status, r.lines) == ("250", ("250 one", "250 two"))


def test_response_lines_stay_bounded() -> None:
    count = LAST_RESPONSE_LINES + 500
    reply = b"".join(b"250-line %d\r\n" % i for i in range(count)) + b"250 end\r\n"
    with scripted(
        "smtp",
        ("send", b"220 ready\r\n"),
        ("expect", b"EHLO me\r\n"),
        ("send", reply),
    ) as c:
        r = c.send("EHLO me")
    assert r.status == "250" and r.truncated
    assert len(r.lines) == LAST_RESPONSE_LINES + 1
    assert r.lines[-2:] == (f"250-line {LAST_RESPONSE_LINES - 1}", "250 end")  # and the end
    assert r.raw.endswith(b"250-line %d\r\n250 end\r\n" % (LAST_RESPONSE_LINES - 1))


# -- protoshell serve --mail, transcripts ---------------------------------------------------------


def test_serve_mail_from_smtp_to_pop3_and_imap(mail_services: MailServices, tmp_path: Path) -> None:
    assert send_mail(f"smtp://{HOST}:{mail_services.smtp_port}").ok
    with protoshell.connect(f"pop3://{HOST}:{mail_services.pop3_port}", timeout=TIMEOUT) as c:
        c.send(f"USER {USER}", check=True)
        c.send(f"PASS {PASSWORD}", check=True)
        retr = c.send("RETR 1")
        assert retr.ok and retr.lines[-1] == "."
        c.send("QUIT")
    with protoshell.connect(f"imap://{HOST}:{mail_services.imap_port}", timeout=TIMEOUT) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        out = tmp_path / "m.eml"
        c.send("FETCH 1 BODY[]", save_body=out, check=True)
        c.send("LOGOUT")
    assert out.read_bytes() == MESSAGE
    assert retr.raw.split(b"\r\n", 1)[1] == MESSAGE.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def test_receive_what_the_server_says_unasked_during_idle(mail_services: MailServices) -> None:
    with protoshell.connect(f"imap://{HOST}:{mail_services.imap_port}", timeout=TIMEOUT) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        assert c.send("IDLE").status == "+"
        quiet = c.receive(0.2)
        assert (quiet.lines, quiet.status) == ((), None)
        assert send_mail(f"smtp://{HOST}:{mail_services.smtp_port}").ok
        news = c.receive(TIMEOUT)
        assert news.lines[0] == "* 1 EXISTS" and news.raw.startswith(b"* 1 EXISTS\r\n")
        assert c.send("DONE").status == "A0003 OK"


def test_the_transcript_replays_and_is_redacted(
    mail_services: MailServices, tls_ca: TLSCA, tmp_path: Path
) -> None:
    url = f"imap://{HOST}:{mail_services.imap_port}"
    with protoshell.connect(url, timeout=TIMEOUT, starttls=True, cafile=str(tls_ca.ca_cert)) as c:
        c.send(f"LOGIN {USER} {PASSWORD}", check=True)
        c.send("SELECT INBOX", check=True)
        c.send("LOGOUT")
    text = c.transcript()
    assert text.startswith("# protoshell transcript · target: imap://")
    assert "C: A0001 STARTTLS\n" in text and "C: A0002 LOGIN bob <redacted>\n" in text
    assert PASSWORD not in text
    assert f"C: A0002 LOGIN bob {PASSWORD}\n" in c.transcript(redact=False)
    saved = tmp_path / "session.txt"
    saved.write_text(text, encoding="utf-8")
    done = replay(saved, "--cafile", str(tls_ca.ca_cert), "--set", f"password={PASSWORD}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replay passed" in done.stdout
    # The check is real: against a server that refuses the login, it fails.
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(text, encoding="utf-8")
    failed = replay(wrong, "--cafile", str(tls_ca.ca_cert), "--set", "password=nope")
    assert failed.returncode == 1, failed.stdout + failed.stderr


def test_a_long_transcript_leaves_memory_for_a_file(
    smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protoshell.api, "SPOOL_MEMORY", 200)
    with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
        for i in range(20):
            c.send(f"NOOP {i}")
        spool = c._recorders[True][1]
        assert spool._file is not None  # spilled to the temporary file
        middle = c.transcript()
        c.send("QUIT")
    lines = c.transcript().splitlines()
    assert lines[0].startswith("# protoshell transcript")
    assert [line for line in lines if line.startswith("C: NOOP")] == [
        f"C: NOOP {i}" for i in range(20)
    ]
    assert lines[-1] in (
        "S: <server hangs up>",
        "C: <client hangs up>",
        "# server closed the connection after 221",
    )
    assert c.transcript().startswith(middle)


def test_record_false_keeps_no_transcript(smtp_server: SMTPServer) -> None:
    with (
        protoshell.connect(smtp_server.url, timeout=TIMEOUT, record=False) as c,
        pytest.raises(protoshell.UsageError, match="record=False"),
    ):
        c.transcript()


# -- inside a running event loop -----------------------------------------------------------------


def test_works_from_inside_a_running_event_loop(smtp_server: SMTPServer) -> None:
    """A notebook cell or an async test calls it synchronously, with a loop
    running in the same thread: no asyncio.run() inside, no error."""

    async def main() -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        with protoshell.connect(smtp_server.url, timeout=TIMEOUT) as c:
            assert c.greeting is not None
            return c.greeting.status, c.send("NOOP").status

    assert asyncio.run(main()) == ("220", "250")


# -- the package's face ---------------------------------------------------------------------------


def test_import_protoshell_loads_no_api_and_no_asyncio() -> None:
    code = (
        "import sys, protoshell\n"
        "assert 'protoshell.api' not in sys.modules and 'asyncio' not in sys.modules\n"
        "from protoshell import connect, Response, NetworkError\n"
        "assert connect is sys.modules['protoshell.api'].connect\n"
        "try:\n    protoshell.nope\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "has no attribute 'nope'" in done.stdout
    assert {"connect", "Response", "Error"} <= set(dir(protoshell))


@pytest.mark.slow
def test_py_typed_is_shipped(tmp_path: Path) -> None:
    """PEP 561: the marker is in the package and in the wheel pip builds
    (from a copy of the sources: no build/ left in the checkout, and no
    stale one to hide a missing file)."""
    assert (ROOT / "protoshell" / "py.typed").is_file()
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("protoshell", "web"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    import zipfile

    (wheel,) = tmp_path.glob("protoshell-*.whl")
    assert "protoshell/py.typed" in zipfile.ZipFile(wheel).namelist()


# -- the README's example --------------------------------------------------------------------------


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Scripting from Python\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in README's 'Scripting from Python'"
    return match.group(1)


def test_the_readme_example_runs(
    mail_services: MailServices,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = readme_example()
    for default, port in (("2525", mail_services.smtp_port), ("1143", mail_services.imap_port)):
        assert f"127.0.0.1:{default}" in code
        code = code.replace(f"127.0.0.1:{default}", f"{HOST}:{port}")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - our own README
    printed = capsys.readouterr().out.splitlines()
    # Each print(...) says what it prints in its comment ("..." for what varies).
    claims = [line.split("# ", 1)[1] for line in code.splitlines() if "print(" in line]
    assert len(printed) == len(claims) == 4
    for claim, line in zip(claims, printed, strict=True):
        pattern = ".*".join(re.escape(part) for part in claim.split("..."))
        assert re.fullmatch(pattern, line), (claim, line)
    assert (tmp_path / "message.eml").read_bytes().startswith(b"Subject: hello")
    done = replay(
        tmp_path / "session.txt",
        "--target",
        f"imap://{HOST}:{mail_services.imap_port}",
        "--set",
        f"password={PASSWORD}",
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- examples/lecture_round_trip.py ---------------------------------------------------------------

EXAMPLE = ROOT / "examples" / "lecture_round_trip.py"


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--timeout", str(TIMEOUT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )


def test_the_lecture_round_trip_example(
    mail_services: MailServices, tls_ca: TLSCA, tmp_path: Path
) -> None:
    """SMTP with STARTTLS and AUTH, then IMAP from LOGIN to the FETCH parsed
    by email.message_from_bytes; its exit codes are the CLI's."""
    servers = (
        f"--smtp=smtp://{HOST}:{mail_services.smtp_port}",
        f"--imap=imap://{HOST}:{mail_services.imap_port}",
    )
    done = run_example(*servers, f"--cafile={tls_ca.ca_cert}", f"--save={tmp_path}")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[-2:] == [
        "msg['to'] = 'Name <demo@crisewing.com>'",
        "msg.get_payload() = 'This is an email message\\r\\n'",
    ]
    said = [line for line in out if line.startswith("C: ")]
    assert said[1:5] == [
        "C: EHLO heffalump.local",
        "C: STARTTLS",
        "C: EHLO heffalump.local",
        "C: AUTH PLAIN <redacted>",
    ]
    assert "C: A0001 STARTTLS" in said and "C: A0010 FETCH 1 (RFC822)" in said
    assert PASSWORD not in done.stdout
    saved = tmp_path / "imap.txt"
    assert saved.read_text(encoding="utf-8") in done.stdout
    # A refusal and a dead server: one line on stderr, the CLI's exit codes.
    refused = run_example(*servers, "--password=wrong")
    assert (refused.returncode, refused.stderr.count("\n")) == (1, 1), refused.stderr
    assert "535" in refused.stderr
    dead = run_example(f"--smtp=smtp://{HOST}:{free_port()}")
    assert (dead.returncode, dead.stderr.count("\n")) == (3, 1), dead.stderr
    assert "refused" in dead.stderr


@pytest.mark.slow
def test_the_example_type_checks_strictly_against_the_package(tmp_path: Path) -> None:
    """A user's script under ``mypy --strict``, run outside the checkout:
    the types say what the API takes (a Path for cafile) and give back.
    mypy cannot see through setuptools' editable-install import hook (the
    README's ``pip install -e``), so the package is put on MYPYPATH as a
    site folder would hold it; protoshell's own modules are checked by
    ``.ci/run``'s mypy, not reported here (follow-imports=silent)."""
    package = Path(protoshell.__file__).parent
    assert (package / "py.typed").is_file()  # PEP 561: installed, it says it is typed
    site = tmp_path / "site"
    site.mkdir()
    (site / "protoshell").symlink_to(package, target_is_directory=True)
    script = tmp_path / "user_script.py"
    script.write_text(
        "from pathlib import Path\n"
        "import protoshell\n"
        "\n"
        "def check(url: str, ca: Path) -> tuple[bool, str | None, bytes]:\n"
        "    with protoshell.connect(url, timeout=5, cafile=ca, starttls=True) as c:\n"
        "        r: protoshell.Response = c.send('CAPABILITY', timeout=2.5)\n"
        "        bodies: tuple[bytes, ...] = r.payloads\n"
        "        return r.ok, r.status, r.raw + b''.join(bodies)\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
            str(EXAMPLE), str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(site)},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


A_USERS_TESTS = """\
import protoshell

def test_refused():
    with protoshell.connect("{smtp}", timeout=10) as c:
        c.send("EHLO me")
        c.send("MAIL FROM:<smith@bar.com>")
        c.send("RCPT TO:<green@foo.com>", check=True)

def test_down():
    with protoshell.connect("smtp://127.0.0.1:{dead}", timeout=10) as c:
        c.send("NOOP")
"""


def test_a_failing_pytest_test_shows_its_own_line_not_the_apis_insides(tmp_path: Path) -> None:
    """A team's pytest test that uses the API: the failure points at the test's
    line and says the one-line error; it showed api.py's guarded, send,
    _exchange, raise_for_status (and contextlib's __exit__) with their source."""
    from tests.integration.test_mail_targets import cli_env
    from tests.replay.support import running_lecture_smtp

    with running_lecture_smtp() as server:
        (tmp_path / "test_mail.py").write_text(A_USERS_TESTS.format(smtp=server.url, dead=free_port()))
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "test_mail.py"],
            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60, check=False,
        )
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "2 failed" in out
    assert re.search(r"\nE +protoshell\.api\.RefusedError: the server refused: 550 No such user here\n", out)
    assert re.search(r"\nE +protoshell\.api\.NetworkError: connection refused by 127\.0\.0\.1:", out)
    assert "api.py" not in out and "contextlib" not in out and "def raise_for_status" not in out
