"""The shell's side of one connection: send what was typed, wait, reconnect.

``Shell`` owns the ``Session`` and the observers around it (the renderer, a
display filter that redacts ``:auth`` secrets and prints timings, the HTTP
path learner, a recorder and a body saver when asked).  It knows nothing of
prompt_toolkit: waiting and password prompts go through the small ``UI``
interface that ``app.py`` implements, so tests can drive it with a fake UI.
Nothing here parses protocol bytes: framers do, and the shell reads what
they publish (``pending``, ``in_data``, ``ResponseEnd.outcome``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from ..proto.base import ResponseEnd, empty_line_is_content
from ..render.exchange import ExchangeRenderer
from ..session import Exchange, Session, SessionError
from ..target import Target
from ..transcript.escape import escape_line, unescape_line
from .facts import PathLearner, learned_facts
from .input_modes import (
    MetaLine,
    classify,
    split_http_request,
)
from .toolbar import framer_state

_VAR = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})")


class UI(Protocol):
    """What the shell needs from the terminal side."""

    async def wait(self, awaitable: Awaitable[Any]) -> bool:
        """Run ``awaitable`` while letting Ctrl-C stop the wait; True if it
        completed, False if the user stopped waiting."""

    async def ask_password(self, prompt: str) -> str | None:
        """A line read without echo; None when the user gave up (Ctrl-C/D)."""

    def connection_closed(self) -> None:
        """The server closed the connection (maybe while the prompt is shown)."""


def substitute_known(text: str, variables: dict[str, str]) -> str:
    """Replace ``$name`` / ``${name}`` for names that have a value; leave
    everything else exactly as typed (a ``$`` in a mail body is just a dollar).
    Values are kept in transcript notation, as transcript.variables wants."""
    if not variables or "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name in variables:
            return unescape_line(variables[name]).decode("utf-8", "surrogateescape")
        return m.group(0)

    return _VAR.sub(repl, text)


class DisplayFilter:
    """Observer in front of the renderer: shows ``:auth`` secrets redacted,
    and the round-trip time after each response when ``:timing`` is on."""

    def __init__(self, renderer: ExchangeRenderer, shell: Shell) -> None:
        self.renderer = renderer
        self.shell = shell
        self.secrets: dict[bytes, str] = {}

    def __call__(self, ex: Exchange) -> None:
        if ex.direction == "C" and ex.raw in self.secrets:
            # Shown, not escaped: the renderer would (rightly) escape a "<"
            # that the server or user sent; this marker is ours.
            text = Text("C: ", style="protoshell.prefix.client")
            text.append(self.secrets.pop(ex.raw), style="protoshell.note")
            self.shell.console.print(text)
            return
        self.renderer(ex)
        if (
            self.shell.timing
            and isinstance(ex.event, ResponseEnd)
            and self.shell.session is not None
            and self.shell.session.last_rtt is not None
        ):
            rtt = self.shell.session.last_rtt
            self.shell.console.print(Text(f"# {rtt * 1000:.1f} ms", style="protoshell.note"))


class Shell:
    """One interactive conversation (across reconnects)."""

    def __init__(
        self,
        target: Target,
        args: argparse.Namespace,
        console: Console,
        ui: UI,
    ) -> None:
        self.target = target
        self.args = args
        self.console = console
        self.ui = ui
        self.protocol = target.protocol
        self.renderer = ExchangeRenderer(
            console, max_lines=getattr(args, "max_lines", 200), hex_view=getattr(args, "hex", False)
        )
        self.display = DisplayFilter(self.renderer, self)
        self.paths = PathLearner()
        self.recorder: Any = None
        self.record_path: str | None = None
        self.saver: Any = None
        self._saver_reported = 0
        self.variables: dict[str, str] = {}
        self.timing = False
        self.queue: list[str] | None = None  # :pipeline on: lines waiting for :go
        self.http_body: bytes | None = None  # :send-file for the next HTTP request
        self.http_body_name = ""
        self.quit_requested = False
        self.last_phase = ""  # lecture phase of the last command sent
        self.last_end: ResponseEnd | None = None
        self.close_reported = False
        self.session: Session | None = None

    # -- output -----------------------------------------------------------
    def say(self, *lines: str, style: str = "") -> None:
        for line in lines:
            self.console.print(Text(line, style=style), soft_wrap=True)

    def note(self, text: str) -> None:
        self.say(f"# {text}", style="protoshell.note")

    def warn(self, text: str) -> None:
        self.say(f"# {text}", style="protoshell.note.warning")

    def error(self, text: str) -> None:
        self.say(f"# {text}", style="protoshell.note.error")

    # -- connection -------------------------------------------------------
    def _new_session(self) -> Session:
        return Session(
            self.target,
            timeout=getattr(self.args, "timeout", 10.0),
            insecure=getattr(self.args, "insecure", False),
            cafile=getattr(self.args, "cafile", None),
        )

    def _observers(self) -> list[Callable[[Exchange], None]]:
        obs: list[Callable[[Exchange], None]] = [self.display, self.paths, self._watch]
        if self.saver is not None:
            obs.append(self.saver)
        if self.recorder is not None:
            obs.append(self.recorder)
        return obs

    async def connect(self) -> None:
        """Open a session and wait for the greeting.  Raises SessionError."""
        session = self._new_session()
        self.session = session
        for obs in self._observers():
            session.subscribe(obs)
        self.close_reported = False
        self.last_phase = ""
        await session.open()
        await self.wait()

    async def reconnect(self) -> None:
        await self.disconnect()
        if self.recorder is not None:
            self.recorder.reconnected()
        await self.connect()

    async def disconnect(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def close(self) -> None:
        """Leave: hang up, and finish the recording (which notes the hang-up)."""
        await self.disconnect()
        self.stop_recording(hangup=True)
        self.stop_saving()

    @property
    def closed(self) -> bool:
        return self.session is None or self.session.closed

    @property
    def framer(self) -> Any:
        return self.session.framer if self.session is not None else None

    @property
    def literal_left(self) -> int | None:
        """Octets of an IMAP literal still owed by the user, as the framer
        counts them (it alone applies the rule), else None."""
        left = getattr(self.framer, "literal_remaining", None)
        return left if isinstance(left, int) else None

    @property
    def message_mode(self) -> bool:
        """The next line is message text, not a command (SMTP DATA, a literal)."""
        return self.literal_left is not None or bool(getattr(self.framer, "in_data", False))

    def facts(self) -> dict[str, tuple[str, ...]]:
        return learned_facts(self.framer, self.paths.paths)

    def state_text(self) -> str:
        return framer_state(self.framer)

    def _watch(self, ex: Exchange) -> None:
        if isinstance(ex.event, ResponseEnd):
            self.last_end = ex.event
            self._report_saved()
        if ex.direction == "note" and self.session is not None and self.session.closed:
            self.ui.connection_closed()

    def ended_by_goodbye(self) -> bool:
        """The server closed after we said goodbye (QUIT, LOGOUT): leave."""
        return (
            self.closed
            and self.last_phase == "goodbye"
            and self.session is not None
            and self.session.error is None
        )

    # -- waiting ----------------------------------------------------------
    async def wait(self) -> bool:
        """Wait for every awaited response; Ctrl-C stops waiting.  A timeout
        is reported and the session stays usable."""
        session = self.session
        if session is None or session.closed or not session.framer.pending:
            return True
        try:
            return await self.ui.wait(
                session.wait_turn(timeout=getattr(self.args, "timeout", 10.0))
            )
        except SessionError as exc:
            if exc.kind == "timeout":
                self.warn(f"{exc}; still listening: a late response is shown when it comes")
                return False
            raise

    # -- sending ----------------------------------------------------------
    def _require_session(self) -> Session:
        if self.session is None or self.session.closed:
            raise SessionError(
                "closed", "not connected: :reconnect to connect again, :quit to leave"
            )
        return self.session

    def _remember_phase(self, line: bytes) -> None:
        from ..proto import vocabulary_for

        words = line.split()
        if not words:
            return
        try:
            vocab = vocabulary_for(self.protocol)
        except (ImportError, AttributeError, ValueError):
            return
        for word in words[:3]:  # the command may follow an IMAP tag / UID
            cmd = vocab.command(word.decode("utf-8", "replace"))
            if cmd is not None:
                self.last_phase = cmd.phase
                return

    async def send_line(self, line: bytes, *, secret: str | None = None) -> None:
        session = self._require_session()
        if secret is not None:
            self.display.secrets[line + b"\r\n"] = secret  # what framer.send() will write
        if not getattr(session.framer, "in_data", False) and self.literal_left is None:
            self._remember_phase(line)
        await session.send_line(line)

    async def send_raw(self, data: bytes) -> None:
        session = self._require_session()
        await session.send_raw(data)

    async def handle(self, text: str) -> None:
        """One accepted input: a meta-command, or lines for the server."""
        from . import meta

        if "\n" in text and self.protocol != "http":
            # A paste of several lines: each is one input, in order, each
            # sent after the previous response (as in pipe mode).
            for line in text.split("\n"):
                await self.handle(line)
                if self.quit_requested or (self.closed and self.session is not None):
                    break
            return
        entry = classify(text)
        if isinstance(entry, MetaLine):
            await meta.dispatch(self, entry.name, entry.arg)
            return
        line = entry.text
        if line == "" and self.queue is None and not self._empty_line_is_content():
            return  # Enter on an empty prompt: a fresh prompt, as in a terminal
        # Message text (after SMTP's 354, an IMAP literal or BDAT chunk) is
        # never queued: RFC 2920 3.1 makes DATA the last command of a group,
        # and the message's empty line is content, not the "send" signal.  It
        # was queued, its blank line flushed the queue, and its final "."
        # stayed queued: the server waited for the end of the message.
        if self.queue is not None and not self.message_mode:
            if line.strip() == "":
                await self.flush_queue()
            else:
                self.queue.append(line)
            return
        await self.send_text(line)

    def _empty_line_is_content(self) -> bool:
        """Whether an empty line typed now means something to the server.

        Inside a message (SMTP DATA, a literal, a BDAT chunk), the rest of an
        IMAP command, or an answer to a challenge (334, ``+``: an empty SASL
        response) it does.  Elsewhere it is no command: pressing Enter for a
        fresh prompt, a newcomer's habit, sent CRLF and earned ``500``,
        ``-ERR`` or ``* BAD``, and Dovecot's login process hangs up after
        three of those (pipe mode already skipped them)."""
        last = self.last_end.outcome if self.last_end is not None else None
        return self.protocol == "http" or empty_line_is_content(self.framer, last)

    async def flush_queue(self) -> None:
        queued, self.queue = self.queue or [], ([] if self.queue is not None else None)
        if not queued:
            self.note("the pipeline is empty")
            return
        self.note(f"sending {len(queued)} queued command(s) at once")
        for text in queued:
            await self._send_one(text, wait=False)
        await self.wait()

    async def send_text(self, text: str) -> None:
        """One input for the server: a line, or (HTTP) a whole request."""
        await self._send_one(text, wait=True)

    async def _send_one(self, text: str, *, wait: bool) -> None:
        text = substitute_known(text, self.variables)
        if self.protocol == "http":
            await self._send_http(text, wait=wait)
            return
        line = text.encode("utf-8", "surrogateescape")
        if self.literal_left is not None:
            # IMAP literal octets: the framer sends them (CRLF or not) and counts.
            await self.send_line(line)
            return
        await self.send_line(line)
        if getattr(self.framer, "awaiting_continuation", False):
            # RFC 9051 4.3: a synchronizing literal waits for "+" (or a
            # refusal) before its octets; then the prompt asks for them.
            await self.wait()
            return
        if self.literal_left is not None:
            return  # LITERAL+ ({n+}): the octets follow at once
        if wait:
            await self.wait()

    async def send_literal_data(self, data: bytes) -> None:
        """A whole literal at once (``:send-file``): exactly the bytes, no CRLF."""
        assert self.literal_left == len(data)
        await self.send_raw(data)

    async def _send_http(self, text: str, *, wait: bool) -> None:
        if not text.strip() and self.http_body is None:
            return
        head, body = split_http_request(text)
        if not head:
            return
        if self.http_body is not None:
            body, self.http_body = self.http_body, None
            self.note(f"body: {self.http_body_name} ({len(body)} octets)")
        if self.session is not None and self.session.said_goodbye and not self.closed:
            await self.session.let_server_hang_up()
        if self.closed or (self.session is not None and self.session.spent):
            self.note("the server had closed the connection; reconnecting")
            await self.reconnect()
        await self._require_session().send_request(head, body)
        if wait:
            await self.wait()

    # -- recording and saving --------------------------------------------
    def start_recording(self, path: str) -> None:
        from ..recorder import Recorder

        self.stop_recording()
        session = self.session
        connected = session is not None and not session.closed
        # Nothing sent yet (":record" right after the greeting): the file can
        # start at the connect, with the greeting, and so replays as it is.
        fresh = connected and session is not None and getattr(session.transport, "bytes_out", 1) == 0
        recorder = Recorder.open(
            path,
            self.target,
            redact=not getattr(self.args, "no_redact", False),
            mid_session=connected and not fresh,
        )
        if fresh and session is not None:
            for ex in session.last_response:
                recorder(ex)
        recorder.on_error = self._recording_failed
        self.recorder = recorder
        self.record_path = path
        if self.session is not None:
            self.session.subscribe(recorder)

    def _recording_failed(self, message: str) -> None:
        """The disk filled: the recording stops (what fit stays in the file),
        the connection does not."""
        self.error(f"{message}; recording stopped, the connection goes on")

    def stop_recording(self, *, hangup: bool = False) -> str | None:
        if self.recorder is None:
            return None
        if self.session is not None:
            self.session.unsubscribe(self.recorder)
        self.recorder.close(hangup=hangup)
        path, self.recorder, self.record_path = self.record_path, None, None
        if path is not None and getattr(self.args, "loose_volatile", False):
            from ..replay.volatile import loosen_file

            loosen_file(path)
        return path

    def start_saving(self, path: str) -> None:
        from ..save_body import BodySaver

        self.stop_saving()
        open(path, "wb").close()  # fail now, not at the first chunk
        self.saver = BodySaver(path)
        self._saver_reported = 0
        if self.session is not None:
            self.session.subscribe(self.saver)

    def stop_saving(self) -> str | None:
        if self.saver is None:
            return None
        if self.session is not None:
            self.session.unsubscribe(self.saver)
        self.saver.close()
        path, self.saver = self.saver.path, None
        return str(path)

    def _report_saved(self) -> None:
        saver = self.saver
        if saver is not None and saver.saved and saver.saved != self._saver_reported:
            self._saver_reported = saver.saved
            self.note(f"saved {saver.saved} octets to {saver.path}")

    # -- variables ----------------------------------------------------------
    def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = escape_line(value.encode("utf-8"))
