"""--record: the session as a transcript, redacted, flushed whatever happens."""

from __future__ import annotations

import base64
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protoshell.transcript.model import ClientLine, Narration, ServerLine
from protoshell.transcript.parse import parse_transcript
from tests.integration.scripted_server import ScriptedServer
from tests.integration.servers import Dovecot, SMTPServer


def run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "protoshell", *args], input=stdin, capture_output=True, timeout=30, check=False)


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
def test_smtp_auth_and_data_recorded_redacted(smtp_server: SMTPServer, tmp_path: Path) -> None:
    out = tmp_path / "s.txt"
    token = base64.b64encode(b"\0bob\0redqueen").decode()
    stdin = (
        f"EHLO me\nAUTH PLAIN {token}\nMAIL FROM:<bob@x>\nRCPT TO:<al@y>\nDATA\n.hidden dot\nhello\n.\nQUIT\n"
    ).encode()
    r = run([smtp_server.url, "--record", str(out)], stdin)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "redqueen" not in text and token not in text
    assert "C: AUTH PLAIN <redacted>" in text
    t = parse_transcript(text, str(out))
    assert t.header["target"] == smtp_server.url
    kinds = [type(s).__name__ for s in t.steps]
    assert kinds[0] == "Narration" and t.steps[0].kind == "connect" and t.steps[0].port == smtp_server.port
    client = [s.raw for s in t.steps if isinstance(s, ClientLine)]
    # The message line is recorded as typed; the framer stuffs it on replay.
    assert b".hidden dot\r\n" in client
    assert b"..hidden dot\r\n" not in client
    servers = [s.text for s in t.steps if isinstance(s, ServerLine)]
    assert servers[0].startswith("220 ") and servers[-1].startswith("221 ")
    narrations = [s for s in t.steps if isinstance(s, Narration)]
    # Whoever closes first after QUIT / 221 (a race both ways) is recorded.
    assert narrations[-1].kind == "hangup"


def test_no_redact_keeps_secrets(dovecot: Dovecot, tmp_path: Path) -> None:
    out = tmp_path / "p.txt"
    r = run([dovecot.pop3_url, "--record", str(out), "--no-redact"], b"USER bob\nPASS redqueen\nQUIT\n")
    assert r.returncode == 0, r.stderr
    assert "C: PASS redqueen" in out.read_text()


def test_imap_literal_recorded_as_payload_narration(dovecot: Dovecot, tmp_path: Path) -> None:
    message = b"Subject: x\r\n\r\nbody\r\n"
    dovecot.deliver(message)
    out = tmp_path / "i.txt"
    r = run([dovecot.imap_url, "--record", str(out)], b"LOGIN bob redqueen\nSELECT INBOX\nFETCH 1 BODY[]\nLOGOUT\n")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "C: A0001 LOGIN bob <redacted>" in text
    assert f"S: <server sends {len(message)} octets of message payload>" in text
    assert "S: )" in text


def test_record_flushed_when_server_drops(tmp_path: Path) -> None:
    out = tmp_path / "drop.txt"
    script = [("send", b"220 hi\r\n"), ("expect", b"EHLO"), ("send", b"250-partial\r\n"), ("reset",)]
    with ScriptedServer(script) as srv:
        r = run([f"smtp://{srv.url_host}", "--record", str(out)], b"EHLO me\n")
    assert r.returncode == 3
    text = out.read_text()
    assert "S: 250-partial" in text
    assert "# response incomplete" in text


@pytest.mark.parametrize(("sig", "rc", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_record_flushed_on_ctrl_c(tmp_path: Path, sig: signal.Signals, rc: int, said: str) -> None:
    """Ctrl-C and ``kill PID`` alike: the file ends with the hang-up, one
    line says why.  SIGTERM killed the process where it stood (exit -15),
    the recording without its end."""
    out = tmp_path / "int.txt"
    script = [("send", b"220 hi\r\n"), ("expect", b"NOOP"), ("send", b"250 ok\r\n"), ("sleep", 20)]
    with ScriptedServer(script, timeout=25) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "protoshell", f"smtp://{srv.url_host}", "--record", str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(b"NOOP\n")
        proc.stdin.flush()  # stdin stays open: protoshell waits for more input
        deadline = time.monotonic() + 10
        while "250 ok" not in (out.read_text() if out.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
    assert proc.returncode == rc
    assert err == f"protoshell: {said}\n".encode()
    text = out.read_text()
    assert "S: 250 ok" in text and text.rstrip().endswith("C: <client hangs up>")


def test_record_to_unwritable_path_is_a_usage_error(tmp_path: Path) -> None:
    r = run(["smtp://127.0.0.1:9", "--record", str(tmp_path / "no" / "such" / "dir.txt")], b"")
    assert r.returncode == 2
    assert r.stderr.decode().count("\n") == 1 and "cannot write --record file" in r.stderr.decode()


def test_client_payloads_are_recorded_as_client_lines(tmp_path: Path) -> None:
    """The proxy's Exchanges for a client literal or message line (a Payload
    event on a C exchange) are C: lines, not the server's payload narration."""
    from protoshell.proto.base import Payload
    from protoshell.recorder import Recorder
    from protoshell.session import Exchange
    from protoshell.target import parse_target

    path = tmp_path / "rec.txt"
    rec = Recorder.open(str(path), parse_target("smtp://127.0.0.1:2525"))
    rec(Exchange("C", b"..dot\r\n", Payload(b"..dot\r\n", 0, None), 0.0, line=b".dot", kind="body"))
    rec(Exchange("C", b"hel", Payload(b"hel", 0, 5), 0.0, kind="body"))
    rec.close()
    lines = path.read_text().splitlines()
    assert lines[2:4] == ["C: .dot", "C: hel\\c"]
    assert "octets" not in path.read_text()


def _file_size_limit(octets: int) -> None:
    """preexec_fn: files of this process stop growing at ``octets`` (a full
    disk, as a write sees it: EFBIG; Python ignores SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (octets, octets))


def test_record_write_failing_mid_session_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    """The disk fills while recording: the file keeps what fit, stderr says
    so in one line, exit 2 (as for a file that cannot be opened).  It was a
    traceback from the ExitStack's close, exit 1."""
    out = tmp_path / "full.txt"
    script = [("send", b"220 hi\r\n"), ("expect", b"EHLO"), ("send", b"250-a line of the reply\r\n" * 100 + b"250 OK\r\n")]
    script += [("expect", b"QUIT"), ("send", b"221 bye\r\n")]
    commands = b"EHLO me\nQUIT\n"
    with ScriptedServer(script) as srv:
        r = subprocess.run(
            [sys.executable, "-m", "protoshell", f"smtp://{srv.url_host}", "--record", str(out)],
            input=commands,
            check=False,
            capture_output=True,
            timeout=30,
            preexec_fn=lambda: _file_size_limit(1024),
        )
    err = r.stderr.decode()
    assert b"Traceback" not in r.stderr, err
    assert err == f"protoshell: cannot write the recording {str(out)!r}: File too large\n"
    assert r.returncode == 2
    assert out.read_text().startswith("# protoshell transcript")


def test_recorder_write_failure_raises_once_and_close_is_quiet(tmp_path: Path) -> None:
    from protoshell.proto.base import ServerLine
    from protoshell.recorder import Recorder, RecordingError
    from protoshell.session import Exchange
    from protoshell.target import parse_target

    class FullDisk(io.StringIO):
        full = False

        def flush(self) -> None:
            if self.full:
                raise OSError(28, "No space left on device")

    stream = FullDisk()
    rec = Recorder.to_stream(stream, parse_target("smtp://127.0.0.1:2525"))
    stream.full = True
    line = Exchange("S", b"250 OK\r\n", ServerLine(b"250 OK\r\n", "250", "ok"), 0.0)
    with pytest.raises(RecordingError, match="cannot write the recording the transcript: No space left on device"):
        rec(line)
    rec(line)  # the recording is over: nothing more is tried
    rec.close(hangup=True)  # never raises (an ExitStack calls it)
    assert rec.error is not None and rec.error_raised
