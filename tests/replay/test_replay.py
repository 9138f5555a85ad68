"""protoshell replay against real servers: what passes, what fails and where,
and the exit status of each (0 matched, 1 mismatch, 2 bad file, 3 network)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protoshell.replay.volatile import loosen_file
from tests.integration.scripted_server import ScriptedServer
from tests.integration.servers import TLSCA, Dovecot, SMTPServer, STARTTLSInjector

from .support import TRANSCRIPTS, LectureSMTP, lecture_message, replay


def write(tmp_path: Path, text: str, name: str = "t.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- mismatches: exit 1 with the transcript's file:line ------------------------------------


def test_deliberate_mismatch_names_file_and_line(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "S: 220 hello\n"
        "C: EHLO me\n"
        "S: 250-*\n"
        "S: ...\n"
        "C: RCPT TO:<Green@foo.com>\n"
        "S: 250 OK\n"  # line 6: the server says 503 (no MAIL first)
        "C: QUIT\n"
        "S: 221 bye\n",
    )
    r = replay(str(path), "--target", lecture_smtp.url)
    assert r.status == 1
    assert f"mismatch at {path}:6" in r.out
    assert "S: 250 OK" in r.out and "S: 503 " in r.out  # expected and actual, side by side
    assert "status 250" in r.out and "status 503" in r.out
    assert r.err.startswith(f"protoshell: {path}:6: expected status 250, the server answered 503")
    assert "C: QUIT" not in r.out  # it stops at the first mismatch


def test_lecture_smtp_against_a_server_that_accepts_everyone(smtp_server: SMTPServer) -> None:
    """A stock aiosmtpd accepts Green@foo.com: the lesson fails at the 550."""
    path = TRANSCRIPTS / "smtp_lecture.txt"
    line = next(i for i, t in enumerate(path.read_text().split("\n"), 1) if t == "S: 550 No such user here")
    r = replay(str(path), "--target", smtp_server.url)
    assert r.status == 1
    assert f"mismatch at {path}:{line}" in r.out
    assert "expected status 550, the server answered 250" in r.out


def test_keep_going_reports_every_mismatch(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: NOOP\nS: 500 no\nC: RSET\nS: 500 no\nC: QUIT\nS: 221 x\n")
    r = replay(str(path), "--target", lecture_smtp.url, "--keep-going")
    assert r.status == 1
    assert f"{path}:3" in r.out and f"{path}:5" in r.out
    assert "(2 mismatches)" in r.out
    assert "C: QUIT" in r.out


def test_extra_server_lines_are_a_mismatch_before_the_next_command(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    # The EHLO answer has several lines; the transcript shows only the last.  By status that
    # is one 250 reply (RFC 5321 4.2.1: test_an_smtp_reply_of_another_length_matches_by_status);
    # --strict compares line by line.
    path = write(tmp_path, "S: 220 *\nC: EHLO me\nS: 250 HELP\nC: QUIT\nS: 221 *\n")
    assert replay(str(path), "--target", lecture_smtp.url).status == 0
    r = replay(str(path), "--target", lecture_smtp.url, "--strict")
    assert r.status == 1
    assert f"mismatch at {path}:3" in r.out  # "250-foo.com" where "250 HELP" was expected


def test_missing_server_line_is_reported_not_waited_for(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: NOOP\nS: 250 OK\nS: 250 and one more\nC: QUIT\n")
    start = time.monotonic()
    r = replay(str(path), "--target", lecture_smtp.url)
    assert r.status == 1
    assert f"{path}:4: the server sent nothing more" in r.err
    assert time.monotonic() - start < 4  # settles in about a second, not the 5 s timeout


def test_strict_compares_text_with_wildcards(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    good = write(tmp_path, "S: 220 foo.com *\nC: NOOP\nS: 250 OK\nC: QUIT\nS: 221 *\n", "good.txt")
    bad = write(tmp_path, "S: 220 foo.com *\nC: NOOP\nS: 250 Okay\nC: QUIT\nS: 221 *\n", "bad.txt")
    assert replay(str(good), "--target", lecture_smtp.url, "--strict").status == 0
    r = replay(str(bad), "--target", lecture_smtp.url, "--strict")
    assert r.status == 1 and f"{bad}:3: the text differs" in r.err
    assert replay(str(bad), "--target", lecture_smtp.url).status == 0  # same status: fine by default


# -- variables, redaction ---------------------------------------------------------------------


def test_captured_variable_is_sent_back(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(lecture_message(), "frobozz")
    path = write(
        tmp_path,
        "S: * OK *\nC: A1 LOGIN frobozz xyzzy\nS: A1 OK *\nC: A2 SELECT INBOX\nS: ...\n"
        "S: * OK [UIDNEXT $next] *\nS: ...\nS: A2 OK *\n"
        "C: A3 STATUS INBOX (UIDNEXT)\nS: * STATUS INBOX (UIDNEXT $again)\nS: A3 OK *\n"
        "C: A4 SEARCH UID 1:$next\nS: * SEARCH 1\nS: A4 OK *\nC: A5 LOGOUT\n...\n",
    )
    r = replay(str(path), "--target", dovecot.imap_url, "--strict")
    assert r.status == 0, r.out + r.err
    assert "# $next = 2 (line 6)" in r.out
    assert "C: A4 SEARCH UID 1:2" in r.out


def test_set_fills_a_variable_and_a_redacted_secret(dovecot: Dovecot, tmp_path: Path) -> None:
    path = write(tmp_path, "S: +OK *\nC: USER $who\nS: +OK *\nC: PASS <redacted>\nS: +OK *\nC: QUIT\nS: +OK *\n")
    r = replay(str(path), "--target", dovecot.pop3_url, "--set", "who=bob", "--set", "password=redqueen")
    assert r.status == 0, r.out + r.err
    assert "C: USER bob" in r.out
    assert "C: PASS <redacted>" in r.out
    assert "redqueen" not in r.out + r.err


def test_redacted_line_without_a_password_is_refused_before_connecting(tmp_path: Path) -> None:
    path = write(tmp_path, "S: +OK\nC: USER bob\nS: +OK\nC: PASS <redacted>\nS: +OK\n")
    r = replay(str(path), "--target", "pop3://127.0.0.1:9")  # nothing listens: never reached
    assert r.status == 2
    assert r.err.startswith(f"protoshell: {path}:4: this line was redacted when it was recorded")
    assert "--set password=" in r.err


@pytest.mark.parametrize(
    ("auth", "line"),
    [
        ("C: AUTH PLAIN\nS: 334 \nC: <redacted>\n", 6),
        ("C: AUTH LOGIN\nS: 334 x\nC: Ym9i\nS: 334 x\nC: <redacted>\n", 8),
        # The initial response on the AUTH line (smtplib's default, RFC 4954 4), as
        # `protoshell proxy` records it: the hint said --set password= and the server said 501.
        ("C: AUTH PLAIN <redacted>\n", 4),
    ],
    ids=["plain", "login", "plain-initial-response"],
)
def test_a_redacted_sasl_response_is_refused_even_with_a_password(tmp_path: Path, auth: str, line: int) -> None:
    """--set password= fills <redacted> with the password, but a SASL response is base64
    made from the user and the password: sent as is, the server said 501/535 after a
    hint that told the user to do just that. It says to use :auth instead."""
    path = write(tmp_path, "S: 220 x\nC: EHLO me\nS: 250 x\n" + auth + "S: 235 ok\n")
    r = replay(str(path), "--target", "smtp://127.0.0.1:9", "--set", "password=redqueen")
    assert r.status == 2, r.out + r.err
    assert r.err.startswith(f"protoshell: {path}:{line}: this redacted line is a SASL response")
    assert "':auth plain USER'" in r.err


def test_a_redacted_cookie_is_not_filled_with_the_password(tmp_path: Path) -> None:
    """A suite run with --set password= for its mail files sent that password to the
    web server as the cookie of a recorded curl request (Cookie: session=redqueen)."""
    path = write(
        tmp_path,
        "C: POST /form HTTP/1.1\nC: Host: h\nC: Cookie: session=<redacted>\nC: Content-Length: 0\nC:\nS: HTTP/1.1 201 Created\n",
    )
    r = replay(str(path), "--target", "http://127.0.0.1:9", "--set", "password=redqueen")
    assert r.status == 2, r.out + r.err
    assert r.err.startswith(f"protoshell: {path}:3: a cookie's value was redacted when it was recorded")
    assert "S: Set-Cookie: session=$session; *" in r.err
    assert r.err.count("\n") == 1


def test_unknown_variable_is_refused_before_connecting(tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: MAIL FROM:<$sender>\n")
    r = replay(str(path), "--target", "smtp://127.0.0.1:9")
    assert r.status == 2
    assert f"{path}:2: $sender is not captured" in r.err


# -- bad files and usage: exit 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("S: 220 x\nC: NOOP\n:frobnicate now\n", 3, "unknown meta-command :frobnicate"),
        ("S: 220 x\n:sleep forever\n", 2, "usage :sleep SECONDS"),
        ("S: 220 x\nC:NOOP\n", 2, "expected one space after 'C:'"),
        ("S: 220 x\nEHLO me\n", 2, "expected 'C: ', 'S: '"),
        (":auth plain bob\n", 1, ":auth needs the password"),
    ],
)
def test_bad_transcripts_exit_2_with_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    r = replay(str(path), "--target", "smtp://127.0.0.1:9")
    assert r.status == 2
    assert r.err.startswith(f"protoshell: {path}:{line}: ")
    assert words in r.err
    assert r.err.count("\n") == 1 and r.out == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], "names no target"),
        (["--target", "gopher://x"], "unknown scheme"),
        (["--target", "imap://127.0.0.1:9"], "is a SMTP transcript, but the target"),
        (["--set", "1x=2", "--target", "smtp://127.0.0.1:9"], "--set wants NAME=VALUE"),
        (["--timeout", "0", "--target", "smtp://127.0.0.1:9"], "--timeout must be more than 0"),
        (["--timeout", "nan", "--target", "smtp://127.0.0.1:9"], "--timeout must be more than 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    header = "" if not args or args[0] == "--bogus" else "# protoshell transcript · protocol: smtp\n"
    path = write(tmp_path, header + "S: 220 x\nC: QUIT\n")
    r = replay(str(path), *args)
    assert r.status == 2, r.err
    assert words in r.err and r.err.count("\n") == 1


def test_missing_file_exits_2(tmp_path: Path) -> None:
    r = replay(str(tmp_path / "nope.txt"), "--target", "smtp://127.0.0.1:9")
    assert r.status == 2 and "cannot read" in r.err


# -- network errors: exit 3, never a hang --------------------------------------------------------


def test_connection_refused_exits_3(tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: QUIT\n")
    with socket.socket() as bound:  # bound, not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        r = replay(str(path), "--target", f"smtp://127.0.0.1:{bound.getsockname()[1]}")
    assert r.status == 3
    assert "connection refused" in r.err
    assert r.err.count("\n") == 1


def test_silent_server_times_out_with_3(tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: QUIT\n")
    with ScriptedServer([("sleep", 3)]) as server:
        start = time.monotonic()
        r = replay(str(path), "--target", f"smtp://{server.url_host}", "--timeout", "1")
        elapsed = time.monotonic() - start
    assert r.status == 3
    assert "within 1 s" in r.err and r.err.count("\n") == 1
    assert elapsed < 3


def test_reset_in_the_middle_exits_3(tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: EHLO me\nS: 250-a\nS: 250 b\nC: QUIT\n")
    with ScriptedServer([("send", b"220 x\r\n"), ("expect", b"EHLO"), ("send", b"250-a\r\n"), ("reset",)]) as server:
        r = replay(str(path), "--target", f"smtp://{server.url_host}")
    assert r.status == 3, r.out + r.err


_POP3_LOGIN = [("send", b"+OK hi\r\n"), ("expect", b"USER"), ("send", b"+OK\r\n"), ("expect", b"PASS"), ("send", b"+OK\r\n")]


@pytest.mark.parametrize(
    ("scheme", "text", "script", "line"),
    [
        (
            "smtp",
            "S: 220 x\nC: QUIT\nS: 221 bye\nC: NOOP\nS: 250 OK\n",
            [("send", b"220 x\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n"), ("close",)],
            4,
        ),
        (  # QUIT from a mailbox: POP3's UPDATE state, then the close
            "pop3",
            "S: +OK hi\nC: USER a\nS: +OK\nC: PASS b\nS: +OK\nC: QUIT\nS: +OK bye\nC: NOOP\nS: +OK\n",
            [*_POP3_LOGIN, ("expect", b"QUIT"), ("send", b"+OK bye\r\n"), ("close",)],
            8,
        ),
    ],
)
def test_server_closing_before_a_line_is_a_mismatch(
    tmp_path: Path, scheme: str, text: str, script: list[tuple[object, ...]], line: int
) -> None:
    """After a goodbye the next line is not sent early: the close that
    follows is taken in first, and the line is reported as not sent."""
    path = write(tmp_path, text)
    with ScriptedServer(script) as server:
        r = replay(str(path), "--target", f"{scheme}://{server.url_host}")
    assert r.status == 1, r.out + r.err
    assert f"{path}:{line}:" in r.err and "could not be sent" in r.err


@pytest.mark.parametrize(
    "ehlo_reply",
    [b"250 foo.com\r\n", b"250-foo.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"],
    ids=["shorter", "longer"],
)
def test_an_smtp_reply_of_another_length_matches_by_status(tmp_path: Path, ehlo_reply: bytes) -> None:
    """The lecture's 3-line EHLO reply against a server's 1 or 6 lines (RFC 5321 4.2.1: one
    reply either way), and the next command still lines up with its own reply."""
    path = write(tmp_path, "S: 220 *\nC: EHLO bar.com\nS: 250-foo.com greets bar.com\nS: 250-8BITMIME\nS: 250 HELP\nC: NOOP\nS: 250 OK\n")
    script = [("send", b"220 x\r\n"), ("expect", b"EHLO"), ("send", ehlo_reply), ("expect", b"NOOP"), ("send", b"250 2.0.0 Ok\r\n"), ("sleep", 1)]
    with ScriptedServer(script) as server:
        r = replay(str(path), "--target", f"smtp://{server.url_host}")
    assert r.status == 0, r.out + r.err
    with ScriptedServer(script) as server:
        assert replay(str(path), "--target", f"smtp://{server.url_host}", "--strict").status == 1


def test_an_http_request_head_is_replayed_in_one_write(tmp_path: Path) -> None:
    """Against the lecture's lab server (one recv, one reply, close): the head's C: lines
    go out together, so its one recv() finds them all (they went a line at a time)."""
    from tests.integration.test_pipe_mode import LAB_SERVER

    path = write(tmp_path, "C: GET / HTTP/1.1\nC: Host: lab\nC:\nS: HTTP/1.1 200 OK\nS: ...\n")
    with ScriptedServer(LAB_SERVER) as server:
        r = replay(str(path), "--target", f"http://{server.url_host}")
    assert bytes(server.received) == b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n"
    assert r.status == 0, r.out + r.err


# -- payloads, hangups, elisions, pipelining ------------------------------------------------------


def test_payload_size_is_checked_under_strict_only(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(lecture_message(), "frobozz")
    body = (
        "S: * OK *\nC: A1 LOGIN frobozz xyzzy\nS: A1 OK *\nC: A2 EXAMINE INBOX\nS: ...\nS: A2 OK *\n"
        "C: A3 FETCH 1 BODY.PEEK[TEXT]\nS: * 1 FETCH (BODY[TEXT] {1120}\n<server sends {n} octets of message payload>\n"
        "S: )\nS: A3 OK *\nC: A4 LOGOUT\nS: * BYE *\nS: A4 OK *\nS: <server hangs up>\n"
    )
    right = write(tmp_path, body.replace("{n}", "1120"), "right.txt")
    wrong = write(tmp_path, body.replace("{n}", "99"), "wrong.txt")
    assert replay(str(right), "--target", dovecot.imap_url, "--strict").status == 0
    r = replay(str(wrong), "--target", dovecot.imap_url, "--strict")
    assert r.status == 1 and "expected 99 octets, 1120 arrived" in r.err
    assert replay(str(wrong), "--target", dovecot.imap_url).status == 0


def test_expected_hangup_that_does_not_come_is_a_mismatch(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = write(tmp_path, "S: 220 x\nC: NOOP\nS: 250 OK\nS: <server hangs up>\n")
    r = replay(str(path), "--target", lecture_smtp.url, "--timeout", "1")
    assert r.status == 1
    assert f"{path}:4: the server kept the connection open" in r.err


def test_http_host_is_added_and_keep_alive_requests_follow(http_server: object, tmp_path: Path) -> None:
    url = http_server.url  # type: ignore[attr-defined]
    port = url.rstrip("/").rsplit(":", 1)[1]
    path = write(
        tmp_path,
        "C: GET /sample.txt HTTP/1.1\nC:\nS: HTTP/1.1 200 OK\nS: ...\nS:\nS: <server sends 1066 octets of message payload>\n"
        "C: HEAD /no-such HTTP/1.1\nC: Host: example.org\nC:\nS: HTTP/1.1 404 *\nS: ...\nS:\n",
    )
    r = replay(str(path), "--target", url.rstrip("/"), "--strict")
    assert r.status == 0, r.out + r.err
    assert f"C: Host: 127.0.0.1:{port}" in r.out
    assert r.out.count("C: Host:") == 2 and "C: Host: example.org" in r.out


def test_lecture_pipelined_imap_sends_three_commands_at_once(dovecot: Dovecot) -> None:
    dovecot.deliver(lecture_message(), "frobozz")
    r = replay(str(TRANSCRIPTS / "imap_pipelined.txt"), "--target", dovecot.imap_url)
    assert r.status == 0, r.out + r.err
    lines = r.out.splitlines()
    i = lines.index("C: A0003 FETCH 1 RFC822.SIZE")
    assert lines[i + 1 : i + 3] == ["C: A0004 FETCH 1 BODY[HEADER]", "C: A0005 FETCH 1 BODY[TEXT]"]


# -- record, then replay under --strict ---------------------------------------------------------------


def record(url: str, stdin: bytes, path: Path, *extra: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", url, "--record", str(path), *extra],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert r.returncode in (0, 1), r.stderr
    assert path.exists()


def test_record_then_replay_strict_smtp(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "smtp.txt"
    stdin = b"EHLO me\nMAIL FROM:<Smith@bar.com>\nRCPT TO:<Jones@foo.com>\nRCPT TO:<Green@foo.com>\nDATA\n.hidden\nhello\n.\nQUIT\n"
    record(lecture_smtp.url, stdin, path)
    r = replay(str(path), "--strict")  # the header names the same server
    assert r.status == 0, path.read_text() + r.out + r.err
    assert lecture_smtp.handler.messages[-1] == lecture_smtp.handler.messages[0]  # the same message twice
    assert b"\r\n.hidden\r\n" in b"\r\n" + lecture_smtp.handler.messages[-1]


def test_record_then_replay_strict_pop3_with_password(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(b"Subject: x\r\n\r\n.dot line\r\nend\r\n", "bob")
    path = tmp_path / "pop3.txt"
    record(dovecot.pop3_url, b"USER bob\nPASS redqueen\nLIST\nRETR 1\nQUIT\n", path)
    assert "redqueen" not in path.read_text()
    r = replay(str(path), "--strict", "--set", "password=redqueen")
    assert r.status == 0, path.read_text() + r.out + r.err


def test_record_then_replay_strict_imap_with_loose_volatile(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(lecture_message(), "frobozz")
    path = tmp_path / "imap.txt"
    stdin = b"A1 LOGIN frobozz xyzzy\nA2 SELECT INBOX\nA3 FETCH 1 (FLAGS BODY[])\nA4 LOGOUT\n"
    record(dovecot.imap_url, stdin, path, "--no-redact")
    loosen_file(path)
    text = path.read_text()
    assert "[UIDVALIDITY *]" in text and "(* secs)" in text
    dovecot.reset("frobozz")
    dovecot.deliver(lecture_message(), "frobozz")  # a new mailbox: a new UIDVALIDITY
    r = replay(str(path), "--strict")
    assert r.status == 0, text + r.out + r.err


def test_record_then_replay_strict_http_with_loose_volatile(http_server: object, tmp_path: Path) -> None:
    url = http_server.url  # type: ignore[attr-defined]
    path = tmp_path / "http.txt"
    record(url, b"GET /sample.txt HTTP/1.1\n\nGET /images/ HTTP/1.1\n\nHEAD /nope HTTP/1.1\n\n", path)
    loosen_file(path)
    assert "S: Date: *" in path.read_text()
    time.sleep(1.1)  # a new second: the Date header differs now
    r = replay(str(path), "--strict")
    assert r.status == 0, path.read_text() + r.out + r.err


def test_auth_plain_recorded_then_replayed(smtp_server_factory: object, tmp_path: Path) -> None:
    server = smtp_server_factory("auth")  # type: ignore[operator]
    token = base64.b64encode(b"\0bob\0redqueen").decode()
    path = tmp_path / "auth.txt"
    record(server.url, f"EHLO me\nAUTH PLAIN {token}\nQUIT\n".encode(), path)
    assert token not in path.read_text()
    r = replay(str(path), "--strict", "--set", f"password={token}")
    assert r.status == 0, path.read_text() + r.out + r.err
    assert token not in r.out


def test_record_then_replay_strict_nginx_chunked_listing(nginx: object, tmp_path: Path) -> None:
    """nginx sends a directory listing chunked: chunk-size lines and payloads alternate."""
    root: Path = nginx.root  # type: ignore[attr-defined]
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("hello\n")
    (root / "b.txt").write_text("world\n")
    path = tmp_path / "nginx.txt"
    url = nginx.url("/")  # type: ignore[attr-defined]
    record(url, b"GET / HTTP/1.1\n\nGET /a.txt HTTP/1.1\n\n", path)
    loosen_file(path)
    text = path.read_text()
    assert "octets of message payload" in text
    r = replay(str(path), "--strict")
    assert r.status == 0, text + r.out + r.err


def test_starttls_target_upgrades_after_the_greeting(smtp_server_factory: object, tls_ca: object, tmp_path: Path) -> None:
    server = smtp_server_factory("starttls")  # type: ignore[operator]
    path = write(tmp_path, "S: 220 *\nC: EHLO me\nS: 250-*\nS: ...\nC: QUIT\nS: 221 *\n")
    r = replay(str(path), "--target", server.url, "--starttls", "--cafile", str(tls_ca.ca_cert))  # type: ignore[attr-defined]
    assert r.status == 0, r.out + r.err
    assert "C: STARTTLS" in r.out and "verified" in r.out
    assert server.messages == [] and r.out.count("C: EHLO") == 2  # the upgrade's EHLO and the transcript's


def test_empty_transcript_is_a_usage_error(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing but a comment\n")
    r = replay(str(path), "--target", "smtp://127.0.0.1:9")
    assert r.status == 2 and "nothing to replay" in r.err


def test_record_then_replay_strict_imap_append_literal(dovecot: Dovecot, tmp_path: Path) -> None:
    """A client literal is recorded as sent (its last line without CRLF) and
    replays byte for byte: the message arrives twice, identical."""
    path = tmp_path / "append.txt"
    stdin = b"A1 LOGIN bob redqueen\nA2 APPEND INBOX {11}\nhello world\n\nA3 LOGOUT\n"
    record(dovecot.imap_url, stdin, path, "--no-redact")
    assert "C: hello world\\c" in path.read_text()
    loosen_file(path)
    r = replay(str(path), "--strict")
    assert r.status == 0, path.read_text() + r.out + r.err
    stored = sorted((dovecot.maildir("bob") / "new").iterdir()) + sorted((dovecot.maildir("bob") / "cur").iterdir())
    assert [p.read_bytes() for p in stored] == [b"hello world", b"hello world"]


# -- the batch path (no --step: a blocking socket, output held until the next send)


_INJECTOR_TRANSCRIPTS = {
    "smtp": "S: 220 *\nC: NOOP\nS: 250 *\n",
    "pop3": "S: +OK *\nC: NOOP\nS: +OK *\n",
    "imap": "S: * OK *\nC: A1 NOOP\nS: A1 OK *\n",
}


@pytest.mark.parametrize("starttls_injector", ["smtp", "pop3", "imap"], indirect=True)
def test_batch_replay_discards_plaintext_injected_after_starttls(
    starttls_injector: STARTTLSInjector, tls_ca: TLSCA, tmp_path: Path
) -> None:
    """The injected line would be one server line more than the transcript
    has (a mismatch); it is thrown away and reported instead."""
    path = write(tmp_path, _INJECTOR_TRANSCRIPTS[starttls_injector.protocol])
    r = replay(str(path), "--target", starttls_injector.url, "--starttls", "--cafile", str(tls_ca.ca_cert))
    assert r.status == 0, r.out + r.err
    assert "injected" not in "\n".join(line for line in r.out.splitlines() if line.startswith("S:"))
    assert "discarded" in r.out and "plaintext" in r.out and "verified" in r.out


def test_ctrl_c_stops_a_waiting_replay_at_once_and_keeps_what_arrived(tmp_path: Path) -> None:
    """A replay blocked on a silent server (here with a 60 s timeout) stops
    on Ctrl-C within a fraction of a second: exit 130, one line on stderr,
    and what the server said before is on stdout."""
    path = write(tmp_path, "S: 220 *\nC: NOOP\nS: 250 OK\n")
    with ScriptedServer([("send", b"220 hello there\r\n"), ("expect", b"NOOP"), ("sleep", 2)]) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "protoshell", "replay", str(path), "--target", f"smtp://{server.url_host}", "--timeout", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while b"NOOP" not in server.received and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - start
    assert proc.returncode == 130, (out, err)
    assert took < 2
    assert b"S: 220 hello there" in out and b"C: NOOP" in out
    assert err.decode().strip().splitlines() == ["protoshell: interrupted"], err


def test_batch_replay_over_implicit_tls(dovecot: Dovecot, tls_ca: TLSCA, tmp_path: Path) -> None:
    """imaps: the handshake, the certificate check against --cafile, a
    literal read through TLS, and a clean LOGOUT, on the blocking socket."""
    dovecot.deliver(lecture_message(), "bob")
    path = write(
        tmp_path,
        "S: * OK *\nC: A1 LOGIN bob redqueen\nS: A1 OK *\nC: A2 SELECT INBOX\nS: ...\nS: A2 OK *\n"
        "C: A3 FETCH 1 BODY[]\nS: * 1 FETCH (BODY[] {*}\nS: <server sends * octets of message payload>\nS: )\nS: A3 OK *\n"
        "C: A4 LOGOUT\nS: * BYE *\nS: A4 OK *\n",
    )
    r = replay(str(path), "--target", dovecot.imaps_url, "--cafile", str(tls_ca.ca_cert))
    assert r.status == 0, r.out + r.err
    assert "verified" in r.out and "# TLS " in r.out


def test_batch_replay_refuses_an_untrusted_certificate(dovecot: Dovecot, tmp_path: Path) -> None:
    path = write(tmp_path, "S: * OK *\nC: A1 LOGOUT\nS: * BYE *\nS: A1 OK *\n")
    r = replay(str(path), "--target", dovecot.imaps_url)
    assert r.status == 3
    assert "certificate" in r.err and "--cafile" in r.err and "Traceback" not in r.err


def test_elision_that_finds_nothing_names_the_nearest_header(nginx: object) -> None:
    """The HTTP lesson against nginx (or Apache): after '...' it looks for
    'Content-Type: text/html; charset=*' and nginx sends 'Content-Type: text/html'.
    The report said 'the server sent nothing more (its answer had ended)', as if
    the server had sent no headers; it now shows the server's Content-Type line."""
    root: Path = nginx.root  # type: ignore[attr-defined]
    root.mkdir(parents=True, exist_ok=True)
    (root / "a_web_page.html").write_text("<p>hi</p>\n")
    url = nginx.url("/")  # type: ignore[attr-defined]
    r = replay(str(TRANSCRIPTS / "http_lecture.txt"), "--target", url)
    assert r.status == 1, r.out + r.err
    assert "nothing more" not in r.err
    assert "no line after '...' (line 30) matched it" in r.err
    assert "got 'S: Content-Type: text/html'" in r.err and "its Content-Type line differs" in r.err
