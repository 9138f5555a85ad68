"""protoshell demo: typed-out lines, phases, the real answers; pace 0."""

from __future__ import annotations

from protoshell.server.control import EmbeddedServer

from .support import TRANSCRIPTS, LectureSMTP, demo


def test_demo_types_each_line_with_its_phase(lecture_smtp: LectureSMTP) -> None:
    lines_to_send = sum(1 for t in (TRANSCRIPTS / "smtp_lecture.txt").read_text().splitlines() if t.startswith("C: "))
    r = demo(str(TRANSCRIPTS / "smtp_lecture.txt"), "--target", lecture_smtp.url, "--pace", "0", stdin=b"\n" * lines_to_send)
    assert r.status == 0, r.out + r.err
    lines = r.out.splitlines()
    assert lines[1] == f"target: {lecture_smtp.url}"
    assert "C: EHLO bar.com   [identify]" in lines
    assert "C: MAIL FROM:<Smith@bar.com>   [ask]" in lines or any(
        line.startswith("C: MAIL FROM:<Smith@bar.com>   [") for line in lines
    )
    assert "C: QUIT   [goodbye]" in lines
    assert lines.count("C: EHLO bar.com") == 0  # typed once, with its phase, not echoed again
    assert "S: 550 No such user here" in lines  # the real answers
    assert "# SMTP (say goodbye)" in lines  # the lesson's comments as they come
    # One key per command: the message's three lines after DATA's 354 follow by themselves.
    assert r.out.count("[Enter: send line") == lines_to_send - 3
    assert "C: Blah blah blah..." in " ".join(lines) and "[Enter: send line 38" not in r.out


def test_demo_goes_on_after_a_difference_and_q_stops(tmp_path: object) -> None:
    with EmbeddedServer(TRANSCRIPTS.parent / "web") as server:
        r = demo(str(TRANSCRIPTS / "http_lab.txt"), "--target", server.url, "--pace", "0", "--no-wait", "--theme", "classroom")
        assert r.status == 0, r.out + r.err
        r = demo(str(TRANSCRIPTS / "http_lab.txt"), "--target", server.url, "--pace", "0", stdin=b"\nq\n")
        assert r.status == 1
        assert r.out.count("[Enter: send line") == 2


def test_demo_shows_the_imap_lecture_failure_and_continues(dovecot: object) -> None:
    from .support import lecture_message

    dovecot.deliver(lecture_message(), "frobozz")  # type: ignore[attr-defined]
    r = demo(str(TRANSCRIPTS / "imap_lecture.txt"), "--target", dovecot.imap_url, "--pace", "0", "--no-wait")  # type: ignore[attr-defined]
    assert r.status == 1
    assert "mismatch at" in r.out and "imap_lecture.txt:28" in r.out
    assert "C: A0006 LOGOUT   [goodbye]" in r.out.splitlines()  # it went on to the end


def test_demo_usage_errors_exit_2() -> None:
    r = demo(str(TRANSCRIPTS / "smtp_lecture.txt"), "--pace", "-1")
    assert r.status == 2 and "--pace" in r.err


def test_demo_on_a_terminal_takes_single_keys_and_restores_the_terminal(tmp_path: object) -> None:
    """In a real pseudo-terminal: a space (no Enter) sends the next line,
    ``q`` alone stops; the keys are not echoed onto the screen, and the
    terminal is back in line mode afterwards (``stty`` run after it in the
    same terminal says ``icanon echo``)."""
    import os
    import shlex
    import sys

    import pexpect

    with EmbeddedServer(TRANSCRIPTS.parent / "web") as server:
        command = shlex.join(
            [sys.executable, "-m", "protoshell", "demo", str(TRANSCRIPTS / "http_lab.txt"), "--target", server.url, "--pace", "0", "--timeout", "5"]
        )
        child = pexpect.spawn(
            "/bin/sh",
            ["-c", f"{command}; echo status=$?; stty -a"],
            cwd=str(TRANSCRIPTS.parent),
            env={**os.environ, "NO_COLOR": "1", "TERM": "xterm"},
            encoding="utf-8",
            codec_errors="replace",
            timeout=10,
            dimensions=(40, 160),
        )
        child.expect_exact("[Enter: send line")
        child.expect_exact("q: stop]")
        child.send("z")  # any key but q sends
        child.expect_exact("[Enter: send line")
        before = child.before
        child.expect_exact("q: stop]")
        child.send("q")
        child.expect(r"status=(\d+)")
        status = int(child.match.group(1))
        child.expect(pexpect.EOF)
        after = child.before
    assert status == 1  # stopped by the user
    assert "z" not in before.replace("\x1b", "").split("C: ")[0]  # the key was not echoed before the typed line
    # The answered prompt is taken off the screen (cursor up, erase the line), not left per step.
    assert before.lstrip("\r\n").startswith("\x1b[1A\r\x1b[2K"), repr(before[:40])
    assert " icanon " in f" {after} " and " echo " in f" {after} "


def test_demo_cuts_a_long_retr_at_max_lines(dovecot: object, tmp_path: object) -> None:
    from pathlib import Path

    message = b"Subject: long\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(3000))
    dovecot.deliver(message)  # type: ignore[attr-defined]
    lesson = Path(str(tmp_path)) / "retr.txt"
    lesson.write_text(
        f"# protoshell transcript · target: {dovecot.pop3_url}\n"  # type: ignore[attr-defined]
        "S: +OK\nC: USER bob\nS: +OK\nC: PASS redqueen\nS: +OK\nC: RETR 1\nS: +OK\nS: ...\nS: .\nC: QUIT\nS: +OK\n",
        encoding="utf-8",
    )
    r = demo(str(lesson), "--pace", "0", "--no-wait", "--max-lines", "4")
    assert r.status == 0, r.out[-2000:] + r.err
    lines = r.out.splitlines()
    assert len(lines) < 40, r.out[-2000:]
    assert "S: line 1" in lines and "S: line 2" not in lines  # 2 header lines, then 2 of the body
    assert f"S: <server sends 3002 lines ({len(message)} octets) of message text: first 4 lines shown (--max-lines)>" in lines


def test_demo_a_shorter_pop3_listing_is_one_difference(mail_services: object, tmp_path: object) -> None:
    """The lecture's POP3 lesson (two messages) against a maildrop of one:
    the LIST is one line short, said once, and the demo goes on in step."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", mail_services.smtp_port, timeout=10) as smtp:  # type: ignore[attr-defined]
        smtp.sendmail("smith@bar.com", ["bob@localhost"], "Subject: one\r\n\r\nhello\r\n")
    url = mail_services.urls()["pop3"]  # type: ignore[attr-defined]
    r = demo(str(TRANSCRIPTS / "offline" / "mail-pop3-lecture.txt"), "--target", url, "--pace", "0", "--no-wait")
    assert r.status == 1
    # LIST one line short, RETR 2 and DELE 2 refused: three differences, and
    # not their echoes ("the server sent nothing more" for the "." and the
    # message text the transcript has after them).
    assert r.out.count("mismatch at") == 3, r.out
    assert all(f"mail-pop3-lecture.txt:{n}" in r.out for n in (34, 43, 47))
    assert not any(f"mail-pop3-lecture.txt:{n}" in r.out for n in (35, 44, 45)), r.out
    assert "nothing more" not in r.out
    assert "fewer messages?" in r.out
    assert "C: QUIT   [goodbye]" in r.out.splitlines()
