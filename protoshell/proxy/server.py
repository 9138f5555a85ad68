"""The listening side of ``protoshell proxy``: accept, number, watch, record.

Every accepted client becomes a ``ProxyConnection`` with its own renderer
(the shell's ``ExchangeRenderer``, so the view looks like the shell's) and,
with ``--record`` (the first connection) or ``--record-dir`` (each one), its
own ``Recorder`` writing today's transcript notation.  While more than one
connection is open, every line on screen starts with its number.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..session import NoteLevel, Observer
from ..target import Target
from ..transport import Transport, listen
from .connection import LegOptions, ProxyConnection

if TYPE_CHECKING:
    from ..recorder import Recorder
    from ..render.console import ProtoConsole
    from ..render.exchange import ExchangeRenderer


@dataclass(slots=True)
class ViewOptions:
    max_lines: int = 200
    hex_view: bool = False
    record: str | None = None
    record_dir: str | None = None
    redact: bool = True
    loose_volatile: bool = False  # each recording's volatile text made * when it closes


class ProxyServer:
    def __init__(
        self,
        legs: LegOptions,
        view: ViewOptions,
        console: ProtoConsole,
        report: Callable[[str], None],
    ) -> None:
        self.legs = legs
        self.target: Target = legs.target
        self.view = view
        self.console = console
        self.report = report  # one line on stderr
        self.count = 0
        self.open: dict[int, tuple[ProxyConnection, ExchangeRenderer]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._record_taken = False

    @property
    def recorded(self) -> bool:
        """A connection went to ``--record``'s file."""
        return self._record_taken

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; the address actually bound.  Raises OSError."""
        self._server = await listen(host, port, self._accepted, tls_first=self.target.tls == "implicit")
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def _accepted(self, client: Transport) -> None:
        from ..render.exchange import ExchangeRenderer

        self.count += 1
        number = self.count
        renderer = ExchangeRenderer(self.console, max_lines=self.view.max_lines, hex_view=self.view.hex_view)
        observers: list[Observer] = [renderer]
        recorder, record_path = self._recorder(number)
        if recorder is not None:
            observers.append(recorder)
        conn = ProxyConnection(number, client, self.legs, observers, recorder, self._fault)
        self.open[number] = (conn, renderer)
        self._prefixes()
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # noqa: BLE001 - one connection must never stop the proxy
            self.report(f"connection {number}: {type(exc).__name__}: {exc}")
        finally:
            if recorder is not None and record_path is not None and self.view.loose_volatile:
                self._loosen(number, recorder, record_path)
            del self.open[number]
            self._prefixes()
            if task is not None:
                self._tasks.discard(task)

    def _fault(self, line: str, level: NoteLevel) -> None:
        del level
        self.report(line)

    def _prefixes(self) -> None:
        many = len(self.open) > 1
        for number, (_, renderer) in self.open.items():
            renderer.prefix = f"[{number}] " if many else ""

    def _recorder(self, number: int) -> tuple[Recorder | None, str | None]:
        from ..recorder import Recorder

        view = self.view
        if view.record_dir is not None:
            path = str(Path(view.record_dir) / f"{number:04d}.txt")
        elif view.record is not None and not self._record_taken:
            self._record_taken = True
            path = view.record
        else:
            return None, None
        try:
            recorder = Recorder.open(path, self.target, redact=view.redact)
        except OSError as exc:
            self.report(f"connection {number}: cannot write the recording {path!r}: {exc.strerror}")
            return None, None
        # smtplib's and curl's AUTH PLAIN, redacted, could not be replayed: as :auth it can.
        recorder.plain_auth_as_meta = True
        return recorder, path

    def _loosen(self, number: int, recorder: Recorder, path: str) -> None:
        """``--loose-volatile``: the closed recording's dates, ids, UIDVALIDITY
        and timings become ``*`` (replay.volatile), as ``--record`` does."""
        from ..replay.volatile import loosen_file

        recorder.close(hangup=True)  # a no-op when the connection closed it
        try:
            loosen_file(path)
        except OSError as exc:
            self.report(f"connection {number}: cannot rewrite the recording {path!r}: {exc.strerror}")

    async def serve(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set; then close every connection (recordings
        end with ``C: <client hangs up>``)."""
        await stop.wait()
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


class BatchedOutput:
    """The view's stream, written out at most every ``DELAY`` seconds.

    A proxy in the middle of a fast exchange would otherwise make one
    write system call per line it shows (two per SMTP command: more than
    the forwarding costs); a few milliseconds later is still live for a
    person.  ``flush`` (the renderer's, at each turn end) only schedules
    the write; ``flush_now`` does it.  Not thread-safe: one event loop."""

    DELAY = 0.005

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._parts: list[str] = []
        self._scheduled = False

    def write(self, text: str) -> int:
        self._parts.append(text)
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.DELAY, self.flush_now)
            except RuntimeError:  # no loop (at exit): at once
                self.flush_now()
        return len(text)

    def flush(self) -> None:
        """Deferred (see the class docstring)."""

    def flush_now(self) -> None:
        self._scheduled = False
        if self._parts:
            text, self._parts = "".join(self._parts), []
            self.stream.write(text)
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def rich_proxied_file(self) -> BatchedOutput:
        """rich's ``Console.file`` asks for this at every write; without it
        the question went through ``__getattr__`` to the stream and an
        AttributeError each time (a tenth of the view's cost)."""
        return self

    def __getattr__(self, name: str) -> object:  # encoding, fileno... for rich
        return getattr(self.stream, name)


def install_stop_signals(stop: asyncio.Event) -> None:
    """Ctrl-C and SIGTERM end the proxy cleanly (exit 0), not with a traceback."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
