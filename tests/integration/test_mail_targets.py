"""The offline mail targets (`protoshell serve --mail`) against real clients.

Clients nobody here wrote (smtplib, poplib, curl) and protoshell's own pipe
mode and replayer talk to `MailServices` on 127.0.0.1, on free ports, over
a fresh Maildir, with the `tls_ca` certificate for STARTTLS/STLS.  What a
client sends over SMTP must come back over POP3 exactly as it sits in the
Maildir; bad input must get an error or a closed connection, never a dead
server or a lost or half-written message.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import os
import poplib
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from protoshell.server.mail.maildir import MaildirStore
from protoshell.server.mail.service import MailServices

from .servers import HOST, TLSCA, require_binary, tls_with_first_command

ROOT = Path(__file__).resolve().parents[2]
OFFLINE = ROOT / "transcripts" / "offline"
TIMEOUT = 10.0
USER, PASSWORD = "bob", "redqueen"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for ``python -m protoshell``: this checkout first on
    the path (whatever protoshell is installed), plus ``extra``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


# A message with the things SMTP and POP3 must carry through: a line that
# starts with a dot (both stuff it), a line that is only a dot, 8-bit UTF-8,
# trailing spaces, an empty line at the end.
MESSAGE = (
    b"From: Smith <Smith@bar.com>\r\n"
    b"To: Jones <Jones@foo.com>\r\n"
    b"Subject: round trip\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b".a line that starts with a dot\r\n"
    b".\r\n"
    b"..two dots\r\n"
    b"caf\xc3\xa9 \xe2\x98\x95   \r\n"
    b"\r\n"
)


@pytest.fixture
def mail(mail_services: MailServices) -> MailServices:
    """`protoshell serve --mail` on free ports (fixtures.py: mail_services)."""
    return mail_services


def delivered(store: MaildirStore, count: int = 1, timeout: float = TIMEOUT) -> list[bytes]:
    """The messages in the Maildir, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        messages = store.messages()
        if len(messages) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(messages) == count, f"expected {count} message(s), found {len(messages)}"
    return [store.read(m.key) for m in messages]


def assert_maildir_clean(store: MaildirStore) -> None:
    """Nothing half-written anywhere: tmp/ empty."""
    assert list((store.path / "tmp").iterdir()) == []


def send(mail: MailServices, message: bytes = MESSAGE, rcpt: str = "Jones@foo.com") -> None:
    with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.sendmail("Smith@bar.com", [rcpt], message)


def pop3(mail: MailServices, tls_ca: TLSCA | None = None) -> poplib.POP3:
    client = poplib.POP3(HOST, mail.pop3_port, timeout=TIMEOUT)
    if tls_ca is not None:
        client.stls(context=tls_ca.client_context())
    client.user(USER)
    client.pass_(PASSWORD)
    return client


def retr(client: poplib.POP3, n: int) -> bytes:
    """RETR n as poplib gives it (lines, dot-unstuffed), joined with CRLF."""
    _, lines, _ = client.retr(n)
    return b"".join(line + b"\r\n" for line in lines)


class Raw:
    """A bare socket client for the bad-input tests (every operation times out)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed; buffered {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def until(self, prefix: bytes) -> bytes:
        """Lines up to and including the first that starts with prefix."""
        for _ in range(1000):
            line = self.line()
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no line starting with {prefix!r}")

    def closed(self) -> bool:
        """True once the server has closed (reads what is left)."""
        try:
            while chunk := self.sock.recv(65536):
                self.buf += chunk
        except (ConnectionResetError, TimeoutError):
            return False
        return True

    def abort(self) -> None:
        """Vanish: close with a reset, no FIN."""
        self.sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def raw(port: int) -> Iterator[Raw]:
    client = Raw(port)
    try:
        yield client
    finally:
        client.close()


# -- SMTP in, POP3 out ---------------------------------------------------------------------


def test_smtplib_sends_and_poplib_reads_back_byte_identical(mail: MailServices) -> None:
    send(mail)
    (stored,) = delivered(mail.store)
    # SMTP's own transformations: smtplib dot-stuffs, aiosmtpd unstuffs, and
    # the Maildir keeps exactly what arrived.
    assert stored == MESSAGE
    client = pop3(mail)
    try:
        assert client.stat() == (1, len(MESSAGE))
        assert retr(client, 1) == stored
    finally:
        client.quit()
    assert_maildir_clean(mail.store)


def test_starttls_and_auth_with_smtplib_then_stls_with_poplib(
    mail: MailServices, tls_ca: TLSCA
) -> None:
    with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo("bar.com")
        assert smtp.has_extn("starttls")
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == str(32 << 20)
        smtp.starttls(context=tls_ca.client_context())
        smtp.ehlo("bar.com")
        smtp.login(USER, PASSWORD)
        smtp.sendmail("bob@bar.com", ["Jones@foo.com"], MESSAGE)
    (stored,) = delivered(mail.store)
    client = pop3(mail, tls_ca)
    try:
        assert "STLS" not in client.capa()  # RFC 2595 4: not offered twice
        assert retr(client, 1) == stored == MESSAGE
    finally:
        client.quit()


def test_auth_without_tls_on_loopback_and_a_wrong_password(mail: MailServices) -> None:
    with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.login(USER, PASSWORD)  # allowed: loopback (the greeting says so)
    with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            smtp.login(USER, "bluequeen")
        assert info.value.smtp_code == 535
    with raw(mail.smtp_port) as c:
        assert b"AUTH PLAIN/LOGIN allowed without TLS on loopback" in c.line()


def test_auth_login_prompts_are_username_and_password(mail: MailServices) -> None:
    """The prompts a student decodes are the usual ``Username:`` and ``Password:`` (as
    Postfix's), not aiosmtpd's ``User Name\\x00`` with a NUL byte in it."""
    with raw(mail.smtp_port) as c:
        c.until(b"220 ")
        c.send(b"EHLO bar.com\r\n")
        c.until(b"250 ")
        c.send(b"AUTH LOGIN\r\n")
        prompt = c.line()
        assert prompt == b"334 VXNlcm5hbWU6\r\n", prompt
        assert base64.b64decode(prompt[4:]) == b"Username:"
        c.send(base64.b64encode(USER.encode()) + b"\r\n")
        assert base64.b64decode(c.line()[4:]) == b"Password:"
        c.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
        assert c.line().startswith(b"235 ")


def test_the_lectures_unknown_user_is_refused(mail: MailServices) -> None:
    with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
        smtp.ehlo("bar.com")
        smtp.mail("Smith@bar.com")
        assert smtp.rcpt("Jones@foo.com")[0] == 250
        assert smtp.rcpt("Green@foo.com") == (550, b"No such user here")
        assert smtp.rcpt("anyone@anywhere.example")[0] == 250
        assert smtp.data(MESSAGE)[0] == 250
    delivered(mail.store)


def test_pop3_update_state_deletes_only_at_quit(mail: MailServices) -> None:
    for _ in range(3):
        send(mail)
    delivered(mail.store, 3)
    client = pop3(mail)
    uids = client.uidl()[1]
    assert len(uids) == 3
    client.dele(1)
    client.dele(3)
    client.close()  # hang up without QUIT: nothing deleted
    time.sleep(0.1)
    assert len(delivered(mail.store, 3)) == 3
    client = pop3(mail)
    assert client.uidl()[1] == uids  # the ids are stable across sessions
    client.dele(2)
    assert client.quit().endswith(b"(2 messages left)")
    assert len(mail.store) == 2
    client = pop3(mail)
    assert [u.split()[1] for u in client.uidl()[1]] == [uids[0].split()[1], uids[2].split()[1]]
    _, lines, _ = client.top(1, 0)
    assert lines == MESSAGE.split(b"\r\n\r\n")[0].split(b"\r\n") + [b""]
    client.quit()


def test_one_pop3_session_per_maildrop(mail: MailServices) -> None:
    first = pop3(mail)
    with pytest.raises(poplib.error_proto, match=r"IN-USE"):
        pop3(mail)
    first.quit()
    pop3(mail).quit()


def test_new_mail_is_visible_at_the_next_pop3_login(mail: MailServices) -> None:
    client = pop3(mail)
    assert client.stat() == (0, 0)
    client.quit()
    send(mail)
    client = pop3(mail)
    assert client.stat()[0] == 1
    client.quit()


# -- across protocols: SMTP in, POP3 and IMAP out, one Maildir ---------------------------------------


def imap_port(mail: MailServices) -> int:
    assert mail.imap_port is not None, f"no IMAP server: {mail.imap_error}"
    return mail.imap_port


def imap(mail: MailServices, tls_ca: TLSCA | None = None) -> imaplib.IMAP4:
    client = imaplib.IMAP4(HOST, imap_port(mail), timeout=TIMEOUT)
    if tls_ca is not None:
        client.starttls(ssl_context=tls_ca.client_context())
    client.login(USER, PASSWORD)
    return client


def test_smtplib_message_is_byte_identical_over_pop3_and_imap(
    mail: MailServices, tls_ca: TLSCA
) -> None:
    imap_port(mail)
    send(mail)
    (stored,) = delivered(mail.store)
    assert stored == MESSAGE
    client = imap(mail, tls_ca)
    try:
        client.select("INBOX", readonly=True)
        typ, data = client.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        head, literal = data[0]  # type: ignore[misc]
        assert literal == MESSAGE
        assert f"RFC822.SIZE {len(MESSAGE)}".encode() in head
    finally:
        client.logout()
    client3 = pop3(mail, tls_ca)
    try:
        assert retr(client3, 1) == MESSAGE
    finally:
        client3.quit()


def test_imap_idle_sees_mail_that_smtp_delivers(mail: MailServices) -> None:
    with raw(imap_port(mail)) as c:
        c.line()
        c.send(b"A1 LOGIN bob redqueen\r\nA2 SELECT INBOX\r\nA3 IDLE\r\n")
        c.until(b"A2 OK")
        assert c.line().startswith(b"+ ")
        send(mail)
        assert c.until(b"* 1 EXISTS") == b"* 1 EXISTS\r\n"
        c.send(b"DONE\r\nA4 LOGOUT\r\n")
        c.until(b"A3 OK")


def test_deletions_are_seen_across_pop3_and_imap(mail: MailServices) -> None:
    imap_port(mail)
    for _ in range(2):
        send(mail)
    delivered(mail.store, 2)
    client = pop3(mail)
    client.dele(1)
    client.quit()  # UPDATE: message 1 removed from the Maildir
    client4 = imap(mail)
    try:
        assert client4.select("INBOX") == ("OK", [b"1"])
        client4.store("1", "+FLAGS", "(\\Deleted)")
        client4.expunge()
    finally:
        client4.logout()
    client = pop3(mail)
    try:
        assert client.stat() == (0, 0)
    finally:
        client.quit()


def test_curl_sends_with_starttls_and_reads_back_over_imap(
    mail: MailServices, tls_ca: TLSCA, tmp_path: Path
) -> None:
    port = imap_port(mail)
    account = ["-u", f"{USER}:{PASSWORD}"]
    secure = ["--ssl-reqd", "--cacert", str(tls_ca.ca_cert)]
    upload = tmp_path / "message.eml"
    upload.write_bytes(MESSAGE)
    sent = curl(
        f"smtp://{HOST}:{mail.smtp_port}", "--mail-from", "a@b.c", "--mail-rcpt", "c@d.e",
        "--upload-file", str(upload), *account, *secure,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    got = curl(f"imap://{HOST}:{port}/INBOX;UID=1", *account, *secure)
    assert got.returncode == 0, got.stderr
    assert got.stdout == MESSAGE


def test_the_lectures_reordered_imap_exchange_replays(tmp_path: Path) -> None:
    """transcripts/imap_pipelined.txt: the lecture's pipelined FETCHes."""
    lesson = ROOT / "transcripts" / "imap_pipelined.txt"
    from tests.replay.support import lecture_message

    with MailServices(tmp_path / "M", HOST, 0, 0, 0, "frobozz", "xyzzy", tls=False) as mail:
        port = imap_port(mail)
        mail.store.deliver(lecture_message())
        status, out, err = _replay(str(lesson), "--target", f"imap://{HOST}:{port}")
    assert status == 0, err + out


# -- curl --------------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_binary("curl", "curl")
    return subprocess.run(
        [exe, "-sS", "--max-time", str(TIMEOUT), *args],
        capture_output=True,
        timeout=TIMEOUT + 5,
        check=False,
    )


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "starttls"])
def test_curl_sends_with_smtp_and_reads_with_pop3(
    mail: MailServices, tls_ca: TLSCA, tmp_path: Path, tls: bool
) -> None:
    secure = ["--ssl-reqd", "--cacert", str(tls_ca.ca_cert)] if tls else []
    upload = tmp_path / "message.eml"
    upload.write_bytes(MESSAGE)
    sent = curl(
        f"smtp://{HOST}:{mail.smtp_port}",
        "--mail-from", "Smith@bar.com",
        "--mail-rcpt", "Jones@foo.com",
        "--upload-file", str(upload),
        "-u", f"{USER}:{PASSWORD}",
        *secure,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    (stored,) = delivered(mail.store)
    assert stored == MESSAGE
    listing = curl(f"pop3://{HOST}:{mail.pop3_port}/", "-u", f"{USER}:{PASSWORD}", *secure)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout == f"1 {len(MESSAGE)}\r\n".encode()
    got = curl(f"pop3://{HOST}:{mail.pop3_port}/1", "-u", f"{USER}:{PASSWORD}", *secure)
    assert got.returncode == 0, got.stderr
    assert got.stdout == stored


def test_curl_refuses_an_untrusted_certificate(mail: MailServices, tls_ca: TLSCA) -> None:
    r = curl(
        f"pop3://{HOST}:{mail.pop3_port}/", "-u", f"{USER}:{PASSWORD}",
        "--ssl-reqd", "--cacert", str(tls_ca.untrusted.ca_cert),
    )  # fmt: skip
    assert r.returncode == 60, r.stderr  # CURLE_PEER_FAILED_VERIFICATION


# -- protoshell's own pipe mode and replayer ---------------------------------------------------


def protoshell(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", *args],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
        env=cli_env(),
    )
    return subprocess.CompletedProcess(
        r.args, r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode()
    )


def test_pipe_mode_pop3_with_stls(mail: MailServices, tls_ca: TLSCA) -> None:
    send(mail)
    r = protoshell(
        [f"pop3://{HOST}:{mail.pop3_port}", "--starttls", "--cafile", str(tls_ca.ca_cert)],
        b"USER bob\nPASS redqueen\nSTAT\nRETR 1\nQUIT\n",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    out = r.stdout.splitlines()
    assert "S: +OK Begin TLS negotiation" in out
    assert f"S: +OK 1 {len(MESSAGE)}" in out
    assert "S: ..a line that starts with a dot" in out  # as on the wire: stuffed
    assert out[-2] == "S: +OK protoshell POP3 server signing off (1 message left)"


def test_pipe_mode_smtp_lecture(mail: MailServices) -> None:
    body = b"Subject: piped\n\nBlah blah blah...\n...etc. etc. etc.\n.\n"
    r = protoshell(
        [f"smtp://{HOST}:{mail.smtp_port}"],
        b"EHLO bar.com\nMAIL FROM:<Smith@bar.com>\nRCPT TO:<Jones@foo.com>\nDATA\n"
        + body
        + b"QUIT\n",
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (stored,) = delivered(mail.store)
    assert stored == b"Subject: piped\r\n\r\nBlah blah blah...\r\n...etc. etc. etc.\r\n"


def _replay(*args: str) -> tuple[int, str, str]:
    from tests.replay.support import replay

    run = replay(*args)
    return run.status, run.out, run.err


def _lecture_pop3_messages(store: MaildirStore) -> None:
    for n, size in ((1, 120), (2, 200)):
        head = f"Subject: message {n}\r\n\r\n".encode()
        store.deliver(head + b"x" * (size - len(head) - 2) + b"\r\n")


# (lesson, messages delivered first, needs TLS options)
LESSONS = [
    ("mail-smtp-lecture.txt", 0, False),
    ("mail-smtp-starttls-auth.txt", 0, True),
    ("mail-pop3-lecture.txt", 2, False),
    ("mail-pop3-stls.txt", 1, True),
    ("mail-pop3-errors.txt", 1, False),
]


def test_every_offline_lesson_is_tested() -> None:
    assert sorted(p.name for p in OFFLINE.glob("*.txt")) == sorted(name for name, *_ in LESSONS)


@pytest.mark.parametrize(("lesson", "messages", "tls"), LESSONS, ids=[x[0] for x in LESSONS])
def test_offline_lessons_replay(
    mail: MailServices, tls_ca: TLSCA, lesson: str, messages: int, tls: bool
) -> None:
    path = OFFLINE / lesson
    text = path.read_text(encoding="utf-8")
    header = text.splitlines()[0]
    protocol = "smtp" if "target: smtp://127.0.0.1:2525" in header else "pop3"
    assert f"target: {protocol}://127.0.0.1:" in header
    port = mail.smtp_port if protocol == "smtp" else mail.pop3_port
    if messages == 2:
        _lecture_pop3_messages(mail.store)
    else:
        for _ in range(messages):
            mail.store.deliver(MESSAGE)
    extra = ["--cafile", str(tls_ca.ca_cert), "--set", f"password={PASSWORD}"] if tls else []
    status, out, err = _replay(str(path), "--target", f"{protocol}://{HOST}:{port}", *extra)
    assert status == 0, err + out
    if lesson == "mail-pop3-lecture.txt":
        assert len(mail.store) == 0  # both deleted at QUIT
    elif lesson.startswith("mail-smtp"):
        (stored,) = delivered(mail.store)
        assert b"Blah blah blah...\r\n" in stored
    else:
        assert len(mail.store) == messages  # RSET / no QUIT: nothing deleted


def test_the_lectures_own_pop3_transcript_replays(mail: MailServices) -> None:
    """transcripts/pop3_lecture.txt (the lecture, verbatim) against our POP3."""
    lecture = ROOT / "transcripts" / "pop3_lecture.txt"
    _lecture_pop3_messages(mail.store)
    status, out, err = _replay(str(lecture), "--target", f"pop3://{HOST}:{mail.pop3_port}")
    assert status == 0, err + out
    assert len(mail.store) == 0


def test_the_lectures_own_smtp_transcript_replays(mail: MailServices) -> None:
    """transcripts/smtp_lecture.txt (the lecture, verbatim) against our SMTP, whose EHLO
    reply has 7 lines to the lecture's 5: by status a multi-line reply is one reply (it
    failed at 'S: 250 HELP' against 'S: 250-STARTTLS'); --strict still compares lines."""
    lecture = ROOT / "transcripts" / "smtp_lecture.txt"
    url = f"smtp://{HOST}:{mail.smtp_port}"
    status, out, err = _replay(str(lecture), "--target", url)
    assert status == 0, err + out
    assert len(mail.store) == 1
    status, out, err = _replay(str(lecture), "--target", url, "--strict")
    assert status == 1, err + out  # line by line, text and all


# -- bad input: the server stays up, no mail is lost or corrupted ---------------------------------


def test_pop3_bad_commands_get_err_and_the_session_goes_on(mail: MailServices) -> None:
    with raw(mail.pop3_port) as c:
        c.line()
        for command in (b"HELO x", b"STAT", b"RETR 1", b"\xff\xfe", b"LIST 99", b"AUTH PLAIN"):
            c.send(command + b"\r\n")
            assert c.line().startswith(b"-ERR "), command
        c.send(b"USER bob\r\nPASS redqueen\r\nLIST 99\r\nNOOP\r\n")
        assert [c.line()[:4] for _ in range(4)] == [b"+OK ", b"+OK ", b"-ERR", b"+OK\r"]


@pytest.mark.parametrize("port_of", ["smtp", "pop3"])
def test_a_line_without_crlf_then_close(mail: MailServices, port_of: str) -> None:
    port = mail.smtp_port if port_of == "smtp" else mail.pop3_port
    with raw(port) as c:
        c.line()
        c.send(b"QUIT")  # no CRLF: not a command
        c.sock.shutdown(socket.SHUT_WR)
        assert c.closed()
        assert b"221" not in c.buf and b"signing off" not in c.buf
    send(mail)  # still serving
    delivered(mail.store)


def test_a_2mb_line_gets_an_error_and_memory_stays_bounded(mail: MailServices) -> None:
    big = b"x" * (2 << 20)
    tracemalloc.start()
    try:
        with raw(mail.pop3_port) as c:
            c.line()
            c.send(b"USER " + big + b"\r\nUSER bob\r\n")
            assert c.line().startswith(b"-ERR line too long")
            assert c.line() == b"+OK bob\r\n"
        with raw(mail.smtp_port) as c:
            c.line()
            c.send(b"EHLO " + big + b"\r\nNOOP\r\n")
            assert c.line().startswith(b"500 ")
            assert c.line().startswith(b"250 ")
            # in DATA: aiosmtpd drops over-long lines and answers 500 at the end
            c.send(b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
            c.until(b"354")
            c.send(b"Subject: long\r\n\r\n" + big + b"\r\n.\r\n")
            assert c.line().startswith(b"500 ")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"peak {peak / (1 << 20):.1f} MiB for a 2 MiB line"
    assert len(mail.store) == 0
    assert_maildir_clean(mail.store)


def test_a_client_vanishing_mid_data_leaves_nothing(mail: MailServices) -> None:
    with raw(mail.smtp_port) as c:
        c.line()
        c.send(b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        c.until(b"354")
        c.send(b"Subject: cut\r\n\r\n" + b"half a message\r\n" * 10000)
        time.sleep(0.1)
        c.abort()
    time.sleep(0.2)
    assert len(mail.store) == 0
    assert_maildir_clean(mail.store)
    send(mail)  # the server is still there, and delivers whole messages
    (stored,) = delivered(mail.store)
    assert stored == MESSAGE


def test_a_client_vanishing_mid_retr_deletes_nothing(mail: MailServices) -> None:
    body = b"Subject: big\r\n\r\n" + b"0123456789" * 100 + b"\r\n"
    mail.store.deliver(body * 2000)  # 2 MB: more than the socket buffers
    with raw(mail.pop3_port) as c:
        c.line()
        c.send(b"USER bob\r\nPASS redqueen\r\nDELE 1\r\nRSET\r\nRETR 1\r\n")
        c.until(b"+OK bob's maildrop has 1 message")
        assert c.line() == b"+OK message 1 deleted\r\n"
        assert c.line().startswith(b"+OK maildrop has 1 message")
        assert c.line().endswith(b" octets\r\n")
        c.line()  # the first line of the message, then vanish
        c.abort()
    time.sleep(0.2)
    assert len(mail.store) == 1
    client = pop3(mail)  # the lock was released
    assert client.stat()[0] == 1
    client.quit()


def test_a_message_over_the_size_limit_is_refused(tmp_path: Path, tls_ca: TLSCA) -> None:
    with MailServices(
        tmp_path / "Maildir", HOST, 0, 0, 0, tls=False, imap=False, data_size_limit=64 << 10
    ) as mail:
        with smtplib.SMTP(HOST, mail.smtp_port, timeout=TIMEOUT) as smtp:
            smtp.ehlo("me")
            assert smtp.esmtp_features["size"] == str(64 << 10)
            big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 100
            with pytest.raises(smtplib.SMTPException):
                smtp.sendmail("a@b", ["c@d"], big)
        assert len(mail.store) == 0
        assert_maildir_clean(mail.store)


def test_an_idle_pop3_client_is_logged_out(tmp_path: Path) -> None:
    with MailServices(
        tmp_path / "M", HOST, 0, 0, 0, tls=False, imap=False, pop3_timeout=0.3
    ) as mail:
        mail.store.deliver(MESSAGE)
        with raw(mail.pop3_port) as c:
            c.line()
            c.send(b"USER bob\r\nPASS redqueen\r\nDELE 1\r\n")
            for _ in range(3):
                c.line()
            assert c.line() == b"-ERR autologout: idle for too long\r\n"
            assert c.closed()
        assert len(mail.store) == 1  # no QUIT: DELE not applied






@pytest.mark.parametrize("protocol", ["pop3", "imap"])
def test_a_command_sent_with_the_end_of_the_tls_handshake_is_answered(
    mail: MailServices, tls_ca: TLSCA, protocol: str
) -> None:
    """What curl does: its first command follows the handshake at once.  The
    server must not mistake it, arriving decrypted while the server is still
    finishing start_tls, for plaintext sent before the upgrade."""
    if protocol == "pop3":
        port, upgrade, ok, command, answer = mail.pop3_port, b"STLS", b"+OK", b"CAPA", b"+OK "
    else:
        port, upgrade, ok = imap_port(mail), b"A1 STARTTLS", b"A1 OK"
        command, answer = b"A2 NOOP", b"A2 OK"
    with raw(port) as c:
        c.line()
        c.send(upgrade + b"\r\n")
        c.until(ok)
        got = tls_with_first_command(c.sock, tls_ca.client_context(), command + b"\r\n")
    assert got.startswith(answer), f"no answer to {command!r} sent with the handshake: {got!r}"


def test_plaintext_sent_after_stls_is_discarded(mail: MailServices, tls_ca: TLSCA) -> None:
    """RFC 2595 4: commands injected behind STLS must not run after the handshake."""
    send(mail)
    delivered(mail.store)
    c = Raw(mail.pop3_port)
    try:
        c.line()
        c.send(b"STLS\r\nUSER bob\r\nPASS redqueen\r\nDELE 1\r\nQUIT\r\n")
        assert c.line() == b"+OK Begin TLS negotiation\r\n"
        tls = tls_ca.client_context().wrap_socket(c.sock, server_hostname="localhost")
        tls.settimeout(TIMEOUT)
        tls.sendall(b"NOOP\r\n")  # before login: nothing was logged in by the injection
        assert tls.recv(4096).startswith(b"-ERR NOOP is only valid after login")
        tls.sendall(b"QUIT\r\n")
        assert tls.recv(4096).startswith(b"+OK")
        tls.close()
    finally:
        c.close()
    assert len(mail.store) == 1


# -- protoshell serve --mail --------------------------------------------------------------------


def _serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "protoshell", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20) -> list[str]:
    """stdout lines up to the one containing marker (a thread keeps it bounded in time)."""
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        proc.kill()
        raise AssertionError(f"no {marker!r} within {timeout} s: {lines}")
    return lines


def test_serve_mail_cli_prints_ports_and_account_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    require_binary("openssl", "openssl")
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "data"))
    proc = _serve(
        ["--mail", "--port", "0", "--smtp-port", "0", "--pop3-port", "0", "--imap-port", "0"],
        env,
    )
    try:
        lines = _read_until(proc, "Ctrl-C stops")
        text = "\n".join(lines)
        assert "demo account: user bob, password redqueen" in text
        assert str(tmp_path / "data" / "protoshell" / "Maildir") in text
        cert = tmp_path / "data" / "protoshell" / "tls" / "mail-cert.pem"
        assert f"certificate {cert}, made now" in text
        ports = {}
        for word in text.replace(",", " ").split():
            for scheme in ("smtp", "pop3", "imap"):
                if word.startswith(f"{scheme}://"):
                    ports[scheme] = int(word.rsplit(":", 1)[1])
        with smtplib.SMTP(HOST, ports["smtp"], timeout=TIMEOUT) as smtp:
            smtp.starttls(context=ssl.create_default_context(cafile=str(cert)))
            smtp.login(USER, PASSWORD)
            smtp.sendmail("a@b", ["c@d"], MESSAGE)
        client = poplib.POP3(HOST, ports["pop3"], timeout=TIMEOUT)
        client.stls(context=ssl.create_default_context(cafile=str(cert)))
        client.user(USER)
        client.pass_(PASSWORD)
        assert retr(client, 1) == MESSAGE
        client.quit()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert "server stopped" in out
    assert "Traceback" not in err


def test_serve_mail_port_in_use_is_one_line_exit_3(tmp_path: Path, tls_ca: TLSCA) -> None:
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "data"))
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "protoshell", "serve", "--mail", "--port", "0",
             "--smtp-port", "0", "--pop3-port", str(port), "--imap-port", "0",
             "--cert", str(tls_ca.cert_chain), "--key", str(tls_ca.key)],
            capture_output=True, text=True, timeout=30, check=False, env=env,
        )  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port} (POP3): address already in use" in r.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--mail", "--user", "bob"], "--user wants NAME:PASSWORD"),
        (["--mail", "--cert", "c.pem"], "give both --cert FILE and --key FILE"),
        (["--mail", "--cert", "nope.pem", "--key", "nope.pem"], "cannot read nope.pem"),
        (["--maildir", "x"], "--maildir needs --mail"),
        (["--mail", "--smtp-port", "70000"], "--smtp-port must be 0..65535"),
        (["--mail", "--smtp-port", "2600", "--pop3-port", "2600"], "must differ"),
    ],
)
def test_serve_mail_bad_arguments_one_line_exit_2(
    tmp_path: Path, args: list[str], words: str
) -> None:
    env = cli_env(XDG_DATA_HOME=str(tmp_path / "data"))
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", "serve", "--port", "0", *args],
        capture_output=True, text=True, timeout=30, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
