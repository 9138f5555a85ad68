"""protoshell/proxy/cli.py: arguments, exit codes, Ctrl-C, --ca-path (real processes)."""

from __future__ import annotations

import io
import signal
import smtplib
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from protoshell.context import Environment
from protoshell.proxy.cli import parse_listen, proxy_main
from tests.integration.servers import SMTPServer

from .running import cli_env, protoshell


def _env() -> tuple[Environment, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Environment(stdin=io.BytesIO(), stdout=out, stderr=err, stdin_isatty=False, stdout_isatty=False), out, err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "a TARGET_URL is needed"),
        (["foo://127.0.0.1:1"], "unknown scheme 'foo'"),
        (["smtp://127.0.0.1:1", "--listen", "127.0.0.1:70000"], "the port must be 0 to 65535"),
        (["smtp://127.0.0.1:1", "--listen", "[::1"], "bad --listen"),
        (["smtp://127.0.0.1:1", "--record", "a", "--record-dir", "b"], "not allowed with argument"),
        (["smtp://127.0.0.1:1", "--cafile", "x", "--insecure"], "not allowed with argument"),
        (["smtp://127.0.0.1:1", "--max-lines", "-1"], "--max-lines must be 0 or more"),
        (["smtp://127.0.0.1:1", "--cafile", "/nonexistent/ca.pem"], "no such file"),
        (["smtp://127.0.0.1:1", "--cafile", "/"], "'/': a folder, not a file"),  # it said "no such file"
        (["smtp://127.0.0.1:1", "--record", "/nonexistent/dir/rec.txt"], "cannot write --record file"),
        (["smtp://127.0.0.1:1", "--bogus"], "unrecognized arguments"),
        (["smtp://127.0.0.1:1", "--ca-path"], "--ca-path takes no TARGET_URL"),
        # Found at the first connection (a one-line "SSLError" per client), or never.
        (["https://127.0.0.1:1", "--cafile", __file__], "--cafile"),
        (["smtp://127.0.0.1:1", "--timeout", "nan"], "--timeout must be more than 0 seconds"),
        (["smtp://127.0.0.1:1", "--busy-poll", "-1"], "--busy-poll must be 0 to 1000000 microseconds"),
        (["smtp://127.0.0.1:1", "--busy-poll", "nan"], "--busy-poll must be 0 to 1000000 microseconds"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], message: str) -> None:
    env, out, err = _env()
    assert proxy_main(argv, env=env) == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()
    assert out.getvalue() == ""


def test_the_subcommand_is_reached_from_the_cli() -> None:
    r = protoshell("proxy", "--help")
    assert r.returncode == 0
    assert "--ca-path" in r.stdout and "curl --cacert" in r.stdout
    assert "proxy" in protoshell("--help").stdout
    r = protoshell("proxy")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:0", ("127.0.0.1", 0)), (":2525", ("127.0.0.1", 2525)), ("[::1]:25", ("::1", 25)), ("8080", ("127.0.0.1", 8080))],
)
def test_listen_addresses(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


def test_a_listen_port_in_use_exits_3(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env, _, err = _env()
        code = proxy_main(["smtp://127.0.0.1:1", "--listen", f"127.0.0.1:{port}", "--ca-dir", str(tmp_path)], env=env)
    assert code == 3
    assert "the port is in use" in err.getvalue() and err.getvalue().count("\n") == 1


def test_ca_path_prints_the_certificate_and_keeps_the_key_private(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    r = protoshell("proxy", "--ca-dir", str(ca_dir), "--ca-path")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path == ca_dir / "ca-cert.pem"
    assert path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE((ca_dir / "ca-key.pem").stat().st_mode) == 0o600
    # Made once: the second call prints the same CA.
    before = path.read_bytes()
    assert protoshell("proxy", "--ca-dir", str(ca_dir), "--ca-path").returncode == 0
    assert path.read_bytes() == before


def test_the_default_ca_lives_in_the_data_folder(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", "proxy", "--ca-path"],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
        env=cli_env(XDG_DATA_HOME=str(tmp_path)),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "protoshell" / "proxy-ca" / "ca-cert.pem")


def _recording_proxy(url: str, tmp_path: Path, rec: Path) -> subprocess.Popen[str]:
    """``protoshell proxy URL --record REC`` on a free port, as a user starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "protoshell", "proxy", url, "--listen", "127.0.0.1:0", "--ca-dir", str(tmp_path / "ca"), "--record", str(rec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )


@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "older-recording"])
def test_no_client_leaves_no_empty_recording(tmp_path: Path, existing: bool) -> None:
    """--record FILE and Ctrl-C before any client came: the file was truncated at start
    (an older recording lost) or left empty; now an older one stays, a new one is not
    made, and one line says nothing was recorded."""
    rec = tmp_path / "rec.txt"
    if existing:
        rec.write_text("# protoshell transcript · target: smtp://127.0.0.1:1\nC: QUIT\n", encoding="utf-8")
    before = rec.read_text() if existing else None
    proc = _recording_proxy("smtp://127.0.0.1:1", tmp_path, rec)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("listening on ")
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert err.splitlines() == [f"protoshell: no client connected: nothing recorded in {rec}"]
    if existing:
        assert rec.read_text() == before
    else:
        assert not rec.exists()


def test_ctrl_c_exits_0_with_the_recording_complete(smtp_server: SMTPServer, tmp_path: Path) -> None:
    rec = tmp_path / "rec.txt"
    proc = _recording_proxy(smtp_server.url, tmp_path, rec)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("listening on 127.0.0.1:") and first.endswith(f"-> {smtp_server.url}\n")
        port = int(first.split()[2].rsplit(":", 1)[1])
        client = smtplib.SMTP("127.0.0.1", port, timeout=10)
        client.ehlo("me")  # and stays connected
        deadline = time.monotonic() + 5
        while "S: 250 " not in rec.read_text():
            assert time.monotonic() < deadline, rec.read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    lines = rec.read_text().splitlines()
    assert "C: ehlo me" in lines
    assert lines[-1] == "C: <client hangs up>"
    # The proxy closed it; it said "the client hung up; closing the server leg" too.
    assert "closed by the proxy (stopping)" in out and "the client hung up" not in out, out
    client.close()


def _listening_line(argv: list[str]) -> str:
    """Start the proxy in a thread with ``argv``, stop it at once, return its first line."""
    env, out, _ = _env()
    box: dict[str, Any] = {}
    ready = threading.Event()

    def on_ready(loop: Any, stop: Any) -> None:
        box.update(loop=loop, stop=stop)
        ready.set()

    t = threading.Thread(target=proxy_main, args=(argv,), kwargs={"env": env, "on_ready": on_ready})
    t.start()
    assert ready.wait(10)
    box["loop"].call_soon_threadsafe(box["stop"].set)
    t.join(10)
    return out.getvalue().splitlines()[0]


def test_the_default_listen_port_is_the_targets_plus_10000_or_a_free_one(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free = probe.getsockname()[1]
    line = _listening_line([f"http://127.0.0.1:{free - 10000}", "--ca-dir", str(tmp_path)])
    assert line == f"listening on 127.0.0.1:{free} -> http://127.0.0.1:{free - 10000}"
    # 60000 + 10000 is no port: a free one is chosen.
    line = _listening_line(["http://127.0.0.1:60000", "--ca-dir", str(tmp_path)])
    assert line.startswith("listening on 127.0.0.1:") and line.endswith(" -> http://127.0.0.1:60000")


def _file_size_limit(octets: int) -> None:
    """preexec_fn: a full disk as a write sees it (EFBIG; Python ignores SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (octets, octets))


def test_a_recording_that_fills_the_disk_is_one_line_and_forwarding_goes_on(tmp_path: Path) -> None:
    """The recording's disk fills in the middle of a connection: one line on
    stderr, the client still gets every byte.  It was a traceback from
    asyncio's callback and a recording left silently short."""
    from tests.integration.scripted_server import ScriptedServer

    rec = tmp_path / "rec.txt"
    reply = b"250-a line of the reply\r\n" * 200 + b"250 OK\r\n"
    script = [("send", b"220 hi\r\n"), ("expect", b"EHLO"), ("send", reply), ("expect", b"QUIT"), ("send", b"221 bye\r\n")]
    with ScriptedServer(script) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "protoshell", "proxy", f"smtp://{srv.url_host}", "--listen", "127.0.0.1:0", "--ca-dir", str(tmp_path / "ca"), "--record", str(rec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            preexec_fn=lambda: _file_size_limit(4096),  # noqa: PLW1509 - a limit, no threads yet
        )
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline().split()[2].rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                got = b""
                client.sendall(b"EHLO me\r\n")
                while b"250 OK\r\n" not in got:
                    data = client.recv(65536)
                    assert data, got[-200:]
                    got += data
                client.sendall(b"QUIT\r\n")
                while b"221 bye" not in got:
                    data = client.recv(65536)
                    assert data, got[-200:]
                    got += data
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert got.endswith(reply + b"221 bye\r\n")
    assert "Traceback" not in err, err
    assert err == f"protoshell: connection 1: cannot write the recording {str(rec)!r}: File too large\n"
