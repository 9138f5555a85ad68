"""protoshell replay --step at a terminal: the prompt_toolkit stepper, driven
through a pipe input (create_pipe_input + DummyOutput) against aiosmtpd."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from protoshell.cli import _make_stepper
from protoshell.context import Environment
from protoshell.replay.cli_entry import replay_main
from protoshell.replay.step import LineStepper, StepMachine
from protoshell.shell.stepper import PromptStepper, make_stepper
from tests.replay.support import LectureSMTP, running_lecture_smtp

TRANSCRIPT = "S: 220 *\nC: EHLO me\nS: 250-*\nS: ...\nC: MAIL FROM:<Smith@bar.com>\nS: 250 OK\nC: NOOP\nS: 250 OK\nC: QUIT\nS: 221 *\n"
CTRL_U = "\x15"  # emacs mode: delete to the start of the line


@pytest.fixture
def lecture_smtp() -> Iterator[LectureSMTP]:
    with running_lecture_smtp() as server:
        yield server


def run_stepping(path: Path, url: str, keys: str, *extra: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(), stdout=out, stderr=err, stdin_isatty=True, stdout_isatty=False, no_color_env=True
    )
    result: list[int] = []
    with create_pipe_input() as pipe:
        pipe.send_text(keys)

        def run() -> None:
            with create_app_session(input=pipe, output=DummyOutput()):
                result.append(replay_main(
                        [str(path), "--target", url, "--timeout", "5", *extra], env=env, make_stepper=_make_stepper
                    ))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(20)
        assert not thread.is_alive(), "the stepper did not finish: " + out.getvalue()
    return result[0], out.getvalue(), err.getvalue()


def test_step_next_edit_continue(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    # line 2: next; line 5: edit (prefilled: wipe it, type another sender); line 7: continue
    keys = "n\r" + "e\r" + CTRL_U + "MAIL FROM:<Jones@foo.com>\r" + "c\r"
    status, out, err = run_stepping(path, lecture_smtp.url, keys, "--step")
    assert status == 0, out + err
    lines = out.splitlines()
    assert f"{path}:2 next: C: EHLO me" in lines
    assert "sending instead: C: MAIL FROM:<Jones@foo.com>" in lines
    assert "C: MAIL FROM:<Jones@foo.com>" in lines
    assert "C: MAIL FROM:<Smith@bar.com>" not in lines
    assert f"{path}:9 next: C: QUIT" not in lines  # "c" ran to the end
    assert "C: QUIT" in lines


def test_step_raw_then_quit(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    status, out, err = run_stepping(path, lecture_smtp.url, "n\r" + "r\r" + "q\r", "--step")
    assert status == 1
    assert "S: 250 HELP\\r\\n" in out  # the raw bytes of the EHLO answer
    assert "stopped by the user before" in err


def test_ctrl_d_quits(lecture_smtp: LectureSMTP, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(TRANSCRIPT)
    status, out, _ = run_stepping(path, lecture_smtp.url, "\x04", "--break", "5")
    assert status == 1
    assert f"{path}:5 next: C: MAIL FROM:<Smith@bar.com>" in out


def test_make_stepper_uses_the_prompt_only_at_a_terminal() -> None:
    machine = StepMachine.create([1])
    tty = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), stdin_isatty=True, stdout_isatty=False)
    pipe = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO(), stdin_isatty=False, stdout_isatty=False)
    assert isinstance(make_stepper(machine, tty, print), PromptStepper)
    assert isinstance(make_stepper(machine, pipe, print), LineStepper)
