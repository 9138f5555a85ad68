"""The interactive shell: prompt_toolkit wiring around ``runtime.Shell``.

``PromptSession.prompt_async()`` runs under ``patch_stdout(raw=True)``, so the
renderer (an observer of the session, fed by the background reader) prints
server data above the prompt, in colour, without garbling the line being
typed.  Everything else lives in small modules: completion (completer.py),
highlighting (lexer.py), keys (keys.py), meta-commands (meta.py), input modes
(input_modes.py), history (history.py), the toolbar (toolbar.py).

Waiting for a response: a fast answer (the usual case on a LAN) is awaited
without any prompt; a slow one shows a "waiting" prompt where Ctrl-C stops
waiting and typing ahead is kept for the next prompt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Iterator
from typing import IO, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style

from ..context import Environment
from ..proto.vocab import Vocabulary
from ..render.console import make_console
from ..session import SessionError
from ..status import ExitStatus, exit_for
from ..target import Target
from . import meta
from .completer import CompletionContext, ShellCompleter
from .history import open_history
from .input_modes import http_request_complete, http_request_hint, prompt_text, unfinished_message
from .keys import build_key_bindings
from .lexer import InputLexer, LexContext
from .meta import vocabulary_or_none
from .runtime import Shell
from .toolbar import ToolbarInfo, toolbar_fragments

QUICK_WAIT = 0.3  # seconds a response may take before the "waiting" prompt shows

STYLE = Style.from_dict(
    {
        "prompt": "bold ansicyan",
        "prompt.closed": "bold ansired",
        "prompt.message": "bold ansiyellow",
        "prompt.waiting": "italic ansibrightblack",
        "continuation": "ansibrightblack",
        "input.meta": "ansimagenta bold",
        "input.meta.unknown": "ansired underline",
        "input.command.identify": "ansiblue bold",
        "input.command.ask": "ansigreen bold",
        "input.command.answer": "ansiyellow bold",
        "input.command.goodbye": "ansimagenta bold",
        "input.unknown": "ansired",
        "input.tag": "ansibrightblack",
        "input.literal": "ansicyan bold",
        "input.variable": "ansicyan",
        "input.variable.unknown": "ansired",
        "input.header": "ansiblue",
        "input.stuffed": "reverse",
        "input.escape": "ansibrightblack",
        "bottom-toolbar": "noreverse bg:#262626 #d0d0d0",
        "toolbar": "",
        "toolbar.target": "bold",
        "toolbar.tls": "#5fd75f",
        "toolbar.insecure": "#ff5f5f bold",
        "toolbar.plain": "#d7af5f",
        "toolbar.state": "#87afd7",
        "toolbar.closed": "#ff5f5f bold",
        "toolbar.flag": "reverse",
    }
)


class _WaitDone:
    pass


class _Cancel:
    pass


class _ServerClosed:
    pass


WAIT_DONE, CANCEL, SERVER_CLOSED = _WaitDone(), _Cancel(), _ServerClosed()


class _CurrentStdout:
    """A file that writes to whatever ``sys.stdout`` is *now*: under
    patch_stdout that is the proxy that prints above the prompt."""

    encoding = "utf-8"

    def write(self, s: str) -> int:
        return sys.stdout.write(s)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return sys.__stdout__.fileno() if sys.__stdout__ is not None else 1


class ShellApp:
    """The prompt loop; implements runtime.UI."""

    def __init__(
        self,
        target: Target,
        args: argparse.Namespace,
        env: Environment,
        out: IO[str],
        banner: str | None,
    ) -> None:
        self.env = env
        self.banner = banner
        console = make_console(out, color=env.color(getattr(args, "no_color", False)))
        self.shell = Shell(target, args, console, self)
        self.waiting = False
        self._wait_cancelled = False
        self._pending_text = ""
        self._error_shown: BaseException | None = None
        self._eof_warned = False  # Ctrl-D inside a message: said once, the next one leaves
        self.prompt: PromptSession[Any] = PromptSession(
            history=open_history(target.protocol),
            completer=ShellCompleter(self._completion_context),
            lexer=InputLexer(self._lex_context),
            bottom_toolbar=self._toolbar,
            style=STYLE,
            include_default_pygments_style=False,
            multiline=True,
            key_bindings=build_key_bindings(
                should_accept=self._should_accept,
                is_waiting=lambda: self.waiting,
                cancel_wait=self._cancel_wait,
            ),
            prompt_continuation=self._continuation,
            complete_while_typing=False,
            refresh_interval=0.5,
            enable_suspend=True,
        )

    # -- contexts for the pure helpers -------------------------------------
    def _vocabulary(self) -> Vocabulary | None:
        return vocabulary_or_none(self.shell.protocol)

    def _completion_context(self) -> CompletionContext:
        return CompletionContext(
            protocol=self.shell.protocol,
            vocabulary=self._vocabulary(),
            facts=self.shell.facts(),
            meta=meta.specs(),
            variables=tuple(self.shell.variables),
            message_mode=self.shell.message_mode,
        )

    def _lex_context(self) -> LexContext:
        return LexContext(
            protocol=self.shell.protocol,
            vocabulary=self._vocabulary(),
            meta_names=tuple(meta.REGISTRY) + tuple(meta.ALIASES),
            variables=tuple(self.shell.variables),
            message_mode=self.shell.message_mode,
        )

    def _should_accept(self, text: str) -> bool:
        if self.shell.protocol != "http" or self.shell.message_mode:
            return True
        return http_request_complete(text)

    def _toolbar(self) -> StyleAndTextTuples:
        shell = self.shell
        session = shell.session
        transport = session.transport if session is not None else None
        flags: list[str] = []
        if shell.renderer.hex_view:
            flags.append("hex")
        if shell.timing:
            flags.append("timing")
        if shell.record_path:
            flags.append(f"rec {shell.record_path}")
        if shell.saver is not None:
            flags.append(f"save-body {shell.saver.path}")
        if shell.queue is not None:
            flags.append(f"pipeline {len(shell.queue)}")
        if shell.protocol == "http" and not shell.message_mode:
            hint = http_request_hint(self.prompt.default_buffer.text)
            if hint is not None:
                flags.append(hint)
        return toolbar_fragments(
            ToolbarInfo(
                target=shell.target.url,
                protocol=shell.protocol,
                tls=session.tls if session is not None else None,
                state=shell.state_text(),
                bytes_in=transport.bytes_in if transport is not None else 0,
                bytes_out=transport.bytes_out if transport is not None else 0,
                rtt=session.last_rtt if session is not None else None,
                flags=tuple(flags),
                closed=shell.closed,
            ),
            width=self._columns(),
        )

    def _columns(self) -> int | None:
        """The terminal's width, for the toolbar to fit (None: unknown)."""
        try:
            return int(self.prompt.app.output.get_size().columns)
        except (OSError, ValueError, AttributeError):  # never break the toolbar
            return None

    def _message(self) -> StyleAndTextTuples:
        shell = self.shell
        text = prompt_text(
            shell.protocol,
            message_mode=bool(getattr(shell.framer, "in_data", False)),
            literal_left=shell.literal_left,
            queued=len(shell.queue) if shell.queue is not None else None,
            closed=shell.closed,
            waiting=self.waiting,
            idling=bool(getattr(shell.framer, "idling", False)),
            command_continues=getattr(shell.framer, "command_continues", False) is True,
        )
        if self.waiting:
            style = "class:prompt.waiting"
        elif shell.closed:
            style = "class:prompt.closed"
        elif shell.message_mode:
            style = "class:prompt.message"
        else:
            style = "class:prompt"
        return [(style, text)]

    def _continuation(self, width: int, line_number: int, wrap_count: int) -> StyleAndTextTuples:
        return [("class:continuation", "...> ".rjust(width))]

    # -- runtime.UI ------------------------------------------------------------
    def _cancel_wait(self) -> None:
        self._wait_cancelled = True
        app = self.prompt.app
        if app.is_running:
            app.exit(result=CANCEL)

    @contextlib.contextmanager
    def _sigint_cancels(self, task: asyncio.Future[Any]) -> Iterator[None]:
        """Between prompts the terminal is in cooked mode: Ctrl-C is SIGINT."""
        loop = asyncio.get_running_loop()

        def on_sigint() -> None:
            self._wait_cancelled = True
            task.cancel()

        previous = signal.getsignal(signal.SIGINT)
        try:
            loop.add_signal_handler(signal.SIGINT, on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            yield  # not the main thread (tests): Ctrl-C comes as a key only
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)  # asyncio.run's own handler

    async def wait(self, awaitable: Awaitable[Any]) -> bool:
        task = asyncio.ensure_future(awaitable)
        self._wait_cancelled = False
        with self._sigint_cancels(task):
            await asyncio.wait({task}, timeout=QUICK_WAIT)
        if not task.done() and not self._wait_cancelled:
            await self._waiting_prompt(task)
        if not task.done():
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not self._wait_cancelled:
                raise
        if self._wait_cancelled and (task.cancelled() or not task.done()):
            self.shell.note("stopped waiting; a late response is still shown when it comes")
            return False
        return True

    async def _waiting_prompt(self, task: asyncio.Future[Any]) -> None:
        app = self.prompt.app
        active = True

        def finish(_: object) -> None:
            if active and self.waiting and app.is_running:
                app.exit(result=WAIT_DONE)

        def pre_run() -> None:
            if task.done():
                app.exit(result=WAIT_DONE)
            else:
                task.add_done_callback(finish)

        self.waiting = True
        app.erase_when_done = True
        try:
            result = await self.prompt.prompt_async(
                self._message, default=self._take_pending(), pre_run=pre_run
            )
        except KeyboardInterrupt:
            result = CANCEL
        except EOFError:
            self.shell.quit_requested = True
            result = CANCEL
        finally:
            active = False
            self.waiting = False
            app.erase_when_done = False
            self._pending_text = self.prompt.default_buffer.text
        if result is CANCEL:
            self._wait_cancelled = True
            task.cancel()

    def _take_pending(self) -> str:
        text, self._pending_text = self._pending_text, ""
        return text

    async def ask_password(self, prompt: str) -> str | None:
        asker: PromptSession[str] = PromptSession(history=InMemoryHistory())
        try:
            return await asker.prompt_async(prompt, is_password=True)
        except (KeyboardInterrupt, EOFError):
            return None

    def connection_closed(self) -> None:
        app = self.prompt.app
        if app.is_running and not self.waiting:
            self._pending_text = self.prompt.default_buffer.text
            app.exit(result=SERVER_CLOSED)

    # -- the loop ----------------------------------------------------------------
    def _report_close(self) -> bool:
        """Say once that the connection is closed; True when the shell should end."""
        shell = self.shell
        if not shell.closed or shell.close_reported:
            return False
        shell.close_reported = True
        error = shell.session.error if shell.session is not None else None
        if error is not None and error is not self._error_shown:
            shell.error(str(error))
        if shell.ended_by_goodbye():
            return True
        if shell.protocol == "http":
            shell.note(
                "the connection is closed; the next request reconnects (:quit or Ctrl-D leaves)"
            )
        else:
            shell.warn(
                "the connection is closed: :reconnect to connect again, :quit or Ctrl-D to leave"
            )
        return False

    async def run(self) -> int:
        shell = self.shell
        if self.banner:
            shell.note(self.banner)
        for flag, start in (("record", shell.start_recording), ("save_body", shell.start_saving)):
            path = getattr(shell.args, flag, None)
            if path:
                try:
                    start(path)
                except OSError as exc:
                    self.env.error(
                        f"cannot write --{flag.replace('_', '-')} file {path!r}: {exc.strerror}"
                    )
                    await shell.close()
                    return ExitStatus.USAGE
        try:
            await shell.connect()
        except SessionError as exc:
            await shell.close()
            self.env.error(str(exc))
            return exit_for(exc.kind)
        shell.note(":help lists commands, Tab completes, Ctrl-D or :quit leaves")
        watcher = asyncio.create_task(self._watch_close())
        try:
            return await self._loop()
        finally:
            watcher.cancel()
            await shell.close()

    async def _watch_close(self) -> None:
        """A connection can also end without a note (a protocol error from
        the server, a reset): notice it within a moment even at the prompt."""
        while True:
            await asyncio.sleep(0.25)
            if self.shell.closed and not self.shell.close_reported:
                self.connection_closed()

    async def _loop(self) -> int:
        shell = self.shell
        while not shell.quit_requested:
            if self._report_close():
                break
            try:
                text = await self.prompt.prompt_async(self._message, default=self._take_pending())
            except KeyboardInterrupt:
                if shell.queue:
                    shell.note(f"dropped {len(shell.queue)} queued command(s)")
                    shell.queue = []
                continue
            except EOFError:
                warning = unfinished_message(shell.framer)
                if warning is not None and not self._eof_warned:
                    self._eof_warned = True
                    shell.note(warning)
                    continue
                break
            self._eof_warned = False
            if not isinstance(text, str):
                continue  # the server closed the connection while we were typing
            try:
                await shell.handle(text)
            except SessionError as exc:
                self._error_shown = exc
                shell.error(str(exc))
        return ExitStatus.OK


def run_shell(
    target: Target, args: argparse.Namespace, env: Environment, *, banner: str | None = None
) -> int:
    """Open the interactive shell on ``target``; returns the exit code.

    Server data is printed to ``env.stdout``; when that is the real stdout it
    is patched (``patch_stdout(raw=True)``) so output appears above the prompt.
    """
    interactive = env.stdout is sys.stdout or env.stdout is sys.__stdout__
    out: IO[str] = _CurrentStdout() if interactive else env.stdout  # type: ignore[assignment]

    async def main() -> int:
        if interactive:
            with patch_stdout(raw=True):
                return await ShellApp(target, args, env, out, banner).run()
        return await ShellApp(target, args, env, out, banner).run()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        env.error("interrupted")
        return 130
