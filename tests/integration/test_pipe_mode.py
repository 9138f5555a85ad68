"""Pipe mode end to end: the real CLI against real servers on 127.0.0.1.

`printf 'EHLO me\\nQUIT\\n' | protoshell smtp://...` and its POP3, IMAP and
HTTP(S) siblings: each stdin line sent with one CRLF, each response complete
before the next line, the exchange printed as C:/S: lines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .scripted_server import ScriptedServer
from .servers import TLSCA, Dovecot, Nginx, SMTPServer, STARTTLSInjector

MESSAGE = (
    b"From: Smith@bar.com\r\n"
    b"To: Jones@foo.com\r\n"
    b"Subject: lecture\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b".a line that starts with a dot\r\n"
    b"...etc. etc. etc.\r\n"
)


def protoshell(
    args: list[str], stdin: bytes, *, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI with stdin as a pipe; stdout/stderr decoded."""
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    return subprocess.CompletedProcess(
        r.args, r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
    )


def lines(out: str) -> list[str]:
    return out.splitlines()


# -- SMTP -------------------------------------------------------------------


def test_smtp_lecture_session_through_data(smtp_server: SMTPServer) -> None:
    body = MESSAGE.replace(b"\r\n", b"\n")
    stdin = b"EHLO bar.com\nMAIL FROM:<Smith@bar.com>\nRCPT TO:<Jones@foo.com>\nDATA\n" + body + b".\nQUIT\n"
    r = protoshell([smtp_server.url], stdin)
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[0].startswith("# connected to")
    assert out[1].startswith("S: 220 ")
    assert "C: EHLO bar.com" in out
    assert any(line.startswith("S: 250-") for line in out)
    assert "S: 354 End data with <CR><LF>.<CR><LF>" in out
    # Dot-stuffing is done on the wire, so the server gets the line back intact.
    assert "C: ..a line that starts with a dot" in out
    assert out[-2].startswith("S: 221")
    assert out[-1] == "# server closed the connection after 221"
    msg = smtp_server.wait_for_messages(1)[0]
    assert msg.mail_from == "Smith@bar.com" and msg.rcpt_tos == ["Jones@foo.com"]
    assert b"\r\n.a line that starts with a dot\r\n" in msg.data
    assert b"\r\n...etc. etc. etc.\r\n" in msg.data
    assert r.stderr == ""


def test_bdat_chunk_is_sent_before_its_reply() -> None:
    """RFC 3030 2: the chunk follows BDAT at once. aiosmtpd has no CHUNKING, so a scripted
    socket plays Postfix's part (the same exchange as Postfix 3.7 by hand): it answers only
    once the octets are there; pipe mode waited for BDAT's reply first and hung."""
    script = [
        ("send", b"220 scripted ESMTP\r\n"),
        ("expect", b"MAIL FROM:<a@b>\r\n"),
        ("send", b"250 2.1.0 Ok\r\n"),
        ("expect", b"BDAT 12\r\nSubject: x\r\n"),
        ("send", b"250 2.0.0 Ok: 12 bytes\r\n"),
        ("expect", b"BDAT 7 LAST\r\n\r\nhello"),
        ("send", b"250 2.0.0 Ok: 19 bytes queued as 8AF0251C296\r\n"),
        ("expect", b"QUIT\r\n"),
        ("send", b"221 2.0.0 Bye\r\n"),
        ("close",),
    ]
    stdin = b"MAIL FROM:<a@b>\nBDAT 12\nSubject: x\nBDAT 7 LAST\n\nhello\nQUIT\n"
    with ScriptedServer(script) as server:
        r = protoshell([f"smtp://{server.url_host}", "--timeout", "3"], stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    out = lines(r.stdout)
    assert out[out.index("C: BDAT 7 LAST") + 1 :][:3] == ["C: ", "C: hello", "S: 250 2.0.0 Ok: 19 bytes queued as 8AF0251C296"]
    assert bytes(server.received).endswith(b"BDAT 7 LAST\r\n\r\nhelloQUIT\r\n")


def test_input_ending_inside_the_message_is_an_input_error(smtp_server: SMTPServer) -> None:
    """`printf` without the lone "." after DATA: the server waits for the rest and no mail is
    sent; that is said on stderr with exit 2 (it exited 0, as if all had gone well)."""
    r = protoshell([smtp_server.url], b"EHLO me\nMAIL FROM:<a@b>\nRCPT TO:<Jones@foo.com>\nDATA\nhello\n")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "no line holding only '.'" in r.stderr
    assert "C: hello" in lines(r.stdout)
    assert smtp_server.messages == []


def test_pasted_crlf_is_not_doubled(smtp_server: SMTPServer) -> None:
    r = protoshell([smtp_server.url, "--hex"], b"NOOP\r\nQUIT\r\n")
    assert r.returncode == 0, r.stderr
    assert "C: NOOP\\r\\n" in r.stdout
    assert "4e 4f 4f 50 0d 0a " in r.stdout  # N O O P CR LF, and nothing more
    assert "0d 0a 0d 0a" not in r.stdout


def test_refused_command_exits_1(smtp_server: SMTPServer) -> None:
    r = protoshell([smtp_server.url], b"EHLO me\nRCPT TO:<nobody@x>\nQUIT\n")
    assert r.returncode == 1
    assert "S: 503 " in r.stdout


def test_no_colour_escapes_in_a_pipe(smtp_server: SMTPServer) -> None:
    r = protoshell([smtp_server.url], b"QUIT\n")
    assert "\x1b[" not in r.stdout


def test_server_cannot_drive_the_terminal(tmp_path: Path) -> None:
    from .scripted_server import ScriptedServer

    script = [("send", b"220 evil \x1b[2J\x1b]0;pwned\x07 ready\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]
    with ScriptedServer(script) as srv:
        r = protoshell([f"smtp://{srv.url_host}"], b"QUIT\n")
    assert r.returncode == 0
    assert "\x1b" not in r.stdout
    assert "S: 220 evil \\x1b[2J\\x1b]0;pwned\\x07 ready" in r.stdout


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_submission_starttls_verified(smtp_server: SMTPServer, tls_ca: TLSCA) -> None:
    url = f"submission://{smtp_server.host}:{smtp_server.port}"
    r = protoshell([url, "--cafile", str(tls_ca.ca_cert)], b"EHLO me\nQUIT\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "C: STARTTLS" in out and "S: 220 " in out
    assert "# TLS TLSv1.3" in out and "verified" in out and "NOT verified" not in out
    assert out.index("# TLS") < out.index("C: EHLO me")


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_untrusted_certificate_is_rejected(smtp_server: SMTPServer) -> None:
    r = protoshell([smtp_server.url, "--starttls"], b"QUIT\n")
    assert r.returncode == 3
    assert "certificate" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
def test_starttls_insecure_says_so(smtp_server: SMTPServer) -> None:
    r = protoshell([smtp_server.url, "--starttls", "--insecure"], b"EHLO me\nQUIT\n")
    assert r.returncode == 0, r.stderr
    assert "verification is OFF" in r.stdout and "NOT verified" in r.stdout


@pytest.mark.parametrize("starttls_injector", ["smtp", "pop3", "imap"], indirect=True)
def test_plaintext_injected_after_starttls_is_discarded(starttls_injector: STARTTLSInjector, tls_ca: TLSCA) -> None:
    r = protoshell([starttls_injector.url, "--starttls", "--cafile", str(tls_ca.ca_cert)], b"NOOP\n")
    out = r.stdout
    assert "injected" not in "\n".join(line for line in lines(out) if line.startswith("S:"))
    assert "discarded" in out and "plaintext" in out
    assert "# TLS " in out


# -- POP3 -------------------------------------------------------------------


def test_pop3_lecture_session(dovecot: Dovecot) -> None:
    dovecot.deliver(MESSAGE)
    dovecot.deliver(b"Subject: two\r\n\r\n..stuffed\r\n")
    stdin = b"USER bob\nPASS redqueen\nSTAT\nLIST\nLIST 1\nRETR 2\nDELE 1\nQUIT\n"
    r = protoshell([dovecot.pop3_url], stdin)
    assert r.returncode == 0, r.stderr + r.stdout
    out = lines(r.stdout)
    assert out[1].startswith("S: +OK")
    i = out.index("C: LIST")
    assert out[i + 1].startswith("S: +OK") and out[i + 2].startswith("S: 1 ") and out[i + 3].startswith("S: 2 ")
    assert out[i + 4] == "S: ."
    j = out.index("C: LIST 1")
    assert out[j + 1].startswith("S: +OK 1 ") and out[j + 2] == "C: RETR 2"
    k = out.index("C: RETR 2")
    # The stored line "..stuffed" is dot-stuffed on the wire (RFC 1939 3) and shown as sent.
    assert "S: ...stuffed" in out[k:]
    assert [line for line in out if line.startswith("S:")][-1].startswith("S: +OK")


def test_pop3s_with_cafile(dovecot: Dovecot, tls_ca: TLSCA) -> None:
    r = protoshell([dovecot.pop3s_url, "--cafile", str(tls_ca.ca_cert)], b"CAPA\nQUIT\n")
    assert r.returncode == 0, r.stderr
    assert "# TLS " in r.stdout and "verified" in r.stdout
    assert "S: ." in r.stdout


# -- IMAP -------------------------------------------------------------------


def test_imap_tags_and_literal(dovecot: Dovecot) -> None:
    dovecot.deliver(MESSAGE)
    stdin = b"LOGIN bob redqueen\nSELECT INBOX\nFETCH 1 RFC822.SIZE\nFETCH 1 BODY[HEADER]\nLOGOUT\n"
    r = protoshell([dovecot.imap_url], stdin)
    assert r.returncode == 0, r.stderr + r.stdout
    out = lines(r.stdout)
    assert "C: A0001 LOGIN bob redqueen" in out
    assert "C: A0002 SELECT INBOX" in out
    assert any(line.startswith("S: A0002 OK") for line in out)
    assert f"S: * 1 FETCH (RFC822.SIZE {len(MESSAGE)})" in out
    header_len = MESSAGE.index(b"\r\n\r\n") + 4
    assert any(
        line.startswith("S: * 1 FETCH (") and line.endswith("BODY[HEADER] {" + str(header_len) + "}") for line in out
    ), out
    assert "S: Subject: lecture" in out
    assert any(line.startswith("S: A0005 OK") for line in out)


def test_imap_bad_command_exits_1(dovecot: Dovecot) -> None:
    r = protoshell([dovecot.imap_url], b'A0001 USER "frobozz" "xyzzy"\nLOGOUT\n')
    assert r.returncode == 1
    assert any(line.startswith("S: A0001 BAD") for line in lines(r.stdout))


def test_the_lectures_user_line_without_its_tag_gets_one(dovecot: Dovecot) -> None:
    """A student types the lecture's IMAP login without A0001 (the README says tags are
    added): it is tagged, and Dovecot's BAD answers that tag (not "USER BAD")."""
    r = protoshell([dovecot.imap_url], b'USER "frobozz" "xyzzy"\nLOGIN frobozz xyzzy\nLOGOUT\n')
    assert r.returncode == 1
    out = lines(r.stdout)
    assert 'C: A0001 USER "frobozz" "xyzzy"' in out
    assert any(line.startswith("S: A0001 BAD") for line in out), out
    assert any(line.startswith("S: A0002 OK") for line in out), out


def test_a_command_after_a_literal_password_is_a_new_command(dovecot: Dovecot) -> None:
    """The password as a literal, then the next command at once, without the empty line
    that ends LOGIN's line: LOGIN ends there (RFC 3501 9), SELECT gets its own tag."""
    r = protoshell([dovecot.imap_url], b"LOGIN bob {8}\nredqueen\nSELECT INBOX\nLOGOUT\n")
    assert r.returncode == 0, r.stdout + r.stderr
    out = lines(r.stdout)
    assert any(line.startswith("S: A0001 OK") for line in out), out
    assert any(line.startswith("S: A0002 OK [READ-WRITE]") for line in out), out


def test_imaps_untrusted_is_refused(dovecot: Dovecot) -> None:
    r = protoshell([dovecot.imaps_url], b"LOGOUT\n")
    assert r.returncode == 3
    assert "certificate" in r.stderr and "--cafile" in r.stderr


# -- HTTP -------------------------------------------------------------------


def test_http_host_added_and_body_framed(nginx: Nginx) -> None:
    (nginx.root / "hello.txt").write_bytes(b"hello\nworld\n")
    r = protoshell([f"http://{nginx.host}:{nginx.port}"], b"GET /hello.txt HTTP/1.1\n\nHEAD /hello.txt HTTP/1.1\n\n")
    assert r.returncode == 0, r.stderr
    out = lines(r.stdout)
    assert out[1] == "C: GET /hello.txt HTTP/1.1"
    assert out[2] == f"C: Host: {nginx.host}:{nginx.port}"
    assert out[3] == "C: "
    assert "S: HTTP/1.1 200 OK" in out
    assert "S: hello" in out and "S: world" in out
    # HEAD: same headers, no body, and the connection stays usable.
    head_at = out.index("C: HEAD /hello.txt HTTP/1.1")
    assert "S: HTTP/1.1 200 OK" in out[head_at:]
    assert "S: hello" not in out[head_at:]


def test_http_next_request_after_a_close_opens_a_new_connection(nginx: Nginx, tmp_path: Path) -> None:
    """After a response that closes the connection (HTTP/1.0, Connection: close), the next
    request goes on a new one, as in the shell; pipe mode used to stop with exit 3 ("the
    server closed the connection before the next request"). Recorded, it replays."""
    (nginx.root / "hello.txt").write_bytes(b"hello\n")
    record = tmp_path / "two.txt"
    url = f"http://{nginx.host}:{nginx.port}"
    stdin = b"GET /hello.txt HTTP/1.1\nConnection: close\n\nGET /hello.txt HTTP/1.0\n\nHEAD / HTTP/1.1\n\n"
    r = protoshell([url, "--record", str(record)], stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    out = lines(r.stdout)
    assert out.count("S: hello") == 2
    assert sum(line.startswith("# connected to") for line in out) == 3
    assert out.count("S: HTTP/1.1 200 OK") == 3  # nginx answers HTTP/1.0 with 1.1
    transcript = record.read_text()
    assert transcript.count("C: <client connects to service port") == 3
    replay = protoshell(["replay", str(record), "--target", url, "-q"], b"")
    assert replay.returncode == 0, replay.stdout + replay.stderr


def test_an_empty_line_answering_a_challenge_is_sent() -> None:
    """After a 334 an empty line is the client's (empty) SASL response (RFC 4954 4), as the
    shell sends it; pipe mode skipped it as a blank line, so QUIT went out as the response."""
    script = [
        ("send", b"220 hi\r\n"),
        ("expect", b"AUTH LOGIN\r\n"),
        ("send", b"334 VXNlcm5hbWU6\r\n"),
        ("expect", b"AUTH LOGIN\r\n\r\n"),
        ("send", b"501 5.5.2 empty user name\r\n"),
        ("expect", b"QUIT\r\n"),
        ("send", b"221 bye\r\n"),
        ("close",),
    ]
    with ScriptedServer(script, timeout=5) as server:
        r = protoshell([f"smtp://{server.url_host}"], b"AUTH LOGIN\n\nQUIT\n", timeout=20)
        received = bytes(server.received)
    assert received == b"AUTH LOGIN\r\n\r\nQUIT\r\n", received
    assert "S: 501 5.5.2 empty user name" in r.stdout and "S: 221 bye" in r.stdout, r.stdout + r.stderr


def test_http_next_request_waits_for_the_close_a_response_announced() -> None:
    """A server that says ``Connection: close`` and closes a moment later: the next request
    goes on a new connection.  Pipe mode sent it on the old one while the close was on its
    way and ended with exit 3 'connection ... is closed' (CI, 1 run in many against nginx)."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n"
    script = [("expect", b"\r\n\r\n"), ("send", reply), ("sleep", 0.3), ("close",)]
    with ScriptedServer(script, connections=2) as server:
        stdin = b"GET /a HTTP/1.1\n\nGET /b HTTP/1.1\n\n"
        r = protoshell([f"http://{server.url_host}"], stdin)
    assert r.returncode == 0, r.stdout + r.stderr
    out = lines(r.stdout)
    assert sum(line.startswith("# connected to") for line in out) == 2
    assert out.count("S: hi") == 2


LAB_PAGE = b"<p>the lab server says hello</p>\n"
# The lecture's lab server as a student writes it: one recv(1024), one reply, close().
LAB_SERVER = [
    ("recv_once",),
    ("sleep", 0.2),
    ("send", b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(LAB_PAGE), LAB_PAGE)),
    ("drop",),
]


def test_http_request_head_goes_out_in_one_write() -> None:
    """The head is one write, as curl sends it: the lab server's one recv() finds it whole.
    A line at a time, it read only the request line, answered and closed with the rest
    unread, and its kernel's reset lost the answer nine times in ten (exit 3)."""
    with ScriptedServer(LAB_SERVER) as server:
        r = protoshell([f"http://{server.url_host}"], b"GET / HTTP/1.1\nAccept: text/html\n\n")
        host = server.url_host
    assert bytes(server.received) == f"GET / HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\n\r\n".encode()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "S: <p>the lab server says hello</p>" in lines(r.stdout)
    assert lines(r.stdout)[1:5] == ["C: GET / HTTP/1.1", f"C: Host: {host}", "C: Accept: text/html", "C: "]


def test_http_404_exits_1_and_binary_is_not_dumped(nginx: Nginx) -> None:
    (nginx.root / "blob.bin").write_bytes(bytes(range(256)) * 64)
    r = protoshell(
        [f"http://{nginx.host}:{nginx.port}"],
        b"GET /blob.bin HTTP/1.1\n\nGET /missing HTTP/1.1\n\n",
    )
    assert r.returncode == 1
    assert "S: <server sends 16384 octets of application/octet-stream payload: binary, not shown>" in r.stdout
    assert "S: HTTP/1.1 404 Not Found" in r.stdout
    assert "\x00" not in r.stdout


def test_http_max_lines_and_save_body(nginx: Nginx, tmp_path: Path) -> None:
    text = b"".join(b"line %d\n" % i for i in range(1000))
    (nginx.root / "long.txt").write_bytes(text)
    saved = tmp_path / "body.txt"
    r = protoshell(
        [f"http://{nginx.host}:{nginx.port}", "--max-lines", "5", "--save-body", str(saved)],
        b"GET /long.txt HTTP/1.1\n\n",
    )
    assert r.returncode == 0, r.stderr
    assert "S: line 4" in r.stdout and "S: line 5" not in r.stdout
    assert f"<server sends {len(text)} octets of text/plain payload: first 5 lines shown (--max-lines)>" in r.stdout
    assert saved.read_bytes() == text


def test_https_verified_and_insecure(nginx: Nginx, tls_ca: TLSCA) -> None:
    (nginx.root / "index.html").write_bytes(b"<p>hi</p>\n")
    url = f"https://localhost:{nginx.https_port}"
    ok = protoshell([url, "--cafile", str(tls_ca.ca_cert)], b"GET / HTTP/1.1\n\n")
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stdout and "S: <p>hi</p>" in ok.stdout
    refused = protoshell([url], b"GET / HTTP/1.1\n\n")
    assert refused.returncode == 3 and "certificate" in refused.stderr
    insecure = protoshell([url, "--insecure"], b"GET / HTTP/1.1\n\n")
    assert insecure.returncode == 0 and "NOT verified" in insecure.stdout


def test_http_the_lectures_crlf_line_is_explained(nginx: Nginx) -> None:
    """The lecture writes the empty line that ends a head as a line ``\\r\\n`` (and
    ``<CRLF>``). Typed as a line it goes out as those characters, a header line:
    lighttpd answered 400 with no word on why, nginx ignored it and the newcomer never
    learnt; now a warning says what happened."""
    url = f"http://{nginx.host}:{nginx.port}"
    r = protoshell([url], b"GET /index.html HTTP/1.1\nHost: www.example.com\n\\r\\n\n")
    out = lines(r.stdout)
    assert "C: \\r\\n" in out  # still sent as typed: this is a debugger
    warning = out.index("# '\\r\\n' goes out as the 4 characters typed, as a header line; on a "
                        "slide it means the empty line that ends the head: press Enter on an "
                        "empty line (a server may answer 400 Bad Request, or ignore the line)")
    assert warning < out.index("C: \\r\\n")
    assert any(line.startswith("S: HTTP/1.1 ") for line in out), r.stdout  # nginx ignores it
    ok = protoshell([url], b"GET / HTTP/1.1\nHost: www.example.com\n\n")
    assert "goes out as" not in ok.stdout and "400 Bad Request" not in ok.stdout
