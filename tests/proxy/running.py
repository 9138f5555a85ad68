"""Run ``protoshell proxy`` in a thread of the test process, on a free port.

The proxy runs exactly as from the command line (``proxy_main`` with its
arguments), with its output in a StringIO; ``stop()`` does what Ctrl-C does
(sets the stop event) and returns the exit code.  Subprocess runs are for
what needs a real process (SIGINT, exit codes at start-up).
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protoshell.context import Environment
from protoshell.proxy.cli import proxy_main
from tests.integration.test_mail_targets import cli_env as mail_cli_env

START_TIMEOUT = 10.0
_LISTENING = re.compile(r"listening on (\S+):(\d+) -> ")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for ``python -m protoshell``: this checkout first, no colours."""
    return mail_cli_env(**{"NO_COLOR": "1", **extra})


def protoshell(*args: str, timeout: float = 30.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protoshell", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env=cli_env(),
        **kwargs,
    )


@dataclass
class RunningProxy:
    host: str
    port: int
    out: io.StringIO
    err: io.StringIO
    thread: threading.Thread
    loop: Any
    stop_event: Any
    rc: list[int] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.out.getvalue()

    def stop(self, timeout: float = 10.0) -> int:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(timeout)
        assert not self.thread.is_alive(), "the proxy did not stop"
        return self.rc[0]

    def wait_for(self, text: str, timeout: float = 5.0, *, count: int = 1, stderr: bool = False) -> str:
        """The output (or stderr) once it holds ``text`` ``count`` times
        (AssertionError after timeout)."""
        stream = self.err if stderr else self.out
        deadline = time.monotonic() + timeout
        while stream.getvalue().count(text) < count:
            assert time.monotonic() < deadline, f"{text!r} not in the proxy's output:\n{stream.getvalue()}"
            time.sleep(0.02)
        return stream.getvalue()


@contextlib.contextmanager
def running_proxy(target: str, *args: str, ca_dir: Path | str, tty: bool = False) -> Iterator[RunningProxy]:
    """``tty``: the view's output is a terminal (colours, unless --no-color)."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(),
        stdout=out,
        stderr=err,
        stdin_isatty=False,
        stdout_isatty=tty,
        no_color_env=not tty,
    )
    ready = threading.Event()
    box: dict[str, Any] = {}
    rc: list[int] = []

    def on_ready(loop: Any, stop: Any) -> None:
        box.update(loop=loop, stop=stop)
        ready.set()

    argv = [target, "--listen", "127.0.0.1:0", "--ca-dir", str(ca_dir), *args]

    def run() -> None:
        try:
            rc.append(proxy_main(argv, env=env, on_ready=on_ready))
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="proxy", daemon=True)
    thread.start()
    assert ready.wait(START_TIMEOUT), "the proxy did not start"
    assert "loop" in box, f"the proxy exited: rc={rc} stderr={err.getvalue()!r}"
    m = _LISTENING.search(out.getvalue())
    assert m is not None, out.getvalue()
    proxy = RunningProxy(m[1], int(m[2]), out, err, thread, box["loop"], box["stop"], rc)
    try:
        yield proxy
    finally:
        proxy.stop()
