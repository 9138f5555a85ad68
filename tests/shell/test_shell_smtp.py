"""The real shell against aiosmtpd (and a scripted socket server for faults),
driven through prompt_toolkit's pipe input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.scripted_server import ScriptedServer
from tests.integration.servers import SMTPServer

from .driver import running_shell

pytestmark = pytest.mark.timeout(30)


def envelope(sh: object) -> None:
    sh.line("EHLO me")  # type: ignore[attr-defined]
    sh.expect(r"^S: 250 ")  # type: ignore[attr-defined]
    sh.line("MAIL FROM:<alice@example.com>")  # type: ignore[attr-defined]
    sh.expect(r"^S: 250")  # type: ignore[attr-defined]
    sh.line("RCPT TO:<bob@example.com>")  # type: ignore[attr-defined]
    sh.expect(r"^S: 250")  # type: ignore[attr-defined]


def test_data_mode_dot_stuffing_and_quit(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        envelope(sh)
        sh.line("DATA")
        sh.expect(r"^S: 354 ")
        for line in ("Subject: dots", "", ".hidden", "..two", "QUIT", "."):
            sh.line(line)
        sh.expect(r"^S: 250 OK message accepted")
        # The user typed ".hidden"; the wire carried "..hidden" (RFC 5321 4.5.2).
        assert re.search(r"^C: \.\.hidden$", sh.text, re.MULTILINE)
        assert re.search(r"^C: QUIT$", sh.text, re.MULTILINE)  # message text, not a command
        sh.line("QUIT")
        sh.expect(r"^S: 221 ")
        assert sh.wait_exit() == 0
    (msg,) = smtp_server.wait_for_messages(1)
    assert msg.data == b"Subject: dots\r\n\r\n.hidden\r\n..two\r\nQUIT\r\n"


def test_meta_help_explain_last_and_unknown(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(":help MAIL")
        sh.expect(r"^MAIL FROM:<reverse-path>")
        sh.expect(r"RFC 5321 section 4\.1\.1\.2; the lecture's phase: ask")
        sh.line("NOOP")
        sh.expect(r"^S: 250 ")
        sh.line(":explain")
        sh.expect(r"^250: requested mail action okay, completed")
        sh.line(":explain 354")
        sh.expect(r"^354: start mail input")
        sh.line(":last")
        sh.expect(r"^status: 250 \(ok\)")
        sh.expect(r"^round trip: [0-9.]+ ms")
        sh.line(":frobnicate")
        sh.expect(r"unknown meta-command :frobnicate")
        # SMTP replies are lines, never a body: the flag would stay on for ever.
        sh.line(":save-body /tmp/never-written.eml")
        sh.expect(r"SMTP replies carry no body to save")
        sh.line("::help")
        sh.expect(r"^C: :help$")
        sh.expect(r"^S: 500 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_raw_sends_bytes_and_replies_are_still_framed(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(r":raw NOOP\r\nNOOP one\r\n")
        sh.expect(r"^C: NOOP$")
        sh.expect(r"^C: NOOP one$")
        sh.expect(r"^S: 250 ")
        sh.expect(r"^S: 250 ")
        sh.line(":hex on")
        sh.line("NOOP")
        sh.expect(r"^C: NOOP\\r\\n$")
        sh.expect(r"4e 4f 4f 50 0d 0a")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_variables_are_substituted(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(":set who client.example")
        sh.expect(r"\$who = client\.example")
        sh.line(":vars")
        sh.expect(r"^\$who = client\.example$")
        sh.line("EHLO $who $unknown")
        # Unknown names are left as typed (the renderer may show "$" escaped).
        sh.expect(r"^C: EHLO client\.example \\?\$unknown$")
        sh.expect(r"^S: 250 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_pipeline_refused_without_the_ehlo_keyword(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(":pipeline")
        sh.expect(r"say EHLO first.*RFC 2920")
        sh.line("EHLO me")
        sh.expect(r"^S: 250 ")
        sh.line(":pipeline on")
        sh.expect(r"does not list PIPELINING")
        sh.line("NOOP")  # not queued: sent at once
        sh.expect(r"^S: 250 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_send_file_as_the_message(smtp_server: SMTPServer, tmp_path: Path) -> None:
    message = tmp_path / "msg.eml"
    message.write_bytes(b"Subject: file\r\n\r\n.starts with a dot\r\nend\r\n")
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(f":send-file {message}")
        sh.expect(r"type DATA first")
        envelope(sh)
        sh.line("DATA")
        sh.expect(r"^S: 354 ")
        sh.line(f":send-file {message}")
        sh.expect(r"^C: \.\.starts with a dot$")
        sh.expect(r"^S: 250 OK message accepted")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    (msg,) = smtp_server.wait_for_messages(1)
    assert msg.data == b"Subject: file\r\n\r\n.starts with a dot\r\nend\r\n"


def replay(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protoshell", "replay", str(path), *args],
        capture_output=True, text=True, timeout=30, check=False,
    )


def test_record_right_after_the_greeting_replays(smtp_server: SMTPServer, tmp_path: Path) -> None:
    """`:record` before the first command: the file starts at the connect, greeting
    included, so it replays as it is (it said "started in the middle of a session")."""
    record = tmp_path / "session.txt"
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(f":record {record}")
        sh.expect(r"recording to")
        sh.line("EHLO me")
        sh.expect(r"^S: 250 ")
        sh.line("QUIT")
        assert sh.wait_exit() == 0
    transcript = record.read_text()
    assert "middle of a session" not in transcript
    assert re.search(r"^C: <client connects to service port \d+>\n(# .*\n)*S: 220 ", transcript, re.MULTILINE)
    r = replay(record)
    assert r.returncode == 0, r.stdout + r.stderr
    with running_shell(smtp_server.url) as sh:  # after a command: said so, as before
        sh.expect(r"^S: 220 ")
        sh.line("NOOP")
        sh.expect(r"^S: 250 ")
        sh.line(f":record {record}")
        sh.expect(r"recording to")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    assert "middle of a session" in record.read_text()


@pytest.mark.parametrize("smtp_server", ["auth"], indirect=True)
@pytest.mark.parametrize("mechanism", ["plain", "login"])
def test_auth_reads_password_and_redacts(
    smtp_server: SMTPServer, tmp_path: Path, mechanism: str
) -> None:
    record = tmp_path / "session.txt"
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(f":record {record}")
        sh.expect(r"recording to")
        sh.line("EHLO me")
        sh.expect(r"^S: 250 ")
        sh.line(f":auth {mechanism} bob")
        sh.line("redqueen")  # typed at the password prompt
        sh.expect(r"^S: 235 ")
        envelope(sh)
        sh.line(":stop")
        sh.expect(r"recording saved to")
        sh.line(":quit")
        assert sh.wait_exit() == 0
        shown = sh.text
    secrets = ("AGJvYgByZWRxdWVlbg==", "cmVkcXVlZW4=", "redqueen")
    assert re.search(rf"^C: AUTH {mechanism.upper()}$", shown, re.MULTILINE)
    assert re.search(r"^C: <redacted> \(\d+ octets of base64", shown, re.MULTILINE)
    assert not any(s in shown for s in secrets)
    transcript = record.read_text()
    assert "C: EHLO me" in transcript and "# S: 235" in transcript
    assert not any(s in transcript for s in secrets)
    # Recorded as the meta-command, so that it replays with the password given again (its
    # `C: <redacted>` base64 line could not: --set password= filled in the bare password).
    assert f"\n:auth {mechanism} bob\n" in transcript and "<redacted>" not in transcript
    r = replay(record, "--set", "password=redqueen")
    assert r.returncode == 0, r.stdout + r.stderr


def test_auth_where_ehlo_offered_none_says_so_and_asks_no_password(smtp_server: SMTPServer) -> None:
    """Postfix offers AUTH only after STARTTLS: :auth asked for the password, sent it, and
    the server's 503 came after the user had typed it."""
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line("EHLO me")
        sh.expect(r"^S: 250 ")
        sh.line(":auth plain bob")
        sh.expect(r"this server's EHLO offered no AUTH; many servers offer it only after :starttls")
        sh.line("NOOP")  # a command, not taken for a password
        sh.expect(r"^C: NOOP$")
        sh.expect(r"^S: 250 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    assert "C: AUTH" not in sh.text


def test_starttls_upgrades_and_summarises(smtp_server_factory: object, tls_ca: object) -> None:
    server = smtp_server_factory("starttls")  # type: ignore[operator]
    with running_shell(server.url, "--cafile", str(tls_ca.ca_cert)) as sh:  # type: ignore[attr-defined]
        sh.expect(r"^S: 220 ")
        sh.line(":starttls")
        sh.expect(r"^C: EHLO localhost$")  # RFC 3207 4: EHLO first
        sh.expect(r"^C: STARTTLS$")
        sh.expect(r"^# TLS TLSv1\.[23] \S+; subject .*; verified$")
        sh.line("EHLO again")
        sh.expect(r"^S: 250 ")
        sh.line(":starttls")
        sh.expect(r"already encrypted")
        # After the user's own EHLO offered STARTTLS, only STARTTLS: it said "EHLO
        # localhost" again, under another name than the user's.
        sh.line(":reconnect")
        sh.expect(r"^S: 220 ")
        sh.line("EHLO bar.com")
        sh.expect(r"^S: 250-STARTTLS$")
        sh.expect(r"^S: 250 ")
        sh.line(":starttls")
        sh.expect(r"^C: STARTTLS$")
        sh.expect(r"^# TLS TLSv1\.[23] .*; verified$")
        assert "C: EHLO localhost" not in sh.text.rsplit("C: EHLO bar.com", 1)[1]
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_starttls_with_an_untrusted_certificate_says_so_once(smtp_server_factory: object) -> None:
    server = smtp_server_factory("starttls")  # type: ignore[operator]
    with running_shell(server.url) as sh:  # no --cafile: the trustme CA is not trusted
        sh.expect(r"^S: 220 ")
        sh.line(":starttls")
        sh.expect(r"the connection is closed: :reconnect")
        failures = re.findall(r"STARTTLS failed: .*certificate", sh.text)
        assert len(failures) == 1, sh.text
        assert "--cafile" in sh.text
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_reconnect_and_timing(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line(":timing on")
        sh.line("NOOP")
        sh.expect(r"^S: 250 ")
        sh.expect(r"^# [0-9.]+ ms$")
        sh.line(":reconnect")
        sh.expect(r"^# connected to ")
        sh.expect(r"^S: 220 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_ctrl_c_stops_waiting_and_the_session_goes_on() -> None:
    script = [
        ("send", b"220 slow.example ready\r\n"),
        ("expect", b"NOOP\r\n"),
        ("sleep", 1.5),
        ("send", b"250 late but here\r\n"),
        ("expect", b"QUIT\r\n"),
        ("send", b"221 bye\r\n"),
        ("close",),
    ]
    with ScriptedServer(script) as server, running_shell(f"smtp://{server.url_host}") as sh:
        sh.expect(r"^S: 220 ")
        sh.line("NOOP")
        sh.expect(r"^C: NOOP$")
        sh.type("\x03")  # Ctrl-C while waiting
        sh.expect(r"stopped waiting")
        sh.expect(r"^S: 250 late but here$")  # shown when it comes
        sh.line("QUIT")
        sh.expect(r"^S: 221 bye$")
        assert sh.wait_exit() == 0


def test_server_close_offers_reconnect() -> None:
    script = [
        ("send", b"220 ready\r\n"),
        ("expect", b"NOOP\r\n"),
        ("send", b"421 shutting down\r\n"),
        ("close",),
    ]
    with ScriptedServer(script) as server, running_shell(f"smtp://{server.url_host}") as sh:
        sh.expect(r"^S: 220 ")
        sh.line("NOOP")
        sh.expect(r"^S: 421 shutting down$")
        sh.expect(
            r"the connection is closed: :reconnect to connect again, :quit or Ctrl-D to leave"
        )
        sh.line("NOOP")
        sh.expect(r"not connected: :reconnect")
        sh.type("\x04")  # Ctrl-D
        assert sh.wait_exit() == 0


def test_a_reset_after_complete_answers_is_a_close_with_a_warning() -> None:
    """A server that closes with our bytes unread makes its kernel send a reset (a student's
    lab server does): when every answer had arrived, nothing was lost, so it is a close,
    said as a warning, not a network error."""
    script = [
        ("send", b"220 ready\r\n"),
        ("expect", b"NOOP\r\n"),
        ("send", b"250 ok\r\n"),
        ("sleep", 0.3),
        ("reset",),
    ]
    with ScriptedServer(script) as server, running_shell(f"smtp://{server.url_host}") as sh:
        sh.expect(r"^S: 220 ready$")
        sh.line("NOOP")
        sh.expect(r"^S: 250 ok$")
        sh.expect(r"^# connection reset by 127\.0\.0\.1:\d+, after its answers were complete$")
        sh.expect(r"the connection is closed: :reconnect to connect again")
        assert "response incomplete" not in sh.text
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_connection_refused_is_one_line_and_exit_3() -> None:
    from tests.integration.servers import free_port

    with running_shell(f"smtp://127.0.0.1:{free_port()}") as sh:
        assert sh.wait_exit() == 3
        assert "connection refused" in sh.err.snapshot()


def test_protocol_error_from_the_server_is_reported_at_the_prompt() -> None:
    script = [
        ("send", b"220 ready\r\n"),
        ("sleep", 0.5),
        ("send", b"this is not SMTP\r\n"),  # unsolicited, while the prompt is shown
        ("sleep", 2),
    ]
    with ScriptedServer(script) as server, running_shell(f"smtp://{server.url_host}") as sh:
        sh.expect(r"^S: 220 ready$")
        sh.expect(r"protocol error from server: not an SMTP reply line")
        sh.expect(r"the connection is closed: :reconnect")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_a_paste_of_several_lines_is_sent_line_by_line(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.type("\x1b[200~EHLO pasted\nNOOP\n:explain 250\x1b[201~\r")  # bracketed paste
        sh.expect(r"^C: EHLO pasted$")
        sh.expect(r"^S: 250 ")
        sh.expect(r"^C: NOOP$")
        sh.expect(r"^S: 250 ")
        sh.expect(r"^250: requested mail action okay")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_history_is_kept_per_protocol_and_ctrl_r_finds_it(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.line("EHLO remembered.example")
        sh.expect(r"^S: 250 ")
        sh.line("NOOP")
        sh.expect(r"^S: 250 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        sh.settle(0.5)  # the history file loads in the background
        sh.type("\x12EHLO rem")  # Ctrl-R, then the search text
        sh.settle(0.2)
        sh.type("\r")  # accept the found line into the buffer
        sh.settle(0.2)
        sh.type("\r")  # and send it
        sh.expect(r"^C: EHLO remembered\.example$")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_long_message_pasted_after_data_is_cut_on_screen_but_sent_whole(smtp_server: SMTPServer, tmp_path: Path) -> None:
    record = tmp_path / "data.txt"
    text = [f"line {i}" for i in range(2000)] + [".dot"]
    with running_shell(smtp_server.url, "--max-lines", "4", "--record", str(record)) as sh:
        sh.expect(r"^S: 220 ")
        envelope(sh)
        sh.line("DATA")
        sh.expect(r"^S: 354 ")
        sh.type("\x1b[200~" + "\n".join([*text, "."]) + "\x1b[201~")  # pasted (bracketed paste)
        sh.line("")
        sh.expect(r"^C: <client sends 2001 lines \(\d+ octets\) of message text: first 4 lines shown \(--max-lines\)>$")
        sh.expect(r"^C: \.$")
        sh.expect(r"^S: 250 OK message accepted")
        sh.line("QUIT")
        assert sh.wait_exit() == 0
        assert "C: line 3" in sh.text and "C: line 4\n" not in sh.text
    got = smtp_server.wait_for_messages(1)[0]
    assert got.data.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n") == [t.encode() for t in text]
    recorded = record.read_text(encoding="utf-8")
    assert all(f"C: {t}\n" in recorded for t in text)


def test_pipeline_does_not_queue_the_message_after_354() -> None:
    """Against Postfix: :pipeline, MAIL, RCPT, DATA, :go, then the message. Its lines were
    queued as commands, the empty line between header and body sent the queue, and the
    final '.' stayed queued: the server waited for the end of the message for ever."""
    script = [
        ("send", b"220 mx ESMTP\r\n"),
        ("expect", b"EHLO me\r\n"),
        ("send", b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        ("expect", b"DATA\r\n"),
        ("send", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"),
        ("expect", b"\r\n.\r\n"),
        ("send", b"250 2.0.0 Ok: queued as 1\r\n"),
        ("expect", b"QUIT\r\n"),
        ("send", b"221 2.0.0 Bye\r\n"),
        ("close",),
    ]
    with ScriptedServer(script) as server, running_shell(f"smtp://{server.url_host}") as sh:
        sh.expect(r"^S: 220 ")
        sh.line("EHLO me")
        sh.expect(r"^S: 250 CHUNKING")
        sh.line(":pipeline")
        sh.expect(r"pipeline on")
        for line in ("MAIL FROM:<a@b.c>", "RCPT TO:<root@localhost>", "DATA", ":go"):
            sh.line(line)
        sh.expect(r"^S: 354 ")
        for line in ("Subject: pipelined", "", "body", "."):
            sh.line(line)
        sh.expect(r"^S: 250 2\.0\.0 Ok: queued as 1$")
        sh.line(":pipeline off")
        sh.line("QUIT")
        sh.expect(r"^S: 221 ")
        assert sh.wait_exit() == 0
    assert b"DATA\r\nSubject: pipelined\r\n\r\nbody\r\n.\r\n" in server.received


def test_ctrl_d_inside_the_message_says_what_ends_it(smtp_server: SMTPServer) -> None:
    """Unix mail ends a message with Ctrl-D: in DATA the shell left at once, silently,
    and the message was never delivered. Now the first Ctrl-D says that a lone '.'
    ends the message; the user can go on and send it (a second Ctrl-D leaves)."""
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        envelope(sh)
        sh.line("DATA")
        sh.expect(r"^S: 354 ")
        sh.line("Subject: hi")
        sh.line("")
        sh.line("body")
        sh.type("\x04")  # Ctrl-D
        sh.expect(r"Ctrl-D does not end the message: a line holding only '\.' does")
        sh.line(".")
        sh.expect(r"^S: 250 OK message accepted")
        sh.line("DATA")
        sh.expect(r"^S: 503")  # no envelope for a second message: still answered
        sh.line("QUIT")
        sh.expect(r"^S: 221 ")
        assert sh.wait_exit() == 0
    (msg,) = smtp_server.wait_for_messages(1)
    assert msg.data == b"Subject: hi\r\n\r\nbody\r\n"


def test_ctrl_d_twice_inside_the_message_leaves(smtp_server: SMTPServer) -> None:
    with running_shell(smtp_server.url) as sh:
        sh.expect(r"^S: 220 ")
        envelope(sh)
        sh.line("DATA")
        sh.expect(r"^S: 354 ")
        sh.type("\x04")
        sh.expect(r"Ctrl-D does not end the message")
        sh.type("\x04")
        assert sh.wait_exit() == 0


def test_a_recording_that_fills_the_disk_stops_and_the_connection_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`:record` on a disk that fills: one line says the recording stopped,
    the next command still gets its answer.  The recorder's OSError ended
    the connection ("protocol error ... OSError")."""
    import io

    from protoshell.recorder import Recorder

    class FillingDisk(io.StringIO):
        def flush(self) -> None:
            if self.tell() > 300:
                raise OSError(28, "No space left on device")

    def open_on_full_disk(path: str, target: object, **kwargs: object) -> Recorder:
        recorder = Recorder.to_stream(FillingDisk(), target, **kwargs)  # type: ignore[arg-type]
        recorder.path = path
        return recorder

    monkeypatch.setattr(Recorder, "open", open_on_full_disk)
    record = tmp_path / "session.txt"
    script = [
        ("send", b"220 hi\r\n"),
        ("expect", b"EHLO"),
        ("send", b"250-a line of the reply\r\n" * 30 + b"250 OK\r\n"),
        ("expect", b"NOOP"),
        ("send", b"250 still here\r\n"),
        ("expect", b"QUIT"),
        ("send", b"221 bye\r\n"),
    ]
    with ScriptedServer(script) as srv, running_shell(f"smtp://{srv.url_host}") as sh:
        sh.expect(r"^S: 220 ")
        sh.line(f":record {record}")
        sh.expect(r"recording to")
        sh.line("EHLO me")
        sh.expect(rf"^# cannot write the recording {re.escape(repr(str(record)))}: No space left on device; recording stopped")
        sh.line("NOOP")
        sh.expect(r"^S: 250 still here")
        sh.line("QUIT")
        assert sh.wait_exit() == 0
