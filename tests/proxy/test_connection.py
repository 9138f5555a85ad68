"""protoshell/proxy/connection.py: real clients through the proxy to real servers.

smtplib, poplib, imaplib and curl talk to the proxy as if it were the
server; aiosmtpd, Dovecot and nginx answer behind it.  What arrives must be
byte for byte what was sent, the view must show it as C:/S: lines, and a
recording must replay against the same server (``protoshell replay``, exit 0).
"""

from __future__ import annotations

import hashlib
import imaplib
import io
import poplib
import re
import smtplib
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.scripted_server import ScriptedServer
from tests.integration.servers import PASSWORD, USER, Dovecot, Nginx, SMTPServer, require_binary
from tests.integration.test_mail_targets import MESSAGE

from .running import RunningProxy, protoshell

TIMEOUT = 10.0

ProxyFactory = Callable[..., RunningProxy]


def replay(path: Path, target: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return protoshell("replay", str(path), "--target", target, *extra)


def assert_replays(path: Path, target: str, *extra: str) -> None:
    r = replay(path, target, *extra)
    assert r.returncode == 0, f"replay failed:\n{path.read_text()}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


# -- SMTP ------------------------------------------------------------------------------------


def test_smtp_mail_arrives_byte_identical_and_the_recording_replays(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    rec = tmp_path / "smtp.txt"
    proxy = proxy_factory(smtp_server.url, "--record", str(rec))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("bar.com")
        s.sendmail("smith@bar.com", ["jones@foo.com"], MESSAGE)
    assert smtp_server.wait_for_messages(1)[0].data == MESSAGE
    out = proxy.wait_for("connection 1 closed")
    assert "C: ehlo bar.com" in out
    assert "S: 250 OK message accepted" in out
    assert "C: ..a line that starts with a dot" in out  # the wire bytes, stuffed
    text = rec.read_text()
    assert "C: .a line that starts with a dot\n" in text  # recorded as typed
    assert text.splitlines()[1] == f"C: <client connects to service port {smtp_server.port}>"
    assert_replays(rec, smtp_server.url)
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[1].data == MESSAGE


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_auth_is_redacted_in_the_recording(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path, mechanism: str
) -> None:
    rec = tmp_path / "auth.txt"
    proxy = proxy_factory(smtp_server.url, "--record", str(rec))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.user, s.password = USER, PASSWORD
        code, _ = s.auth(mechanism, getattr(s, f"auth_{mechanism.lower()}"), initial_response_ok=False)
        assert code == 235
    proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    # No initial response: the user comes after the 334; recorded ``:auth MECH USER``.
    assert f":auth {mechanism.lower()} {USER}\n" in text and "<redacted>" not in text, text
    import base64

    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()):
        assert secret not in text


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
def test_smtplib_auth_plain_is_recorded_as_auth_and_replays_with_the_password(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    """smtplib (and curl) send AUTH PLAIN with its initial response: recorded
    ``AUTH PLAIN <redacted>``, it could not be replayed (--set password= is no
    SASL response); recorded ``:auth plain USER``, ``--set password=`` replays it."""
    rec = tmp_path / "auth.txt"
    proxy = proxy_factory(smtp_server.url, "--record", str(rec))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.user, s.password = USER, PASSWORD
        assert s.auth("PLAIN", s.auth_plain)[0] == 235  # initial response on the AUTH line
        s.noop()
    proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    assert f"\n:auth plain {USER}\n# S: 235 " in text and "\nC: noop\nS: 250 " in text, text
    assert "AUTH PLAIN" not in text and PASSWORD not in text
    assert_replays(rec, smtp_server.url, "--set", f"password={PASSWORD}")


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
@pytest.mark.parametrize("initial_response", [True, False], ids=["user-on-the-auth-line", "user-after-334"])
def test_smtplib_auth_login_is_recorded_as_auth_and_replays_with_the_password(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path, initial_response: bool
) -> None:
    """AUTH LOGIN (smtplib sends the user on the AUTH line; other clients after the
    334 prompt): its base64 lines, recorded ``<redacted>``, could not be replayed; recorded
    ``:auth login USER`` with the server's prompts as comments, ``--set password=`` replays it."""
    rec = tmp_path / "login.txt"
    proxy = proxy_factory(smtp_server.url, "--record", str(rec))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.user, s.password = USER, PASSWORD
        assert s.auth("LOGIN", s.auth_login, initial_response_ok=initial_response)[0] == 235
        s.noop()
    proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    assert f"\n:auth login {USER}\n# S: 334 " in text and "# S: 235 " in text, text
    assert "\nC: noop\nS: 250 " in text, text
    assert "C: AUTH LOGIN" not in text and "<redacted>" not in text and PASSWORD not in text
    assert_replays(rec, smtp_server.url, "--set", f"password={PASSWORD}")


def test_a_refused_auth_login_is_recorded_as_it_came(tmp_path: Path) -> None:
    """A server that refuses the mechanism (504): nothing to turn into :auth; the lines held
    while waiting for the user are written as they came, in order."""
    from protoshell.proto.base import ResponseEnd, ServerLine
    from protoshell.recorder import Recorder
    from protoshell.session import Exchange
    from protoshell.target import parse_target

    path = tmp_path / "refused.txt"
    recorder = Recorder.open(str(path), parse_target("smtp://127.0.0.1:2525"))
    recorder.plain_auth_as_meta = True
    refusal = b"504 5.5.4 Unrecognized authentication type\r\n"
    for ex in (
        Exchange("C", b"AUTH LOGIN\r\n", None, 0.0),
        Exchange("S", refusal, ServerLine(refusal, "504", "error"), 0.0),
        Exchange("S", b"", ResponseEnd(b"", "504", "error"), 0.0),
        Exchange("C", b"QUIT\r\n", None, 0.0),
    ):
        recorder(ex)
    recorder.close()
    lines = path.read_text().splitlines()
    at = lines.index("C: AUTH LOGIN")
    assert lines[at + 1 : at + 3] == ["S: 504 5.5.4 Unrecognized authentication type", "C: QUIT"]


@pytest.mark.parametrize(
    ("line", "protocol", "user"),
    [
        (b"AUTH PLAIN AGJvYgByZWRxdWVlbg==\r\n", "smtp", "bob"),
        (b"auth plain AGJvYgByZWRxdWVlbg==\r\n", "pop3", "bob"),
        (b"A1 AUTHENTICATE PLAIN AGJvYgByZWRxdWVlbg==\r\n", "imap", "bob"),
        (b"AUTH PLAIN AGJvYgByZWRxdWVlbg==\r\n", "imap", None),  # no tag: not IMAP's command
        (b"A1 AUTH PLAIN AGJvYgByZWRxdWVlbg==\r\n", "smtp", None),
        (b"AUTH PLAIN\r\n", "smtp", None),  # no initial response: the redactor's case
        (b"AUTH PLAIN YWRtaW4AYm9iAHJlZHF1ZWVu\r\n", "smtp", None),  # admin acting as bob
        (b"AUTH PLAIN !!!\r\n", "smtp", None),
        (b"AUTH LOGIN Ym9i\r\n", "smtp", None),
    ],
)
def test_which_auth_lines_become_auth(line: bytes, protocol: str, user: str | None) -> None:
    from protoshell.recorder import plain_auth_user

    assert plain_auth_user(line, protocol) == user


# -- POP3 ------------------------------------------------------------------------------------


def test_pop3_retr_through_the_proxy_and_the_recording_replays(
    dovecot: Dovecot, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    dovecot.deliver(MESSAGE)
    rec = tmp_path / "pop3.txt"
    proxy = proxy_factory(dovecot.pop3_url, "--record", str(rec))
    pop = poplib.POP3(proxy.host, proxy.port, timeout=TIMEOUT)
    pop.user(USER)
    pop.pass_(PASSWORD)
    _, lines, _ = pop.retr(1)
    pop.quit()
    assert b"\r\n".join(lines) + b"\r\n" == MESSAGE
    proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    assert "PASS <redacted>" in text and PASSWORD not in text
    # A redacted line is filled from --set password=... on replay.
    assert_replays(rec, dovecot.pop3_url, "--set", f"password={PASSWORD}")


# -- IMAP ------------------------------------------------------------------------------------


def test_imap_authenticate_plain_after_the_prompt_is_recorded_as_auth_and_replays(
    dovecot: Dovecot, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    """imaplib's authenticate() sends AUTHENTICATE PLAIN, waits for '+', then the response:
    recorded ``:auth plain USER`` (the user from that response), it replays with --set."""
    rec = tmp_path / "imap-auth.txt"
    proxy = proxy_factory(dovecot.imap_url, "--record", str(rec))
    imap = imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    typ, _ = imap.authenticate("PLAIN", lambda _challenge: f"\0{USER}\0{PASSWORD}".encode())
    assert typ == "OK"
    imap.select("INBOX")
    imap.logout()
    proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    assert f"\n:auth plain {USER}\n" in text and "AUTHENTICATE" not in text, text
    assert "<redacted>" not in text and PASSWORD not in text
    assert_replays(rec, dovecot.imap_url, "--set", f"password={PASSWORD}")


def test_imap_big_literal_passes_intact_and_the_recording_replays(
    dovecot: Dovecot, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    # A few MB of text lines, one a line that a proxy must not take for a command.
    body = b"Subject: big\r\n\r\n" + b"".join(b"line %05d a STARTTLS %s\r\n" % (i, b"x" * 980) for i in range(3000))
    rec = tmp_path / "imap.txt"
    proxy = proxy_factory(dovecot.imap_url, "--record", str(rec), "--max-lines", "5")
    imap = imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    imap.login(USER, PASSWORD)
    typ, _ = imap.append("INBOX", None, None, body)
    assert typ == "OK"
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == body
    imap.logout()
    out = proxy.wait_for("connection 1 closed")
    assert f"<client sends {len(body)} octets of text payload: first 5 lines shown (--max-lines)>" in out
    # The literal is inside a FETCH response: the cut line is that untagged block's.
    assert re.search(r"S: <server sends \d+ lines \(\d+ octets\) of untagged responses: first 5 lines shown", out), out[-2000:]
    text = rec.read_text()
    assert PASSWORD not in text and "<redacted>" in text
    dovecot.reset()
    assert_replays(rec, dovecot.imap_url, "--set", f"password={PASSWORD}")


def test_a_client_hanging_up_mid_literal_closes_its_upstream_and_the_proxy_goes_on(
    dovecot: Dovecot, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(dovecot.imap_url)
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"* OK")
        sock.sendall(f"a1 LOGIN {USER} {PASSWORD}\r\n".encode())
        while not f.readline().startswith(b"a1 OK"):
            pass
        sock.sendall(b"a2 APPEND INBOX {1000000}\r\n")
        assert f.readline().startswith(b"+")
        sock.sendall(b"x" * 5000)
        f.close()  # else the socket stays open for it
    out = proxy.wait_for("connection 1 closed")
    assert "C: a2 APPEND INBOX {1000000}" in out
    # The proxy still serves: a whole session on a new connection.
    imap = imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    imap.login(USER, PASSWORD)
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
    proxy.wait_for("connection 2 closed")


# -- HTTP ------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def test_curl_downloads_a_100_mb_body_intact_and_the_recording_replays(
    nginx: Nginx, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    curl = require_binary("curl")
    size = 100 << 20
    with (nginx.root / "big.bin").open("wb") as f:  # mostly a hole, with data at both ends
        f.write(hashlib.sha256(b"head").digest() * 1000)
        f.seek(size - 32)
        f.write(hashlib.sha256(b"tail").digest())
    (nginx.root / "hello.txt").write_bytes(b"hello\n")
    rec = tmp_path / "http.txt"
    target = f"http://{nginx.host}:{nginx.port}"
    proxy = proxy_factory(target, "--record", str(rec))
    out_file = tmp_path / "got.bin"
    base = f"http://{proxy.host}:{proxy.port}"
    r = subprocess.run(
        [curl, "-sS", "--fail", "-o", str(out_file), f"{base}/big.bin", "-o", "/dev/null", f"{base}/hello.txt"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert out_file.stat().st_size == size
    assert _sha256(out_file) == _sha256(nginx.root / "big.bin")
    out = proxy.wait_for("connection 1 closed")
    assert "C: GET /big.bin HTTP/1.1" in out
    assert "S: HTTP/1.1 200 OK" in out
    assert f"<server sends {size} octets of application/octet-stream payload: binary, not shown>" in out
    assert_replays(rec, target)
    shown = protoshell("show", str(rec))
    assert shown.returncode == 0 and "GET /hello.txt HTTP/1.1" in shown.stdout


def test_curl_speaks_imap_pop3_and_smtp_through_the_proxy(
    dovecot: Dovecot, smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    curl = require_binary("curl")
    dovecot.deliver(MESSAGE)
    imap = proxy_factory(dovecot.imap_url)
    pop3 = proxy_factory(dovecot.pop3_url)
    smtp = proxy_factory(smtp_server.url)
    auth = f"{USER}:{PASSWORD}"
    for proxy, url in ((imap, f"imap://{imap.host}:{imap.port}/INBOX;MAILINDEX=1"), (pop3, f"pop3://{pop3.host}:{pop3.port}/1")):
        r = subprocess.run([curl, "-sS", "--fail", "-u", auth, url], capture_output=True, check=False, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == MESSAGE
        proxy.wait_for("connection 1 closed")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(MESSAGE)
    r = subprocess.run(
        [curl, "-sS", "--fail", f"smtp://{smtp.host}:{smtp.port}", "--mail-from", "a@b.example", "--mail-rcpt", "c@d.example", "--upload-file", str(mail)],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert smtp_server.wait_for_messages(1)[0].data == MESSAGE
    assert "C: DATA" in smtp.wait_for("connection 1 closed")


class _HashingHandler:
    """An HTTP server (http.server) that answers a POST with its body's SHA-256."""

    @staticmethod
    def start() -> tuple[object, int]:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                h = hashlib.sha256()
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if not size:
                            self.rfile.readline()
                            break
                        left = size
                        while left:
                            chunk = self.rfile.read(min(left, 1 << 16))
                            h.update(chunk)
                            left -= len(chunk)
                        self.rfile.readline()
                else:
                    left = int(self.headers["Content-Length"])
                    while left:
                        chunk = self.rfile.read(min(left, 1 << 16))
                        h.update(chunk)
                        left -= len(chunk)
                answer = h.hexdigest().encode() + b"\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


@pytest.mark.parametrize("chunked", [False, True])
def test_curl_uploads_a_big_body_intact(proxy_factory: ProxyFactory, tmp_path: Path, chunked: bool) -> None:
    curl = require_binary("curl")
    server, port = _HashingHandler.start()
    try:
        data = (b"0123456789abcdef" * 4096 + b"\n") * 300  # ~20 MB
        src = tmp_path / "upload.bin"
        src.write_bytes(data)
        proxy = proxy_factory(f"http://127.0.0.1:{port}", "--max-lines", "3")
        extra = ["-H", "Transfer-Encoding: chunked"] if chunked else []
        r = subprocess.run(
            [curl, "-sS", "--fail", "--data-binary", f"@{src}", *extra, f"http://{proxy.host}:{proxy.port}/"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode().strip() == hashlib.sha256(data).hexdigest()
        out = proxy.wait_for("connection 1 closed")
        assert "C: POST / HTTP/1.1" in out
        assert "<client sends" in out
    finally:
        server.shutdown()  # type: ignore[attr-defined]


# -- faults ----------------------------------------------------------------------------------


def test_a_dead_upstream_gets_the_client_a_421_and_the_proxy_goes_on(proxy_factory: ProxyFactory) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    proxy = proxy_factory(f"smtp://127.0.0.1:{dead}")
    for n in (1, 2):
        with pytest.raises(smtplib.SMTPConnectError) as info:
            smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT)
        assert info.value.smtp_code == 421
        proxy.wait_for("the client is told so and disconnected", count=n)
    err = proxy.wait_for("cannot reach", count=2, stderr=True)
    assert "connection 2: cannot reach" in err and "connection refused" in err


@pytest.mark.parametrize("death", ["reset", "close"])
def test_an_upstream_dying_mid_response_closes_the_client(proxy_factory: ProxyFactory, death: str) -> None:
    """... and says so in one line on stderr (a close mid-reply said nothing there)."""
    script = [("send", b"220 hi\r\n"), ("expect", b"EHLO"), ("send", b"250-half of a reply\r\n"), (death,)]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"smtp://{server.url_host}")
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            assert f.readline() == b"220 hi\r\n"
            sock.sendall(b"EHLO me\r\n")
            assert f.readline() == b"250-half of a reply\r\n"
            assert f.readline() == b""  # closed
            f.close()
        out = proxy.wait_for("connection 1 closed")
        assert "connection reset" in out or "closed the connection" in out
    err = proxy.err.getvalue()
    assert err.count("\n") == 1 and err.startswith("protoshell: connection 1: the server"), err


def test_what_the_server_says_unasked_is_shown_while_the_client_is_silent(proxy_factory: ProxyFactory) -> None:
    """A server's chunk is framed with the client's next one, or a moment
    later when the client says nothing (a greeting, an unsolicited line):
    the view never waits for the client."""
    script = [("send", b"220 hi\r\n"), ("expect", b"NOOP"), ("send", b"250 ok\r\n421 going away\r\n"), ("expect", b"QUIT")]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"smtp://{server.url_host}")
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            assert f.readline() == b"220 hi\r\n"
            proxy.wait_for("S: 220 hi", timeout=2.0)
            sock.sendall(b"NOOP\r\n")
            assert f.readline() == b"250 ok\r\n"
            assert f.readline() == b"421 going away\r\n"
            out = proxy.wait_for("S: 421 going away", timeout=2.0)
            assert out.index("S: 220 hi") < out.index("C: NOOP") < out.index("S: 250 ok") < out.index("S: 421 going away")
            sock.sendall(b"QUIT\r\n")
            f.close()
        proxy.wait_for("connection 1 closed")


def test_twenty_concurrent_clients(smtp_server: SMTPServer, proxy_factory: ProxyFactory, tmp_path: Path) -> None:
    proxy = proxy_factory(smtp_server.url, "--record-dir", str(tmp_path / "recs"))
    errors: list[BaseException] = []
    start = threading.Barrier(20, timeout=TIMEOUT)

    def client(i: int) -> None:
        try:
            with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
                start.wait()
                s.sendmail("a@b.example", [f"c{i}@d.example"], MESSAGE + b"client %d\r\n" % i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    messages = smtp_server.wait_for_messages(20)
    assert sorted(m.data for m in messages) == sorted(MESSAGE + b"client %d\r\n" % i for i in range(20))
    out = proxy.wait_for("connection 20 closed")
    for n in range(1, 21):
        proxy.wait_for(f"connection {n} closed")
    assert "] C: " in out  # lines carry their connection's number while several are open
    recs = sorted((tmp_path / "recs").iterdir())
    assert [p.name for p in recs] == [f"{n:04d}.txt" for n in range(1, 21)]
    assert all("S: 250 OK message accepted" in p.read_text() for p in recs)


def test_a_slow_client_slows_the_server_reads_memory_stays_bounded(
    nginx: Nginx, proxy_factory: ProxyFactory
) -> None:
    """Back-pressure: while the client reads nothing, the proxy stops reading
    the server (about 1 MiB queued per direction), instead of holding the
    whole body; tracemalloc sees the proxy's allocations (it runs in this
    process)."""
    import time
    import tracemalloc

    size = 40 << 20
    with (nginx.root / "big.bin").open("wb") as f:
        f.truncate(size)
    proxy = proxy_factory(f"http://{nginx.host}:{nginx.port}")
    tracemalloc.start()
    try:
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(1.0)  # read nothing: the server must be held back
            _, held_back = tracemalloc.get_traced_memory()
            got = 0
            while chunk := sock.recv(1 << 20):
                got += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got > size
    assert held_back < 8 << 20, f"{held_back / 2**20:.1f} MiB held while the client read nothing"
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB for a {size >> 20} MiB body"
    proxy.wait_for("connection 1 closed")


def test_pipelined_commands_are_recorded_in_the_order_they_crossed(
    smtp_server: SMTPServer, dovecot: Dovecot, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    """SMTP PIPELINING (RFC 2920) and IMAP tags in flight: one write of
    several commands; the recording keeps their order and replays."""
    cases = [
        (smtp_server.url, b"EHLO me\r\n", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", b"354"),
        (dovecot.imap_url, f"a0 LOGIN {USER} {PASSWORD}\r\n".encode(), b"a1 NOOP\r\na2 SELECT INBOX\r\na3 NOOP\r\n", b"a3 OK"),
    ]
    for n, (url, first, pipelined, last) in enumerate(cases):
        rec = tmp_path / f"pipelined-{n}.txt"
        proxy = proxy_factory(url, "--record", str(rec))
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            f.readline()
            sock.sendall(first)
            while not (line := f.readline()).startswith((b"250 ", b"a0 ")):
                assert line
            sock.sendall(pipelined)
            while not f.readline().startswith(last):
                pass
            f.close()
        proxy.wait_for("connection 1 closed")
        lines = [line for line in rec.read_text().splitlines() if line.startswith("C: ")]
        sent = [f"C: {c.decode()}" for c in pipelined.split(b"\r\n") if c]
        assert lines[-len(sent) - 1 :] == [*sent, "C: <client hangs up>"]
        if url == dovecot.imap_url:
            assert_replays(rec, url, "--set", f"password={PASSWORD}")
        else:
            assert_replays(rec, url)


def test_hex_shows_raw_bytes_and_a_dump(smtp_server: SMTPServer, proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory(smtp_server.url, "--hex")
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.noop()
    out = proxy.wait_for("connection 1 closed")
    assert "C: noop\\r\\n" in out
    assert "6e 6f 6f 70 0d 0a" in out  # "noop\r\n"


@pytest.mark.parametrize(
    ("scheme", "greeting", "command", "answer"),
    [
        ("smtp", b"220 hi\r\n", b"EHLO me\r\n", b"421 "),
        ("pop3", b"+OK hi\r\n", b"STAT\r\n", b"-ERR "),
        ("imap", b"* OK hi\r\n", b"A1 NOOP\r\n", b"* BYE "),
        ("http", b"", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 502 Bad Gateway\r\n"),
    ],
)
@pytest.mark.parametrize("death", ["close", "reset"])
def test_an_upstream_dying_with_a_reply_owed_tells_the_client_in_its_protocol(
    proxy_factory: ProxyFactory, scheme: str, greeting: bytes, command: bytes, answer: bytes, death: str
) -> None:
    """The client waits for an answer that will never come: it gets the line
    an unreachable server gets it (it got nothing: smtplib said only
    'Connection unexpectedly closed')."""
    script = [("send", greeting), ("expect", command), (death,)]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"{scheme}://{server.url_host}")
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            if greeting:
                assert f.readline() == greeting
            sock.sendall(command)
            assert f.readline().startswith(answer)
            assert f.read() == b"" or scheme == "http"  # then closed
            f.close()
        proxy.wait_for("the client is told so in its protocol and disconnected")
    assert proxy.err.getvalue().count("\n") == 1, proxy.err.getvalue()


def test_a_close_the_server_announced_is_not_added_to(proxy_factory: ProxyFactory) -> None:
    """Two pipelined requests, the first answered with ``Connection: close``:
    the second is owed, but the close was announced (RFC 9112 9.6); the
    client gets what the server sent and no 502 after it."""
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
    script = [("expect", b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"), ("send", response), ("close",)]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"http://{server.url_host}")
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            sock.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        proxy.wait_for("connection 1 closed")
    assert got == response
    assert proxy.err.getvalue() == ""


@pytest.mark.parametrize(
    ("scheme", "first", "answer"),
    [("pop3", b"", b"-ERR "), ("imap", b"", b"* BYE "), ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 502 Bad Gateway\r\n")],
)
def test_a_dead_upstream_is_told_in_the_clients_protocol(
    proxy_factory: ProxyFactory, scheme: str, first: bytes, answer: bytes
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    proxy = proxy_factory(f"{scheme}://127.0.0.1:{dead}")
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
        sock.sendall(first)
        f = sock.makefile("rb")
        assert f.readline().startswith(answer)
        f.close()
    proxy.wait_for("cannot reach", stderr=True)


def test_a_half_close_with_an_answer_owed_is_passed_on(nginx: Nginx, proxy_factory: ProxyFactory) -> None:
    """A client that sends its request and shuts down its sending side
    (``nc -N``, some probes) still gets the whole response."""
    (nginx.root / "hello.txt").write_bytes(b"hello\n" * 1000)
    proxy = proxy_factory(f"http://{nginx.host}:{nginx.port}")
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := sock.recv(65536):
            got += chunk
    assert got.startswith(b"HTTP/1.1 200 OK\r\n")
    assert got.endswith(b"\r\n\r\n" + b"hello\n" * 1000)
    proxy.wait_for("connection 1 closed")


def test_an_answer_that_comes_after_the_client_hung_up_is_recorded_and_replays(
    proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    """imaplib's logout() hangs up as soon as it reads ``* BYE``, before the
    tagged OK (RFC 3501 6.1.3 sends both): the recording must still hold the
    OK the server sent, or its replay fails with "the server sent more"."""
    script = [
        ("send", b"* OK hi\r\n"),
        ("expect", b"A1 LOGOUT\r\n"),
        ("send", b"* BYE bye\r\n"),
        ("sleep", 0.3),
        ("send", b"A1 OK LOGOUT completed\r\n"),
        ("close",),
    ]
    rec = tmp_path / "logout.txt"
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"imap://{server.url_host}", "--record", str(rec))
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            assert f.readline() == b"* OK hi\r\n"
            sock.sendall(b"A1 LOGOUT\r\n")
            assert f.readline() == b"* BYE bye\r\n"
            f.close()
        proxy.wait_for("connection 1 closed")
    text = rec.read_text()
    assert "S: A1 OK LOGOUT completed\n" in text, text
    with ScriptedServer(script) as server:
        assert_replays(rec, f"imap://{server.url_host}")


def test_control_characters_are_forwarded_exactly_and_shown_escaped(proxy_factory: ProxyFactory) -> None:
    """A server's ESC (a terminal escape that could clear the screen) and BEL
    reach the client as they are; the view writes them as escapes."""
    greeting = b"220 hi\x1b[2J\x07 there\r\n"
    script = [("send", greeting), ("expect", b"NOOP \x1b[0m\r\n"), ("send", b"250 ok\r\n"), ("close",)]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"smtp://{server.url_host}")
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            assert f.readline() == greeting
            sock.sendall(b"NOOP \x1b[0m\r\n")
            assert f.readline() == b"250 ok\r\n"
            f.close()
        out = proxy.wait_for("connection 1 closed")
    assert "S: 220 hi\\x1b[2J\\x07 there" in out and "C: NOOP \\x1b[0m" in out, out
    assert "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize("no_color", [False, True])
def test_the_view_is_coloured_as_in_the_shell_at_a_terminal(proxy_factory: ProxyFactory, no_color: bool) -> None:
    from protoshell.proto.smtp import SmtpFramer
    from protoshell.render.console import make_console
    from protoshell.render.exchange import ExchangeRenderer
    from protoshell.session import Exchange

    script = [("send", b"220 hi\r\n"), ("expect", b"NOOP\r\n"), ("send", b"550 no\r\n"), ("close",)]
    with ScriptedServer(script) as server:
        proxy = proxy_factory(f"smtp://{server.url_host}", *(["--no-color"] if no_color else []), tty=True)
        with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
            f = sock.makefile("rb")
            f.readline()
            sock.sendall(b"NOOP\r\n")
            f.readline()
            f.close()
        out = proxy.wait_for("connection 1 closed")
    # The shell's renderer, given the same reply, writes the same styled line.
    framer = SmtpFramer()
    framer.receive_data(b"550 no\r\n")
    shell_out = io.StringIO()
    ExchangeRenderer(make_console(shell_out, color=True))(Exchange("S", b"550 no\r\n", framer.next_event(), 0.0))
    if no_color:
        assert "\x1b[" not in out and "S: 550 no\n" in out
    else:
        assert "\x1b[" in shell_out.getvalue() and shell_out.getvalue() in out, (shell_out.getvalue(), out)
