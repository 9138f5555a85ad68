"""Drive the real shell (``run_shell``) from a test: pipe input, DummyOutput.

The shell runs in a thread with its own event loop and a prompt_toolkit app
session whose input is a pipe the test writes keys into; what the shell
prints (the ``C:``/``S:`` lines, notes, help) goes to a StringIO the test
reads with ``expect``, like pexpect but in-process.  Every wait has a
deadline, so a broken shell fails the test instead of hanging it.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from protoshell.cli import build_parser
from protoshell.context import Environment
from protoshell.target import parse_target

DEADLINE = 5.0


class _LockedIO(io.StringIO):
    """A StringIO safe to read from one thread while another writes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            return super().write(s)

    def snapshot(self) -> str:
        with self._lock:
            return self.getvalue()


class ShellDriver:
    def __init__(self, url: str, *extra: str, banner: str | None = None) -> None:
        self.args = build_parser().parse_args([url, "--timeout", "3", *extra])
        self.target = parse_target(url)
        if self.args.starttls:
            self.target = self.target.with_starttls()
        self.out = _LockedIO()
        self.err = _LockedIO()
        self.env = Environment(
            stdin=io.BytesIO(),
            stdout=self.out,
            stderr=self.err,
            stdin_isatty=True,
            stdout_isatty=False,
            no_color_env=True,
        )
        self.banner = banner
        self.code: int | None = None
        self.error: BaseException | None = None
        self._pos = 0
        self._thread: threading.Thread | None = None
        self._input_cm = create_pipe_input()
        self.input = self._input_cm.__enter__()

    def start(self) -> ShellDriver:
        from protoshell.shell.app import run_shell

        def run() -> None:
            try:
                with create_app_session(input=self.input, output=DummyOutput()):
                    self.code = run_shell(self.target, self.args, self.env, banner=self.banner)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.error = exc

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    # -- typing ------------------------------------------------------------
    def type(self, text: str) -> None:
        self.input.send_text(text)

    def line(self, text: str) -> None:
        """Type a line and Enter (CR, as a terminal sends it)."""
        self.input.send_text(text + "\r")

    # -- reading -------------------------------------------------------------
    @property
    def text(self) -> str:
        return self.out.snapshot()

    def expect(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """Wait for ``pattern`` (a regex) in the output after the last match."""
        rx = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            text = self.out.snapshot()
            m = rx.search(text, self._pos)
            if m is not None:
                self._pos = m.end()
                return m
            if self.error is not None:
                raise AssertionError(f"the shell died: {self.error!r}\n--- output:\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not seen within {timeout} s\n--- output since last match:\n"
                    f"{text[self._pos :]}\n--- stderr:\n{self.err.snapshot()}"
                )
            time.sleep(0.01)

    def settle(self, quiet: float = 0.3, timeout: float = DEADLINE) -> str:
        """Wait until no output arrived for ``quiet`` seconds; return the new text."""
        deadline = time.monotonic() + timeout
        last = self.out.snapshot()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.02)
            now = self.out.snapshot()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        new = last[self._pos :]
        self._pos = len(last)
        return new

    def wait_exit(self, timeout: float = DEADLINE) -> int:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError(f"the shell did not exit within {timeout} s\n{self.text[-2000:]}")
        if self.error is not None:
            raise AssertionError(f"the shell died: {self.error!r}")
        assert self.code is not None
        return self.code

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.input.send_text("\x04")  # Ctrl-D
            self._thread.join(2)
            if self._thread.is_alive():
                self.input.close()  # EOF on the pipe ends prompt_toolkit's read
                self._thread.join(2)
        self._input_cm.__exit__(None, None, None)


@contextmanager
def running_shell(url: str, *extra: str, banner: str | None = None) -> Iterator[ShellDriver]:
    driver = ShellDriver(url, *extra, banner=banner).start()
    try:
        yield driver
    finally:
        driver.close()
