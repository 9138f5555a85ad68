"""--step: the debugger's state machine (pure), and the plain-line stepper
driving a real replay from piped answers."""

from __future__ import annotations

from pathlib import Path

from protoshell.replay.engine import SEND, ClientContext, Decision
from protoshell.replay.step import StepMachine, format_raw

from .support import LectureSMTP, replay


def ctx(lineno: int = 3, text: str = "NOOP", last: tuple[bytes, ...] = ()) -> ClientContext:
    return ClientContext("f.txt", lineno, text, text.encode() + b"\r\n", "smtp", last, {"x": "1"}, b"", False)


def test_next_and_continue() -> None:
    m = StepMachine.create([3, 5, 9])
    assert m.should_stop(3)
    assert m.handle("", ctx()).decision == SEND  # Enter is next
    assert m.should_stop(5)
    assert m.handle("c", ctx()).decision == SEND
    assert not m.should_stop(9)


def test_breakpoints() -> None:
    m = StepMachine.create([3, 5, 9], breakpoints=[9], stepping=False)
    assert not m.should_stop(3) and m.should_stop(9)
    assert m.handle("b 5", ctx()).output == ("breakpoint at line 5",)
    assert m.should_stop(5)
    assert m.handle("b 5", ctx()).output == ("breakpoint at line 5 removed",)
    assert m.handle("b 6", ctx()).output == ("line 6 is not a C: line; breakpoint at line 9, the next one",)
    assert m.handle("b 10", ctx()).output == ("no C: line at or after line 10",)
    assert m.handle("b", ctx()).output == ("breakpoints: 9",)
    assert "usage" in m.handle("b x", ctx()).output[0]


def test_skip_quit_edit_vars_help() -> None:
    m = StepMachine.create([3])
    assert m.handle("s", ctx()).decision == Decision("skip")
    assert m.handle("quit", ctx()).decision == Decision("quit")
    assert m.handle("e", ctx()).ask_edit
    edited = m.handle("e  RSET  now", ctx())
    assert edited.decision == Decision("send", "RSET  now")
    assert m.edited(None, ctx()).decision is None
    assert m.edited("NOOP", ctx()).decision == SEND  # unchanged
    assert m.handle("v", ctx()).output == ("$x = 1",)
    assert any("skip" in line for line in m.handle("?", ctx()).output)
    assert m.handle("zap", ctx()).output == ("unknown command 'zap' (? for help)",)


def test_raw_shows_terminators_and_hex() -> None:
    out = format_raw((b"250-a\r\n", b"250 b\n"))
    assert out[:2] == ["S: 250-a\\r\\n", "S: 250 b\\n"]
    assert out[2] == "13 bytes; the first 13 in hex:"
    assert out[3].startswith("00000000  32 35 30 2d 61 0d 0a")
    assert format_raw(()) == ["(no response yet)"]


TRANSCRIPT = "S: 220 *\nC: EHLO me\nS: 250-*\nS: ...\nC: MAIL FROM:<Smith@bar.com>\nS: 250 OK\nC: NOOP\nS: 250 OK\nC: QUIT\nS: 221 *\n"


def test_step_through_a_pipe_raw_edit_skip(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    # line 2 EHLO: next; line 5 MAIL: show raw, then edit it; line 7 NOOP: skip; line 9: continue
    answers = b"n\nr\ne\nMAIL FROM:<Jones@foo.com>\ns\nc\n"
    r = replay(str(path), "--target", lecture_smtp.url, "--step", stdin=answers)
    assert r.status == 0, r.out + r.err
    out = r.out
    assert f"{path}:2 next: C: EHLO me" in out
    assert "S: 250 HELP\\r\\n" in out  # the raw view of the EHLO answer
    assert "sending instead: C: MAIL FROM:<Jones@foo.com>" in out
    lines = out.splitlines()
    assert "C: MAIL FROM:<Jones@foo.com>" in lines and "C: MAIL FROM:<Smith@bar.com>" not in lines
    assert "# line 7 skipped: C: NOOP" in lines and "# line 8 skipped: S: 250 OK" in lines
    assert "C: NOOP" not in lines
    assert "C: QUIT" in lines and out.count(" next: C:") == 4  # lines 2, 5, 7, 9


def test_quit_and_end_of_input_stop_with_1(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    r = replay(str(path), "--target", lecture_smtp.url, "--step", stdin=b"n\nq\n")
    assert r.status == 1
    assert "stopped by the user before" in r.err and f"{path}:5" in r.err
    r = replay(str(path), "--target", lecture_smtp.url, "--step", stdin=b"")
    assert r.status == 1 and "end of input: quitting" in r.out


def test_break_without_step_stops_only_there(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    r = replay(str(path), "--target", lecture_smtp.url, "--break", "7", stdin=b"c\n")
    assert r.status == 0, r.out + r.err
    assert f"{path}:7 next: C: NOOP" in r.out
    assert f"{path}:2 next" not in r.out and f"{path}:5 next" not in r.out


def test_a_bad_edit_is_asked_again(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    r = replay(str(path), "--target", lecture_smtp.url, "--break", "7", stdin=b"e NOOP $nope\nn\nc\n")
    assert r.status == 0, r.out + r.err
    assert "cannot send that: unknown variable $nope" in r.out
