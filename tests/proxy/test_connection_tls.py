"""protoshell/proxy/connection.py over TLS: STARTTLS/STLS on both legs, implicit TLS.

The client trusts only the proxy's CA (``proxy_ca_cert``); the proxy
verifies the server against the tests' trustme CA (``--cafile``).  What
passes must arrive intact, the view must name each leg's TLS, plaintext
sent past the go-ahead must be dropped, and the recordings must replay.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.servers import (
    PASSWORD,
    TLSCA,
    USER,
    Dovecot,
    Nginx,
    SMTPServer,
    STARTTLSInjector,
    require_binary,
)
from tests.integration.test_mail_targets import MESSAGE

from .running import RunningProxy
from .test_connection import assert_replays

TIMEOUT = 10.0
ProxyFactory = Callable[..., RunningProxy]


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def assert_both_legs_tls(out: str) -> None:
    assert "# server leg: TLS TLSv1." in out and "verified" in out
    assert "# client leg: TLS TLSv1." in out and "from the proxy's CA" in out


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_smtp_starttls_on_both_legs(
    smtp_server: SMTPServer, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "smtp-tls.txt"
    proxy = proxy_factory(smtp_server.url, "--cafile", str(tls_ca.ca_cert), "--record", str(rec))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.starttls(context=trusting(proxy_ca_cert))
        s.ehlo("me")
        s.sendmail("a@b.example", ["c@d.example"], MESSAGE)
    msg = smtp_server.wait_for_messages(1)[0]
    assert msg.data == MESSAGE and msg.tls
    out = proxy.wait_for("connection 1 closed")
    assert_both_legs_tls(out)
    assert out.index("S: 220 Ready to start TLS") < out.index("# server leg: TLS")
    text = rec.read_text()
    assert "C: STARTTLS" in text and "# client leg: TLS" in text
    assert_replays(rec, smtp_server.url, "--cafile", str(tls_ca.ca_cert))
    assert smtp_server.wait_for_messages(2)[1].tls


def test_pop3_stls_on_both_legs(
    dovecot: Dovecot, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path, tmp_path: Path
) -> None:
    dovecot.deliver(MESSAGE)
    rec = tmp_path / "pop3-tls.txt"
    proxy = proxy_factory(dovecot.pop3_url, "--cafile", str(tls_ca.ca_cert), "--record", str(rec))
    pop = poplib.POP3(proxy.host, proxy.port, timeout=TIMEOUT)
    pop.stls(context=trusting(proxy_ca_cert))
    pop.user(USER)
    pop.pass_(PASSWORD)
    _, lines, _ = pop.retr(1)
    pop.quit()
    assert b"\r\n".join(lines) + b"\r\n" == MESSAGE
    assert_both_legs_tls(proxy.wait_for("connection 1 closed"))
    assert_replays(rec, dovecot.pop3_url, "--cafile", str(tls_ca.ca_cert), "--set", f"password={PASSWORD}")


def test_imap_starttls_on_both_legs(
    dovecot: Dovecot, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path, tmp_path: Path
) -> None:
    dovecot.deliver(MESSAGE)
    rec = tmp_path / "imap-tls.txt"
    proxy = proxy_factory(dovecot.imap_url, "--cafile", str(tls_ca.ca_cert), "--record", str(rec))
    imap = imaplib.IMAP4(proxy.host, proxy.port, timeout=TIMEOUT)
    imap.starttls(ssl_context=trusting(proxy_ca_cert))
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == MESSAGE
    imap.logout()
    out = proxy.wait_for("connection 1 closed")
    assert_both_legs_tls(out)
    text = rec.read_text()
    assert PASSWORD not in text
    assert_replays(rec, dovecot.imap_url, "--cafile", str(tls_ca.ca_cert), "--set", f"password={PASSWORD}")


def test_imaps_implicit_tls_on_both_legs(
    dovecot: Dovecot, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "imaps.txt"
    proxy = proxy_factory(dovecot.imaps_url, "--cafile", str(tls_ca.ca_cert), "--record", str(rec))
    imap = imaplib.IMAP4_SSL(proxy.host, proxy.port, ssl_context=trusting(proxy_ca_cert), timeout=TIMEOUT)
    imap.login(USER, PASSWORD)
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
    assert_both_legs_tls(proxy.wait_for("connection 1 closed"))
    assert_replays(rec, dovecot.imaps_url, "--cafile", str(tls_ca.ca_cert), "--set", f"password={PASSWORD}")


def test_https_with_curl_trusting_the_proxys_ca(
    nginx: Nginx, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path, tmp_path: Path
) -> None:
    curl = require_binary("curl")
    (nginx.root / "hello.txt").write_bytes(b"hello over TLS\n")
    target = f"https://{nginx.host}:{nginx.https_port}"
    rec = tmp_path / "https.txt"
    proxy = proxy_factory(target, "--cafile", str(tls_ca.ca_cert), "--record", str(rec))
    r = subprocess.run(
        [curl, "-sS", "--fail", "--cacert", str(proxy_ca_cert), f"https://{proxy.host}:{proxy.port}/hello.txt"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello over TLS\n"
    out = proxy.wait_for("connection 1 closed")
    assert_both_legs_tls(out)
    assert "C: GET /hello.txt HTTP/1.1" in out
    assert_replays(rec, target, "--cafile", str(tls_ca.ca_cert))


def test_a_client_that_does_not_trust_the_proxy_fails_its_handshake_and_the_proxy_goes_on(
    dovecot: Dovecot, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path
) -> None:
    proxy = proxy_factory(dovecot.imaps_url, "--cafile", str(tls_ca.ca_cert))
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(proxy.host, proxy.port, ssl_context=trusting(tls_ca.ca_cert), timeout=TIMEOUT)
    proxy.wait_for("TLS handshake with the client failed", stderr=True)
    imap = imaplib.IMAP4_SSL(proxy.host, proxy.port, ssl_context=trusting(proxy_ca_cert), timeout=TIMEOUT)
    imap.logout()


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_an_untrusted_server_certificate_ends_the_connection(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, proxy_ca_cert: Path
) -> None:
    proxy = proxy_factory(smtp_server.url)  # the trustme CA is not in the system store
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError, ssl.SSLError)):
            s.starttls(context=trusting(proxy_ca_cert))
    err = proxy.wait_for("STARTTLS with the server failed", stderr=True)
    assert "certificate" in err


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_insecure_upgrades_without_verifying_and_says_so(
    smtp_server: SMTPServer, proxy_factory: ProxyFactory, proxy_ca_cert: Path
) -> None:
    proxy = proxy_factory(smtp_server.url, "--insecure")
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.starttls(context=trusting(proxy_ca_cert))
        assert s.noop()[0] == 250
    out = proxy.wait_for("connection 1 closed")
    assert "certificate verification of the server is OFF (--insecure)" in out
    assert "NOT verified" in out


def test_plaintext_injected_after_the_go_ahead_is_dropped(
    starttls_injector: STARTTLSInjector, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path
) -> None:
    proxy = proxy_factory(starttls_injector.url, "--cafile", str(tls_ca.ca_cert))
    with smtplib.SMTP(proxy.host, proxy.port, timeout=TIMEOUT) as s:
        s.ehlo("me")
        s.starttls(context=trusting(proxy_ca_cert))
        assert s.ehlo("me")[0] == 250  # the injected reply never reached the client
    out = proxy.wait_for("connection 1 closed")
    assert f"discarded {len(starttls_injector.injected)} bytes of plaintext the server sent" in out


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_plaintext_the_client_sends_past_its_starttls_is_dropped(
    smtp_server: SMTPServer, tls_ca: TLSCA, proxy_factory: ProxyFactory, proxy_ca_cert: Path
) -> None:
    import socket

    proxy = proxy_factory(smtp_server.url, "--cafile", str(tls_ca.ca_cert))
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"220")
        sock.sendall(b"EHLO me\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example>\r\n")
        assert f.readline().startswith(b"220")
        tls = trusting(proxy_ca_cert).wrap_socket(sock, server_hostname="127.0.0.1")
        tls.sendall(b"NOOP\r\n")
        assert tls.recv(100).startswith(b"250")
        tls.sendall(b"QUIT\r\n")
        f.close()
    out = proxy.wait_for("connection 1 closed")
    assert "discarded 26 bytes of plaintext the client sent after its STARTTLS" in out
    assert "evil" not in out.split("STARTTLS", 1)[1].split("discarded", 1)[1]


@pytest.mark.parametrize(("protocol", "ask", "refusal", "then", "answer"), [
    ("smtp", b"STARTTLS\r\n", b"454", b"NOOP\r\n", b"250"),
    ("pop3", b"STLS\r\n", b"-ERR", b"NOOP\r\n", b"+OK"),
    ("imap", b"a1 STARTTLS\r\n", b"a1 NO", b"a2 NOOP\r\n", b"a2 OK"),
])
def test_a_refused_starttls_lets_what_the_client_sent_after_it_go_on(
    starttls_injector_factory: Callable[..., STARTTLSInjector],
    proxy_factory: ProxyFactory,
    protocol: str,
    ask: bytes,
    refusal: bytes,
    then: bytes,
    answer: bytes,
) -> None:
    import socket

    server = starttls_injector_factory(protocol, mode="refuse")
    proxy = proxy_factory(server.url)
    with socket.create_connection((proxy.host, proxy.port), timeout=TIMEOUT) as sock:
        f = sock.makefile("rb")
        f.readline()  # greeting
        sock.sendall(ask + then)  # pipelined past the STARTTLS: held, then forwarded
        assert f.readline().startswith(refusal)
        assert f.readline().startswith(answer)
        sock.sendall(then)  # and the connection goes on in plaintext
        assert f.readline().startswith(answer)
        f.close()
    out = proxy.wait_for("connection 1 closed")
    assert "leg: TLS" not in out and "discarded" not in out
    assert out.count(f"C: {then.decode().strip()}") == 2
