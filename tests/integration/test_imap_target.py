"""The embedded IMAP server (protoshell/server/mail/imap.py) against real
clients nobody here wrote: Python's imaplib (the lecture's own calls),
imapclient from PyPI, curl's imap:// URLs, protoshell's pipe mode; plus raw
sockets for the lecture's re-ordered exchange, IDLE and bad input.

Everything runs on 127.0.0.1 with a fresh Maildir per test; every socket
operation has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import mailbox
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protoshell.proto.imap_server import ImapServerLimits
from protoshell.server.mail.imap import running_imap, start_imap_server

from .servers import TLSCA, ci_mode, require_binary, tls_with_first_command

USER, PASSWORD = "bob", "redqueen"
TIMEOUT = 10.0

MESSAGE = (
    b"From: Smith@bar.com\r\n"
    b"To: demo@crisewing.com\r\n"
    b"Subject: lecture\r\n"
    b"\r\n"
    b"This is an email message\r\n"
)
SECOND = (
    b"From: IPIP <ipip@example.org>\r\n"
    b"To: Jones@foo.com\r\n"
    b"Subject: second\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b".a line that starts with a dot\r\n"
    b"...etc. etc. etc.\r\n"
)


@dataclass
class Target:
    host: str
    port: int
    root: Path

    def deliver(self, data: bytes = MESSAGE) -> None:
        """What the SMTP server does: tmp/ -> new/ (stdlib mailbox)."""
        mailbox.Maildir(str(self.root), create=True).add(data)

    def connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        sock.settimeout(TIMEOUT)
        return sock

    def alive(self) -> bool:
        """A new client still gets a greeting and a working command."""
        with self.connect() as sock:
            f = sock.makefile("rb")
            greeting = f.readline()
            sock.sendall(b"Z CAPABILITY\r\n")
            lines = [f.readline(), f.readline()]
            return greeting.startswith(b"* OK") and lines[1].startswith(b"Z OK")


@pytest.fixture
def imap_server(tmp_path: Path, tls_ca: TLSCA) -> Iterator[Target]:
    root = tmp_path / "Maildir"
    mailbox.Maildir(str(root), create=True)
    with running_imap(root, USER, PASSWORD, tls_ca.server_context) as (host, port):
        yield Target(host, port, root)


def read_until(f: object, tag: bytes, limit: int = 10_000) -> list[bytes]:
    """Lines (with CRLF) up to and including the tagged one."""
    out: list[bytes] = []
    for _ in range(limit):
        line = f.readline()  # type: ignore[attr-defined]
        if not line:
            break
        out.append(line)
        if line.startswith(tag + b" "):
            break
    return out


# ---------------------------------------------------------------------------
# imaplib: the lecture's session
# ---------------------------------------------------------------------------


def test_imaplib_lecture_session(imap_server: Target) -> None:
    imap_server.deliver(SECOND)
    imap_server.deliver(MESSAGE)
    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=TIMEOUT)
    assert conn.login(USER, PASSWORD)[0] == "OK"
    assert conn.list() == ("OK", [b'(\\HasNoChildren) "." "INBOX"'])
    typ, data = conn.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK" and data[0].startswith(
        b'"INBOX" (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY '
    )
    assert conn.select("INBOX") == ("OK", [b"2"])
    assert conn.search(None, '(FROM "IPIP")') == ("OK", [b"1"])
    typ, data = conn.fetch("2", "(BODY[HEADER])")
    assert typ == "OK" and data[0][1] == MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4]  # type: ignore[index]
    typ, data = conn.fetch("2", "(BODY[TEXT])")
    assert data[0][1] == b"This is an email message\r\n"  # type: ignore[index]
    assert conn.fetch("2", "(FLAGS)") == ("OK", [b"2 (FLAGS (\\Recent \\Seen))"])
    import email

    typ, data = conn.fetch("2", "(RFC822)")
    msg = None
    for part in data:
        if isinstance(part, tuple):
            msg = email.message_from_bytes(part[1])
    assert msg is not None
    assert msg["to"] == "demo@crisewing.com"
    assert msg.get_payload() == "This is an email message\r\n"
    assert conn.store("1", "+FLAGS", "\\Deleted")[0] == "OK"
    assert conn.expunge() == ("OK", [b"1"])
    assert conn.search(None, "ALL") == ("OK", [b"1"])
    assert conn.logout()[0] == "BYE"


def test_message_read_back_byte_identical(imap_server: Target) -> None:
    odd = (
        b"From: a@b\r\nSubject: bytes\r\nX-8bit: caf\xc3\xa9 \xff\r\n\r\n"
        b".starts with a dot\r\n.\r\nFrom the start\r\n"
        + b"x" * 5000
        + b"\r\ntrailing spaces   \r\n\ttab\r\n"
        + bytes(range(32, 256))
        + b"\r\n"
    )
    big = (
        MESSAGE + b"0123456789abcdef" * 40_000 + b"\r\n"
    )  # over the inline limit: sent from the file
    for data in (MESSAGE, SECOND, odd, big):
        imap_server.deliver(data)
    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=TIMEOUT)
    conn.login(USER, PASSWORD)
    conn.select("INBOX")
    for i, data in enumerate((MESSAGE, SECOND, odd, big), 1):
        typ, got = conn.fetch(str(i), "(RFC822)")
        assert typ == "OK"
        assert got[0][1] == data  # type: ignore[index]
        typ, got = conn.fetch(str(i), "(RFC822.SIZE)")
        assert got[0] == b"%d (RFC822.SIZE %d)" % (i, len(data))
    conn.logout()


def test_imaplib_append_and_uid_commands(imap_server: Target) -> None:
    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=TIMEOUT)
    conn.login(USER, PASSWORD)
    assert conn.create("Sent")[0] == "OK"
    when = imaplib.Time2Internaldate(946684800)
    typ, data = conn.append("Sent", "(\\Seen)", when, SECOND)
    assert typ == "OK" and b"APPENDUID" in data[0]
    conn.select("Sent")
    assert conn.uid("SEARCH", "SEEN") == ("OK", [b"1"])
    typ, data = conn.uid("FETCH", "1", "(INTERNALDATE BODY.PEEK[])")
    assert data[0][1] == SECOND  # type: ignore[index]
    assert b'INTERNALDATE " 1-Jan-2000 00:00:00 +0000"' in data[0][0]  # type: ignore[index]
    assert conn.uid("COPY", "1", "INBOX")[0] == "OK"
    assert conn.select("INBOX") == ("OK", [b"1"])
    conn.logout()


def test_big_append_streams_and_reads_back(imap_server: Target) -> None:
    """3 MB through APPEND (streamed to tmp/, never whole in memory) and
    back through FETCH (sent from the file)."""
    line = bytes(range(33, 127)) + b"\r\n"
    big = b"From: a@b\r\nSubject: big\r\n\r\n" + line * (3_000_000 // len(line))
    conn = imaplib.IMAP4(imap_server.host, imap_server.port, timeout=TIMEOUT)
    conn.login(USER, PASSWORD)
    assert conn.append("INBOX", None, None, big)[0] == "OK"
    conn.select("INBOX")
    _, data = conn.fetch("1", "(BODY.PEEK[] BODY.PEEK[TEXT]<1000.50>)")
    assert data[0][1] == big  # type: ignore[index]
    offset = big.index(b"\r\n\r\n") + 4 + 1000
    assert data[1] == (b" BODY[TEXT]<1000> {50}", big[offset : offset + 50])
    conn.logout()
    assert os.listdir(imap_server.root / "tmp") == []


# ---------------------------------------------------------------------------
# imapclient (PyPI)
# ---------------------------------------------------------------------------


def _imapclient() -> Any:
    """imapclient from PyPI (in the test extra): skipped locally when it is
    missing, a failure under CI=true."""
    try:
        import imapclient
    except ImportError:
        if ci_mode():
            pytest.fail("imapclient is not installed; CI=true, so this is an error")
        pytest.skip("imapclient is not installed (pip install imapclient)")
    return imapclient


def test_imapclient_starttls_envelope_and_idle(imap_server: Target, tls_ca: TLSCA) -> None:
    imapclient = _imapclient()
    imap_server.deliver(SECOND)
    client = imapclient.IMAPClient(imap_server.host, imap_server.port, ssl=False, timeout=TIMEOUT)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(tls_ca.client_context())
        client.login(USER, PASSWORD)
        info = client.select_folder("INBOX")
        assert info[b"EXISTS"] == 1 and info[b"READ-WRITE"]
        assert client.search(["FROM", "ipip"]) == [1]
        data = client.fetch(
            [1], ["ENVELOPE", "FLAGS", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        )
        env = data[1][b"ENVELOPE"]
        assert env.subject == b"second"
        assert env.from_[0].name == b"IPIP" and env.from_[0].mailbox == b"ipip"
        assert env.from_[0].host == b"example.org"
        assert data[1][b"RFC822.SIZE"] == len(SECOND)
        assert data[1][b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: second\r\n\r\n"
        client.idle()
        timer = threading.Timer(0.3, imap_server.deliver)
        timer.start()
        responses = client.idle_check(timeout=5)
        timer.join()
        client.idle_done()
        assert (2, b"EXISTS") in responses
        client.set_flags([1, 2], [imapclient.SEEN])
        assert client.search(["UNSEEN"]) == []
        client.create_folder("Archive")
        client.copy([1], "Archive")
        assert client.folder_status("Archive", ["MESSAGES"]) == {b"MESSAGES": 1}
        assert [f[2] for f in client.list_folders()] == ["INBOX", "Archive"]
    finally:
        with contextlib.suppress(Exception):
            client.logout()


# ---------------------------------------------------------------------------
# curl
# ---------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_binary("curl", "curl")
    return subprocess.run(
        [exe, "-sS", "--max-time", "10", "-u", f"{USER}:{PASSWORD}", *args],
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_curl_list_and_fetch_by_uid(imap_server: Target) -> None:
    imap_server.deliver(SECOND)
    base = f"imap://{imap_server.host}:{imap_server.port}"
    r = curl(base + "/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'* LIST (\\HasNoChildren) "." "INBOX"\r\n'
    r = curl(base + "/INBOX;UID=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == SECOND
    r = curl(base + "/INBOX?SUBJECT%20second")
    assert r.stdout == b"* SEARCH 1\r\n"


def test_curl_starttls_with_cacert(imap_server: Target, tls_ca: TLSCA) -> None:
    imap_server.deliver(SECOND)
    url = f"imap://localhost:{imap_server.port}/INBOX;UID=1"
    r = curl("--ssl-reqd", "--cacert", str(tls_ca.ca_cert), url)
    assert r.returncode == 0, r.stderr
    assert r.stdout == SECOND
    r = curl("--ssl-reqd", "--cacert", str(tls_ca.untrusted.ca_cert), url)
    assert r.returncode != 0  # a certificate from another CA is refused


# ---------------------------------------------------------------------------
# protoshell's own pipe mode
# ---------------------------------------------------------------------------


def protoshell(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        r.args,
        r.returncode,
        r.stdout.decode("utf-8", "replace"),
        r.stderr.decode("utf-8", "replace"),
    )


def test_pipe_mode(imap_server: Target) -> None:
    imap_server.deliver(SECOND)
    stdin = b"LOGIN bob redqueen\nSELECT INBOX\nFETCH 1 RFC822.SIZE\nFETCH 1 BODY[HEADER]\nLOGOUT\n"
    r = protoshell([f"imap://{imap_server.host}:{imap_server.port}"], stdin)
    assert r.returncode == 0, r.stderr + r.stdout
    out = r.stdout.splitlines()
    assert out[1].startswith("S: * OK [CAPABILITY IMAP4rev1 ")
    assert "plain LOGIN is allowed on loopback" in out[1]
    assert "C: A0002 SELECT INBOX" in out
    assert "S: A0002 OK [READ-WRITE] SELECT completed" in out
    assert f"S: * 1 FETCH (RFC822.SIZE {len(SECOND)})" in out
    header_len = SECOND.index(b"\r\n\r\n") + 4
    assert f"S: * 1 FETCH (FLAGS (\\Recent \\Seen) BODY[HEADER] {{{header_len}}}" in out
    assert "S: Subject: second" in out
    assert "S: A0005 OK LOGOUT completed" in out


def test_pipe_mode_starttls(imap_server: Target, tls_ca: TLSCA) -> None:
    url = f"imap://localhost:{imap_server.port}"
    r = protoshell(
        [url, "--starttls", "--cafile", str(tls_ca.ca_cert)], b"LOGIN bob redqueen\nLOGOUT\n"
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert "verified" in r.stdout and "NOT verified" not in r.stdout
    assert any(line.startswith("S: A0002 OK") for line in r.stdout.splitlines())


def test_pipe_mode_lecture_user_is_bad(imap_server: Target) -> None:
    r = protoshell(
        [f"imap://{imap_server.host}:{imap_server.port}"], b'A0001 USER "frobozz" "xyzzy"\nLOGOUT\n'
    )
    assert r.returncode == 1
    assert any(
        line.startswith("S: A0001 BAD USER is not an IMAP command")
        for line in r.stdout.splitlines()
    )


# ---------------------------------------------------------------------------
# Raw sockets: the re-ordered exchange, IDLE, bad input
# ---------------------------------------------------------------------------


def test_lecture_reordered_exchange(imap_server: Target) -> None:
    """The lecture's pipelined session: A0003-A0005 sent at once, answered
    in order, each response complete before the next."""
    imap_server.deliver(SECOND)
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"* OK")
        sock.sendall(
            b'A0001 LOGIN "bob" "redqueen"\r\nA0002 SELECT INBOX\r\nA0003 FETCH 1 RFC822.SIZE\r\n'
            b"A0004 FETCH 1 BODY[HEADER]\r\nA0005 FETCH 1 BODY[TEXT]\r\nA0006 LOGOUT\r\n"
        )
        data = b"".join(read_until(f, b"A0006"))
    tags = [line.split(b" ")[0] for line in data.split(b"\r\n") if line[:2] == b"A0"]
    assert tags == [b"A0001", b"A0002", b"A0003", b"A0004", b"A0005", b"A0006"]
    header = SECOND[: SECOND.index(b"\r\n\r\n") + 4]
    assert b"* 1 FETCH (RFC822.SIZE %d)\r\nA0003 OK" % len(SECOND) in data
    assert (
        b"* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[HEADER] {%d}\r\n" % len(header)
        + header
        + b")\r\n"
        in data
    )
    assert (
        b"* 1 FETCH (BODY[TEXT] {%d}\r\n" % (len(SECOND) - len(header)) + SECOND[len(header) :]
        in data
    )
    assert data.index(b"A0003 OK") < data.index(b"A0004 OK") < data.index(b"A0005 OK")


def test_idle_pushes_exists_when_mail_arrives(imap_server: Target) -> None:
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a LOGIN bob redqueen\r\nb SELECT INBOX\r\nc IDLE\r\n")
        read_until(f, b"b")
        assert f.readline() == b"+ idling\r\n"
        started = time.monotonic()
        imap_server.deliver()
        assert f.readline() == b"* 1 EXISTS\r\n"
        assert time.monotonic() - started < 3
        assert f.readline() == b"* 1 RECENT\r\n"
        sock.sendall(b"DONE\r\n")
        assert f.readline() == b"c OK IDLE terminated\r\n"


def test_bad_input_gets_bad_and_the_server_stays_up(imap_server: Target) -> None:
    imap_server.deliver()
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a LOGIN bob redqueen\r\nb SELECT INBOX\r\n")
        read_until(f, b"b")
        sock.sendall(b"c FROBNICATE\r\n")
        assert f.readline() == b"c BAD unknown command FROBNICATE\r\n"
        sock.sendall(b"d FETCH 1:x FLAGS\r\n")
        assert f.readline().startswith(b"d BAD FETCH: invalid sequence set '1:x'")
        sock.sendall(b"e FETCH 9 FLAGS\r\n")
        assert f.readline() == b"e BAD invalid message number in 9 (the mailbox has 1 message)\r\n"
        sock.sendall(b"f APPEND INBOX {99999999999}\r\n")
        assert f.readline().startswith(b"f BAD [TOOBIG] message of 99999999999 octets")
        sock.sendall(b"\x00\xff garbage\r\n")
        assert f.readline().startswith(b"* BAD invalid tag")
        sock.sendall(b"g NOOP\r\n")
        assert f.readline() == b"g OK NOOP completed\r\n"
    assert imap_server.alive()


def test_client_vanishing_mid_append_leaves_no_message(imap_server: Target) -> None:
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a LOGIN bob redqueen\r\nb APPEND INBOX {1000}\r\n")
        read_until(f, b"a")
        assert f.readline() == b"+ Ready for literal data\r\n"
        sock.sendall(MESSAGE)  # a part of the promised 1000 octets
        deadline = time.monotonic() + 5
        while not os.listdir(imap_server.root / "tmp") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.listdir(imap_server.root / "tmp")  # on its way, in tmp/ only
        f.close()  # the socket really closes only when its file does too
    deadline = time.monotonic() + 5
    while os.listdir(imap_server.root / "tmp") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.listdir(imap_server.root / "tmp") == []
    assert os.listdir(imap_server.root / "new") == []
    assert os.listdir(imap_server.root / "cur") == []
    assert imap_server.alive()


def test_line_without_crlf_then_close(imap_server: Target) -> None:
    with imap_server.connect() as sock:
        sock.makefile("rb").readline()
        sock.sendall(b"a LOGIN bob redqu")
    with imap_server.connect() as sock:
        sock.sendall(b"b NOOP")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(4096).startswith(b"* OK")
    assert imap_server.alive()


def test_starttls_discards_injected_plaintext(imap_server: Target, tls_ca: TLSCA) -> None:
    """Commands sent in plaintext after STARTTLS (RFC 3501 6.2.1) are never
    run: only what arrives inside TLS counts."""
    with imap_server.connect() as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"a STARTTLS\r\nb LOGIN bob redqueen\r\n")
        assert f.readline() == b"a OK Begin TLS negotiation now\r\n"
        context = tls_ca.client_context()
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.settimeout(TIMEOUT)
            g = tls.makefile("rb")
            tls.sendall(b"c SELECT INBOX\r\n")
            # not authenticated: "b LOGIN" was dropped, not run
            assert g.readline().startswith(b"c BAD SELECT is not allowed in the not-authenticated")
            tls.sendall(b"d CAPABILITY\r\n")
            caps = g.readline()
            assert b"STARTTLS" not in caps and b"AUTH=PLAIN" in caps




@pytest.mark.parametrize("attempt", range(5))
def test_command_right_behind_the_tls_handshake_is_answered(
    imap_server: Target, tls_ca: TLSCA, attempt: int
) -> None:
    """Bytes that arrive through TLS while the server is still completing the
    upgrade are the client's first protected command, not plaintext to drop."""
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a STARTTLS\r\n")
        assert f.readline() == b"a OK Begin TLS negotiation now\r\n"
        f.close()
        got = tls_with_first_command(sock, tls_ca.client_context(), b"b NOOP\r\n")
    assert got == b"b OK NOOP completed\r\n"


def test_autologout(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    with (
        running_imap(root, USER, PASSWORD, timeout=0.5) as (host, port),
        socket.create_connection((host, port), timeout=TIMEOUT) as sock,
    ):
        f = sock.makefile("rb")
        f.readline()
        assert f.readline() == b"* BYE Autologout; idle for too long\r\n"
        assert f.readline() == b""


def test_limits_are_applied(tmp_path: Path) -> None:
    root = tmp_path / "Maildir"
    limits = ImapServerLimits(max_line=1024)
    with (
        running_imap(root, USER, PASSWORD, limits=limits) as (host, port),
        socket.create_connection((host, port), timeout=TIMEOUT) as sock,
    ):
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a LOGIN " + b"x" * 5000 + b"\r\nb NOOP\r\n")
        assert f.readline() == b"a BAD line longer than 1024 bytes\r\n"
        assert f.readline() == b"b OK NOOP completed\r\n"


def test_closing_the_server_ends_idling_clients(tmp_path: Path) -> None:
    """close() + wait_closed() return promptly and say BYE, even to a client
    in IDLE (Python 3.12's wait_closed waits for every connection)."""
    root = tmp_path / "Maildir"
    mailbox.Maildir(str(root), create=True)
    received: list[bytes] = []

    async def main() -> None:
        server = await start_imap_server(
            root, "127.0.0.1", 0, user=USER, password=PASSWORD, ssl_context=None
        )
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"a LOGIN bob redqueen\r\nb IDLE\r\n")
        await reader.readline()
        received.append(await reader.readline())
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        received.append(await asyncio.wait_for(reader.readline(), 5))
        writer.close()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert received == [b"+ idling\r\n", b"* BYE Server shutting down\r\n"]


def test_tls_handshake_garbage_does_not_stop_the_server(imap_server: Target) -> None:
    with imap_server.connect() as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a STARTTLS\r\n")
        assert f.readline().startswith(b"a OK")
        sock.sendall(b"this is not a TLS client hello\r\n" * 10)
        with contextlib.suppress(OSError):
            sock.recv(100)
    assert imap_server.alive()


def test_imaps_context_is_not_required(tmp_path: Path) -> None:
    """Without a certificate, STARTTLS is neither offered nor accepted."""
    root = tmp_path / "Maildir"
    with running_imap(root, USER, PASSWORD, None) as (host, port):
        conn = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        assert "STARTTLS" not in conn.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            conn.starttls(ssl.create_default_context())
        conn.logout()


# ---------------------------------------------------------------------------
# With the other mail servers: SMTP delivers, IMAP reads
# ---------------------------------------------------------------------------


def test_smtp_to_imap_byte_identical(tmp_path: Path) -> None:
    """The lecture's whole story on the embedded servers: smtplib sends,
    imaplib (already idling) is told at once and reads it back unchanged."""
    import smtplib

    from protoshell.server.mail.service import MailServices

    with MailServices(
        tmp_path / "Maildir", smtp_port=0, pop3_port=0, imap_port=0, tls=False
    ) as mail:
        assert mail.imap_port is not None, mail.imap_error
        with imap_connection(mail.host, mail.imap_port) as (sock, f):
            sock.sendall(b"a LOGIN bob redqueen\r\nb SELECT INBOX\r\nc IDLE\r\n")
            read_until(f, b"b")
            assert f.readline() == b"+ idling\r\n"
            with smtplib.SMTP(mail.host, mail.smtp_port, timeout=TIMEOUT) as smtp:
                smtp.sendmail("Smith@bar.com", ["demo@crisewing.com"], SECOND)
            assert f.readline() == b"* 1 EXISTS\r\n"
            sock.sendall(b"DONE\r\n")
            read_until(f, b"c")
        conn = imaplib.IMAP4(mail.host, mail.imap_port, timeout=TIMEOUT)
        conn.login(USER, PASSWORD)
        conn.select("INBOX")
        _typ, data = conn.fetch("1", "(RFC822)")
        assert data[0][1] == SECOND  # type: ignore[index]
        conn.logout()


@contextlib.contextmanager
def imap_connection(host: str, port: int) -> Iterator[tuple[socket.socket, object]]:
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        f = sock.makefile("rb")
        try:
            assert f.readline().startswith(b"* OK")
            yield sock, f
        finally:
            f.close()


# ---------------------------------------------------------------------------
# The lessons in transcripts/ replay against the embedded server
# ---------------------------------------------------------------------------

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"


def lecture_message() -> bytes:
    """The lecture's message: 2545 octets, a 1425-octet header, 1120 of body."""
    header = b"From: esr@thyrsus.com\r\nTo: frobozz@example.com\r\nSubject: lecture\r\n"
    header += b"X-Pad: " + b"p" * (1425 - len(header) - 11) + b"\r\n\r\n"
    body = (b"y" * 98 + b"\r\n") * 11 + b"z" * 18 + b"\r\n"
    assert (len(header), len(body)) == (1425, 1120)
    return header + body


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("imap_login.txt", 0),
        ("imap_pipelined.txt", 0),
        ("imap_variables.txt", 0),
        ("imap_lecture.txt", 1),
    ],
)
def test_lesson_transcripts_replay(tmp_path: Path, name: str, status: int) -> None:
    lesson = TRANSCRIPTS / name
    root = tmp_path / "Maildir"
    mailbox.Maildir(str(root), create=True).add(lecture_message())
    with running_imap(root, "frobozz", "xyzzy") as (host, port):
        r = protoshell(["replay", str(lesson), "--target", f"imap://{host}:{port}"], b"")
    assert r.returncode == status, r.stdout + r.stderr
    if status:  # imap_lecture.txt fails on purpose: IMAP has no USER command
        assert f"mismatch at {lesson}:28" in r.stdout or ":28" in r.stdout
        assert "A0001 BAD USER is not an IMAP command" in r.stdout
