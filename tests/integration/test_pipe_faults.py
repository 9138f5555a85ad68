"""Pipe mode when things go wrong: one clear line on stderr, exit code 3,
never a traceback, and everything that did arrive is printed.

The servers here are real sockets on 127.0.0.1 that misbehave on cue
(scripted_server.py); the unknown-host case patches name resolution because
a lookup failure cannot be produced without asking a DNS server off this
machine.
"""

from __future__ import annotations

import io
import resource
import socket
import subprocess
import sys

import pytest

from protoshell.cli import main
from protoshell.context import Environment

from .scripted_server import ScriptedServer
from .servers import Nginx

GREETING = b"220 scripted ESMTP\r\n"


def run_cli(args: list[str], stdin: bytes = b"", timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "protoshell", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def assert_one_clean_line(stderr: bytes, *words: str) -> None:
    text = stderr.decode()
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    for w in words:
        assert w in lines[0], lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused() -> None:
    port = free_port()  # nothing listens there once the socket is closed
    r = run_cli([f"smtp://127.0.0.1:{port}"], b"QUIT\n")
    assert r.returncode == 3
    assert_one_clean_line(r.stderr, "connection refused", str(port))


def test_timeout_waiting_for_greeting() -> None:
    """A silent port: it said 'no complete response', which left a newcomer who typed
    the wrong port or scheme (imap:// on a web server) waiting for nothing, unaware."""
    with ScriptedServer([("sleep", 3)]) as srv:
        r = run_cli([f"smtp://{srv.url_host}", "--timeout", "0.5"], b"QUIT\n")
    assert r.returncode == 3
    assert_one_clean_line(r.stderr, "no greeting from", "within 0.5 s", "is it an SMTP port?")


def test_mail_scheme_on_a_web_server_asks_about_the_port(nginx: Nginx) -> None:
    r = run_cli([f"imap://{nginx.host}:{nginx.port}", "--timeout", "0.5"], b"A1 NOOP\n")
    assert r.returncode == 3
    assert_one_clean_line(r.stderr, "an IMAP server speaks first", "a web server, for one, waits")


def test_timeout_after_the_greeting_is_no_complete_response() -> None:
    script = [("send", GREETING), ("expect", b"NOOP"), ("sleep", 3)]
    with ScriptedServer(script) as srv:
        r = run_cli([f"smtp://{srv.url_host}", "--timeout", "0.5"], b"NOOP\n")
    assert r.returncode == 3
    assert_one_clean_line(r.stderr, "no complete response", "0.5")


def test_reset_in_the_middle_of_a_response_keeps_what_arrived() -> None:
    script = [
        ("send", GREETING),
        ("expect", b"EHLO"),
        ("send", b"250-scripted greets you\r\n250-PIPELINING\r\n"),
        ("sleep", 0.2),
        ("reset",),
    ]
    with ScriptedServer(script) as srv:
        r = run_cli([f"smtp://{srv.url_host}"], b"EHLO me\nQUIT\n")
    out = r.stdout.decode()
    assert r.returncode == 3, (out, r.stderr)
    assert "S: 250-scripted greets you" in out
    assert "S: 250-PIPELINING" in out
    assert_one_clean_line(r.stderr)
    assert "reset" in r.stderr.decode() or "middle of a response" in r.stderr.decode()


def test_eof_in_the_middle_of_a_response_is_marked_incomplete() -> None:
    script = [("send", GREETING), ("expect", b"EHLO"), ("send", b"250-half a reply\r\n"), ("close",)]
    with ScriptedServer(script) as srv:
        r = run_cli([f"smtp://{srv.url_host}"], b"EHLO me\n")
    assert r.returncode == 3
    assert "S: 250-half a reply" in r.stdout.decode()
    assert_one_clean_line(r.stderr)


def test_endless_line_is_refused_with_bounded_memory() -> None:
    # 64 MB without a line ending: the 1 MiB line limit must stop it early.
    script = [("stream", b"x" * 65536, 1024)]
    with ScriptedServer(script) as srv:
        r = run_cli([f"smtp://{srv.url_host}"], b"QUIT\n")
    assert r.returncode == 3
    assert_one_clean_line(r.stderr, "longer than")


def _vm_hwm_kib(pid: int) -> int:
    """Peak RSS of that process alone (ru_maxrss of children would also count
    this test process, which they are forked from)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_endless_continuation_lines_stream_with_bounded_memory() -> None:
    # ~40 MB of "250-" lines: shown as they come, never accumulated.
    line = b"250-" + b"y" * 1000 + b"\r\n"
    script = [("send", GREETING), ("expect", b"EHLO"), ("stream", line * 64, 640), ("send", b"250 done\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n"), ("sleep", 1)]
    peak_kib = 0
    with ScriptedServer(script, timeout=60) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "protoshell", f"smtp://{srv.url_host}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"EHLO me\nQUIT\n")
        proc.stdin.close()
        lines = 0
        for out_line in proc.stdout:  # consume as it comes, like a pager would
            if out_line.startswith(b"S: 250-"):
                lines += 1
                if lines % 2048 == 0:
                    peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
        proc.wait(60)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
    assert lines == 64 * 640
    assert 0 < peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"


def test_unknown_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    err = io.StringIO()
    env = Environment(stdin=io.BytesIO(b"QUIT\n"), stdout=io.StringIO(), stderr=err, stdin_isatty=False, stdout_isatty=False)
    monkeypatch.setattr("protoshell.cli._environment", lambda: env)
    assert main(["smtp://no-such-host.example:25"]) == 3
    assert_one_clean_line(err.getvalue().encode(), "unknown host", "no-such-host.example")


def test_starttls_refused() -> None:
    script = [
        ("send", GREETING),
        ("expect", b"EHLO"),
        ("send", b"250-scripted\r\n250 STARTTLS\r\n"),
        ("expect", b"STARTTLS"),
        ("send", b"454 TLS not available due to temporary reason\r\n"),
        ("sleep", 1),
    ]
    with ScriptedServer(script) as srv:
        r = run_cli([f"smtp://{srv.url_host}", "--starttls"], b"QUIT\n")
    assert r.returncode == 3
    assert "S: 454 TLS not available" in r.stdout.decode()
    assert_one_clean_line(r.stderr, "refused STARTTLS")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gopher://x"], "unknown scheme"),
        (["smtp://x", "--timeout", "0"], "--timeout"),
        (["smtp://x", "--bogus"], "unrecognized arguments"),
        (["imaps://x", "--starttls"], "already uses TLS"),
    ],
)
def test_usage_errors_exit_2(args: list[str], words: str) -> None:
    r = run_cli(args)
    assert r.returncode == 2
    assert_one_clean_line(r.stderr, words)


def test_one_gigabyte_literal_streams_within_a_memory_limit() -> None:
    """A 1 GiB IMAP literal under a 768 MiB address-space limit: if any layer
    held the literal, protoshell would die of MemoryError; it must stream it
    to --save-body and finish cleanly, showing only a summary."""
    size = 1 << 30
    block = bytes(range(256)) * 256  # 64 KiB, binary
    script = [
        ("send", b"* OK scripted IMAP ready\r\n"),
        ("expect", b"FETCH"),
        ("send", b"* 1 FETCH (BODY[] {%d}\r\n" % size),
        ("stream", block, size // len(block)),
        ("send", b")\r\nA0001 OK FETCH completed\r\n"),
        ("expect", b"LOGOUT"),
        ("send", b"* BYE bye\r\nA0002 OK LOGOUT completed\r\n"),
    ]

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (768 << 20, 768 << 20))

    with ScriptedServer(script, timeout=60) as srv:
        r = subprocess.run(
            [sys.executable, "-m", "protoshell", f"imap://{srv.url_host}", "--save-body", "/dev/null"],
            input=b"FETCH 1 BODY[]\nLOGOUT\n",
            capture_output=True,
            timeout=60,
            check=False,
            preexec_fn=limit_memory,
        )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    out = r.stdout.decode()
    assert f"S: <server sends {size} octets of binary payload: binary, not shown>" in out
    assert "S: A0001 OK FETCH completed" in out


@pytest.mark.parametrize("login", [False, True], ids=["before-login", "from-a-mailbox"])
def test_pop3_quit_waits_for_the_server_to_hang_up(login: bool) -> None:
    """After +OK to QUIT the server closes first (RFC 1939 6), also from a
    mailbox (the UPDATE state): pipe mode waits for that close, so the
    output ends the way the conversation did."""
    script = [("send", b"+OK hi\r\n")]
    if login:
        script += [("expect", b"USER"), ("send", b"+OK\r\n"), ("expect", b"PASS"), ("send", b"+OK\r\n")]
    script += [("expect", b"QUIT"), ("send", b"+OK bye\r\n"), ("sleep", 0.3), ("close",)]
    stdin = (b"USER a\nPASS b\n" if login else b"") + b"QUIT\n"
    with ScriptedServer(script) as srv:
        r = run_cli([f"pop3://{srv.url_host}"], stdin)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.decode().rstrip().endswith("server closed the connection after QUIT")


def test_a_line_left_unsent_is_quoted_with_its_password_redacted() -> None:
    """The server hangs up after its greeting: the error quotes the first
    line not sent, and a password in it is <redacted> as in the recording
    (``PASS redqueen`` was printed on stderr in full)."""
    with ScriptedServer([("send", b"+OK hi\r\n"), ("close",)]) as srv:
        r = run_cli([f"pop3://{srv.url_host}"], b"PASS redqueen\n")
    assert r.returncode == 3
    assert r.stderr == b"protoshell: the server closed the connection; input not sent: b'PASS <redacted>'\n"
