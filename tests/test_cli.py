"""The CLI routes every documented command to working code (DESIGN.md 1).

The subcommands' own behaviour is tested beside their packages; here: that
`protoshell replay|show|demo|serve ...` as a user types it reaches them, and
that --record --loose-volatile makes a recording replay under --strict.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protoshell.server.control import EmbeddedServer
from tests.integration.servers import Dovecot

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "protoshell", *args], input=stdin, capture_output=True, timeout=timeout, check=False
    )
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))


def test_version_and_help() -> None:
    assert cli("--version").stdout.startswith("protoshell ")
    out = cli("--help").stdout
    for word in ("replay", "serve", "show", "demo", "--record", "--starttls", "exit codes"):
        assert word in out


def test_replay_a_shipped_lesson_against_the_embedded_server() -> None:
    with EmbeddedServer(ROOT / "web") as server:
        r = cli("replay", str(ROOT / "transcripts" / "http_lab.txt"), "--target", f"http://127.0.0.1:{server.port}")
    assert r.returncode == 0, r.stdout + r.stderr


def test_replay_reports_a_mismatch_with_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("C: GET /no-such-page HTTP/1.1\nC:\nS: HTTP/1.1 200 OK\n...\n")
    with EmbeddedServer(ROOT / "web") as server:
        r = cli("replay", str(bad), "--target", f"http://127.0.0.1:{server.port}")
    assert r.returncode == 1
    assert f"{bad}:3" in r.stdout + r.stderr
    assert "404" in r.stdout + r.stderr


def test_show_exports_html(tmp_path: Path) -> None:
    out = tmp_path / "lesson.html"
    r = cli("show", str(ROOT / "transcripts" / "pop3_lecture.txt"), "--html", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "USER bob" in html and "+OK" in html


def test_bad_transcript_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("C: NOOP\nthis line is neither C: nor S:\n")
    r = cli("replay", str(bad), "--target", "smtp://127.0.0.1:9")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and f"{bad}:2" in r.stderr


def test_serve_bad_arguments_exit_2() -> None:
    r = cli("serve", "--port", "notanumber")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_record_loose_volatile_then_strict_replay(dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.deliver(b"Subject: hi\r\n\r\nhello\r\n")
    # A first SELECT takes the message's \Recent flag (RFC 3501 2.3.2), which
    # would otherwise differ between the recorded session and the replay.
    assert cli(dovecot.imap_url, stdin=b"LOGIN bob redqueen\nSELECT INBOX\nLOGOUT\n").returncode == 0
    rec = tmp_path / "imap.txt"
    r = cli(
        dovecot.imap_url, "--record", str(rec), "--loose-volatile", "--no-redact",
        stdin=b"LOGIN bob redqueen\nSELECT INBOX\nFETCH 1 (FLAGS BODY.PEEK[])\nLOGOUT\n",
    )
    assert r.returncode == 0, r.stderr
    text = rec.read_text()
    assert "UIDVALIDITY *]" in text  # the server's number became a wildcard
    again = cli("replay", str(rec), "--strict", "--target", dovecot.imap_url)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_batch_replay_does_not_load_the_step_prompt(tmp_path: Path) -> None:
    """prompt_toolkit is the --step prompt's; a replay without --step (a CI
    loop over many files) must not pay its ~120 ms import."""
    path = tmp_path / "t.txt"
    path.write_text("S: 220 *\nC: QUIT\nS: 221 *\n")
    code = (
        "import sys, protoshell.cli as c; "
        f"c.main(['replay', {str(path)!r}, '--target', 'smtp://127.0.0.1:1', '--timeout', '2']); "
        "print('prompt_toolkit' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=False)
    assert r.stdout.decode().strip().splitlines()[-1] == "False", r.stderr.decode()


def test_bare_protoshell_server_waits_at_a_humans_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bare `protoshell`: a person reads the banner and :help before typing; the in-process
    server must not answer the shell's idle connection with a 408 after `serve`'s 15 s."""
    import io

    from protoshell import cli as cli_module
    from protoshell.context import Environment
    from protoshell.server import control

    timeouts: list[float] = []
    real_start = control.EmbeddedServer.start

    def start(self: control.EmbeddedServer) -> control.EmbeddedServer:
        timeouts.append(self.timeout)
        return real_start(self)

    monkeypatch.setattr(control.EmbeddedServer, "start", start)
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(b"GET / HTTP/1.1\n\n"), stdout=out, stderr=err,
        stdin_isatty=False, stdout_isatty=False, no_color_env=True,
    )
    monkeypatch.setattr(cli_module, "_environment", lambda: env)
    assert cli_module.main([]) == 0, err.getvalue()
    assert "S: HTTP/1.1 200 OK" in out.getvalue()
    assert timeouts and timeouts[0] >= 300 > control.DEFAULT_TIMEOUT


@pytest.mark.parametrize("value", ["0", "nan"])
def test_a_timeout_that_is_not_more_than_0_is_exit_2(value: str) -> None:
    """``--timeout nan`` passed the ``<= 0`` check: "timed out after nan s", exit 3."""
    r = cli("smtp://127.0.0.1:9", "--timeout", value)
    assert r.returncode == 2
    assert r.stderr == "protoshell: --timeout must be more than 0 seconds\n"
