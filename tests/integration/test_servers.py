"""The real-server fixtures work with real clients.

If these fail, every integration test of protoshell is suspect: they prove that the servers
speak the lecture's sessions (smtplib, imaplib, poplib, curl) with TLS verified against the
trustme CA, that bad certificates are rejected, and that the STARTTLS injector really pipelines
plaintext after its acceptance.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from .servers import (
    INJECTED,
    PASSWORD,
    SMTP_MODES,
    TLSCA,
    USER,
    Dovecot,
    Nginx,
    ServerStartError,
    SMTPServer,
    STARTTLSInjector,
    free_port,
    free_ports,
    require_binary,
    wait_ready,
)

TIMEOUT = 5.0

MESSAGE_1 = (
    b"From: Smith <Smith@bar.com>\r\n"
    b"To: Jones <Jones@foo.com>\r\n"
    b"Subject: first\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b"...etc. etc. etc.\r\n"
)
MESSAGE_2 = (
    b"From: Smith <Smith@bar.com>\r\n"
    b"To: Jones <Jones@foo.com>\r\n"
    b"Subject: second\r\n"
    b"\r\n"
    b".a line that must be dot-stuffed on the wire\r\n"
)


def recv_until(sock: socket.socket, terminator: bytes, limit: int = 65536) -> bytes:
    """Read until `data` ends with `terminator` (bounded, uses the socket's timeout)."""
    data = b""
    while not data.endswith(terminator):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed; got {data!r}"
        data += chunk
        assert len(data) < limit
    return data


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    binary = require_binary("curl", "curl")
    env = {k: v for k, v in os.environ.items() if k not in {"CURL_CA_BUNDLE", "SSL_CERT_FILE"}}
    return subprocess.run(
        [binary, "-sS", "--max-time", "5", *args],
        capture_output=True,
        timeout=10,
        env=env,
        check=False,
    )


# --- helpers ----------------------------------------------------------------------------------


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(20)
    assert len(set(ports)) == 20
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
    assert free_port() not in ports


def test_require_binary_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert require_binary("sh").endswith("/sh")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-binary"):
        require_binary("protoshell-no-such-binary", "nothing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install it in .ci/run"):
        require_binary("protoshell-no-such-binary", "nothing")


def test_wait_ready_times_out_with_the_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("line 1\nfatal: cannot frobnicate\n")
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="(?s)frobd was not ready after.*cannot frobnicate"):
        wait_ready(lambda: False, what="frobd", logs=[log], timeout=0.2)
    assert time.monotonic() - started < 2


# --- SMTP (aiosmtpd) --------------------------------------------------------------------------


def test_smtp_plain_records_the_lecture_transaction(smtp_server: SMTPServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=TIMEOUT) as client:
        code, _ = client.ehlo("bar.com")
        assert code == 250
        assert not client.has_extn("starttls") and not client.has_extn("auth")
        refused = client.sendmail("Smith@bar.com", ["Jones@foo.com", "Green@foo.com"], MESSAGE_2)
        assert refused == {}
    (message,) = smtp_server.wait_for_messages(1)
    assert message.mail_from == "Smith@bar.com"
    assert message.rcpt_tos == ["Jones@foo.com", "Green@foo.com"]
    assert message.data == MESSAGE_2  # dot-unstuffed again, CRLF kept
    assert message.helo == "bar.com"
    assert not message.tls and message.auth_login is None


@pytest.mark.parametrize("smtp_server", ["starttls", "submission"], indirect=True)
def test_smtp_starttls_verified_with_the_ca(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=TIMEOUT) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=tls_ca.client_context())
        assert code == 220
        client.ehlo()
        if smtp_server.auth:
            client.login(USER, PASSWORD)
        client.sendmail("a@bar.com", ["b@foo.com"], MESSAGE_1)
    (message,) = smtp_server.wait_for_messages(1)
    assert message.tls
    assert message.auth_login == (USER if smtp_server.auth else None)


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_smtp_starttls_rejected_by_an_untrusted_ca(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=TIMEOUT) as client:
        client.ehlo()
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=tls_ca.untrusted.client_context())


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_auth_plain_and_login(smtp_server: SMTPServer, mechanism: str) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=TIMEOUT) as client:
        client.ehlo()
        assert set(client.esmtp_features["auth"].upper().split()) >= {"PLAIN", "LOGIN"}
        client.user, client.password = "bob", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert failed.value.smtp_code == 535
        client.user, client.password = USER, PASSWORD
        code, _ = client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert code == 235
        client.sendmail("bob@bar.com", ["b@foo.com"], MESSAGE_1)
    assert smtp_server.wait_for_messages(1)[0].auth_login == USER


@pytest.mark.parametrize("smtp_server", ["auth_required"], indirect=True)
def test_smtp_auth_required_refuses_mail_before_auth(smtp_server: SMTPServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=TIMEOUT) as client:
        client.ehlo()
        code, _ = client.mail("a@bar.com")
        assert code == 530
        client.login(USER, PASSWORD)
        code, _ = client.mail("a@bar.com")
        assert code == 250


@pytest.mark.parametrize("smtp_server", ["smtps"], indirect=True)
def test_smtps_implicit_tls(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    assert smtp_server.url.startswith("smtps://")
    with smtplib.SMTP_SSL(
        "localhost", smtp_server.port, timeout=TIMEOUT, context=tls_ca.client_context()
    ) as client:
        client.sendmail("a@bar.com", ["b@foo.com"], MESSAGE_1)
    assert smtp_server.wait_for_messages(1)[0].tls


def test_every_smtp_mode_starts(smtp_server_factory: Callable[..., SMTPServer]) -> None:
    servers = [smtp_server_factory(mode) for mode in SMTP_MODES]
    assert len({s.port for s in servers}) == len(SMTP_MODES)
    for server in servers:
        if server.implicit_tls:
            continue
        with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
            sock.settimeout(TIMEOUT)
            assert recv_until(sock, b"\r\n").startswith(b"220 localhost ")


# --- Dovecot: IMAP ----------------------------------------------------------------------------


def test_imap_lecture_session(dovecot: Dovecot) -> None:
    dovecot.deliver(MESSAGE_1)
    dovecot.deliver(MESSAGE_2)
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT) as imap:
        assert imap.welcome.startswith(b"* OK ")
        assert imap.login(USER, PASSWORD)[0] == "OK"
        assert imap.select("INBOX") == ("OK", [b"2"])
        data: Any = imap.fetch("1", "(RFC822.SIZE)")
        assert data == ("OK", [f"1 (RFC822.SIZE {len(MESSAGE_1)})".encode()])
        data = imap.fetch("1", "(BODY[HEADER])")
        assert data[1][0][1] == MESSAGE_1.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        data = imap.fetch("2", "(BODY[TEXT])")
        assert data[1][0][1] == MESSAGE_2.split(b"\r\n\r\n", 1)[1]
        assert imap.logout()[0] == "BYE"


def test_imap_starttls_and_imaps_verified_with_the_ca(dovecot: Dovecot, tls_ca: TLSCA) -> None:
    dovecot.deliver(MESSAGE_1)
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT) as imap:
        assert "STARTTLS" in imap.capabilities
        assert imap.starttls(tls_ca.client_context())[0] == "OK"
        assert imap.login(USER, PASSWORD)[0] == "OK"
        assert imap.select("INBOX") == ("OK", [b"1"])
    with imaplib.IMAP4_SSL(
        "localhost", dovecot.imaps_port, ssl_context=tls_ca.client_context(), timeout=TIMEOUT
    ) as imaps:
        assert imaps.login("frobozz", "xyzzy")[0] == "OK"  # the lecture's IMAP user
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(
            "localhost",
            dovecot.imaps_port,
            ssl_context=tls_ca.untrusted.client_context(),
            timeout=TIMEOUT,
        )


def test_imap_wrong_password_fails_fast(dovecot: Dovecot) -> None:
    with imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=TIMEOUT) as imap:
        for _ in range(2):  # no per-IP penalty building up (it would double each time)
            started = time.monotonic()
            with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
                imap.login(USER, "not-redqueen")
            assert time.monotonic() - started < 1.5


# --- Dovecot: POP3 ----------------------------------------------------------------------------


def test_pop3_lecture_session(dovecot: Dovecot) -> None:
    dovecot.deliver(MESSAGE_1)
    dovecot.deliver(MESSAGE_2)
    total = len(MESSAGE_1) + len(MESSAGE_2)
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        assert pop.getwelcome().startswith(b"+OK")
        assert pop.user(USER).startswith(b"+OK")
        assert pop.pass_(PASSWORD).startswith(b"+OK")
        assert pop.stat() == (2, total)
        _, listing, _ = pop.list()
        assert listing == [f"1 {len(MESSAGE_1)}".encode(), f"2 {len(MESSAGE_2)}".encode()]
        _, lines, _ = pop.retr(2)
        assert b"\r\n".join(lines) + b"\r\n" == MESSAGE_2  # poplib undid the dot-stuffing
        assert pop.dele(1).startswith(b"+OK")
        assert pop.quit().startswith(b"+OK")
    finally:
        pop.close()
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat() == (1, len(MESSAGE_2))  # DELE 1 was committed by QUIT
        pop.quit()
    finally:
        pop.close()


def test_pop3_stls_and_pop3s_verified_with_the_ca(dovecot: Dovecot, tls_ca: TLSCA) -> None:
    dovecot.deliver(MESSAGE_1)
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        assert "STLS" in pop.capa()
        assert pop.stls(tls_ca.client_context()).startswith(b"+OK")
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 1
        pop.quit()
    finally:
        pop.close()
    pop = poplib.POP3_SSL(
        "localhost", dovecot.pop3s_port, context=tls_ca.client_context(), timeout=TIMEOUT
    )
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 1
        pop.quit()
    finally:
        pop.close()


def test_deliver_keeps_order_and_reset_empties(dovecot: Dovecot) -> None:
    subjects = [f"message {i}".encode() for i in range(1, 8)]
    for subject in subjects:
        dovecot.deliver(b"Subject: " + subject + b"\r\n\r\nbody\r\n")
    dovecot.deliver(b"Subject: seen\r\n\r\nold\r\n", flags="S")
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        got = [pop.top(i, 0)[1][0] for i in range(1, 8)]
        assert got == [b"Subject: " + s for s in subjects]
        assert pop.stat()[0] == 8
        pop.quit()
    finally:
        pop.close()
    dovecot.reset()
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=TIMEOUT)
    try:
        pop.user(USER)
        pop.pass_(PASSWORD)
        assert pop.stat() == (0, 0)
        pop.quit()
    finally:
        pop.close()


# --- nginx ------------------------------------------------------------------------------------


def test_nginx_http_and_https(nginx: Nginx, tls_ca: TLSCA) -> None:
    (nginx.root / "index.html").write_bytes(b"<h1>hello</h1>\n")
    got = curl("-i", nginx.url("/index.html"))
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/html\r\n" in got.stdout
    assert got.stdout.endswith(b"\r\n\r\n<h1>hello</h1>\n")
    assert curl("-o", "/dev/null", "-w", "%{http_code}", nginx.url("/missing")).stdout == b"404"
    for host in ("localhost", "127.0.0.1"):
        got = curl("--cacert", str(tls_ca.ca_cert), nginx.https_url("/index.html", host=host))
        assert (got.returncode, got.stdout) == (0, b"<h1>hello</h1>\n"), got.stderr
    # The trustme CA is in no system store; another CA does not vouch for the server either.
    assert curl(nginx.https_url("/")).returncode == 60
    assert curl("--cacert", str(tls_ca.untrusted.ca_cert), nginx.https_url("/")).returncode == 60


def test_nginx_wrong_host_certificate_and_extra_config(
    nginx_factory: Callable[..., Nginx], tls_ca: TLSCA
) -> None:
    server = nginx_factory(tls=tls_ca.wrong_host, extra_server="location = /empty { return 204; }")
    assert curl("-o", "/dev/null", "-w", "%{http_code}", server.url("/empty")).stdout == b"204"
    got = curl("--cacert", str(tls_ca.ca_cert), server.https_url("/empty"))
    assert got.returncode == 60  # signed by the trusted CA, but for another name
    assert b"wrong.host.invalid" in got.stderr or b"certificate" in got.stderr


def test_nginx_bad_config_fails_with_the_log_tail(nginx_factory: Callable[..., Nginx]) -> None:
    with pytest.raises(ServerStartError, match="(?s)exited with status.*frobnicate"):
        nginx_factory(extra_server="frobnicate on;")


# --- STARTTLS injector ------------------------------------------------------------------------


class Dialogue(NamedTuple):
    """A client's side of an injector session, and the ends of the replies it waits for."""

    before: bytes  # a command before STARTTLS ...
    before_end: bytes  # ... and how its reply ends
    starttls: bytes
    accept: bytes  # the server's STARTTLS acceptance line
    after: bytes  # a command inside TLS ...
    after_end: bytes
    bye: bytes
    bye_reply: bytes  # how the goodbye reply starts


DIALOGUES = {
    "smtp": Dialogue(
        b"EHLO me\r\n",
        b"250 STARTTLS\r\n",
        b"STARTTLS\r\n",
        b"220 go ahead\r\n",
        b"EHLO me\r\n",
        b"250 HELP\r\n",
        b"QUIT\r\n",
        b"221 ",
    ),
    "pop3": Dialogue(
        b"CAPA\r\n",
        b"\r\n.\r\n",
        b"STLS\r\n",
        b"+OK begin TLS negotiation\r\n",
        b"CAPA\r\n",
        b"\r\n.\r\n",
        b"QUIT\r\n",
        b"+OK ",
    ),
    "imap": Dialogue(
        b"A1 CAPABILITY\r\n",
        b"A1 OK CAPABILITY completed\r\n",
        b"A2 STARTTLS\r\n",
        b"A2 OK begin TLS negotiation now\r\n",
        b"A3 CAPABILITY\r\n",
        b"A3 OK CAPABILITY completed\r\n",
        b"A4 LOGOUT\r\n",
        b"* BYE ",
    ),
}


def _upgrade(injector: STARTTLSInjector) -> tuple[socket.socket, bytes]:
    """Talk up to the STARTTLS reply; return the socket and the bytes of that one read."""
    talk = DIALOGUES[injector.protocol]
    sock = socket.create_connection((injector.host, injector.port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    recv_until(sock, b"\r\n")  # greeting
    sock.sendall(talk.before)
    recv_until(sock, talk.before_end)
    sock.sendall(talk.starttls)
    time.sleep(0.05)  # let the server's single send land whole before we read
    return sock, sock.recv(65536)


@pytest.mark.parametrize("starttls_injector", ["smtp", "pop3", "imap"], indirect=True)
def test_injector_pipelines_plaintext_after_its_starttls_reply(
    starttls_injector: STARTTLSInjector, tls_ca: TLSCA
) -> None:
    protocol = starttls_injector.protocol
    talk = DIALOGUES[protocol]
    sock, first_read = _upgrade(starttls_injector)
    # The acceptance and the injected line arrive in one read: a client that keeps reading
    # from its buffer after the handshake would take the injected line as a TLS-protected reply.
    assert (
        first_read == talk.accept + INJECTED[protocol] == talk.accept + starttls_injector.injected
    )
    with tls_ca.client_context().wrap_socket(sock, server_hostname="localhost") as tls:
        tls.sendall(talk.after)
        assert b"injected" not in recv_until(tls, talk.after_end)
        tls.sendall(talk.bye)
        assert recv_until(tls, b"\r\n").startswith(talk.bye_reply)
    (session,) = starttls_injector.sessions
    assert session.closed.wait(TIMEOUT)
    assert session.tls_established and session.error is None
    assert session.plain_lines[-1] == talk.starttls
    assert session.tls_lines == [talk.after, talk.bye]


@pytest.mark.parametrize("protocol", ["smtp", "pop3", "imap"])
def test_injector_clean_and_refuse_modes(
    starttls_injector_factory: Callable[..., STARTTLSInjector], tls_ca: TLSCA, protocol: str
) -> None:
    clean = starttls_injector_factory(protocol, mode="clean")
    sock, first_read = _upgrade(clean)
    with tls_ca.client_context().wrap_socket(sock, server_hostname="localhost") as tls:
        assert first_read == DIALOGUES[protocol].accept
        tls.sendall(DIALOGUES[protocol].bye)
        recv_until(tls, b"\r\n")
    refuse = starttls_injector_factory(protocol, mode="refuse")
    sock, first_read = _upgrade(refuse)
    with sock:
        assert first_read.startswith((b"454 ", b"-ERR ", b"A2 NO "))
        assert refuse.sessions[0].tls_established is False
