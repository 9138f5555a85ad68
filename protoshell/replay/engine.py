"""Replay a transcript against a real server and check what comes back.

The engine walks the steps of a ``Transcript`` in order against a
``Session``:

- ``C: <client connects ...>`` connects (to the target, whatever port the
  narration names: the lecture's port 110 is the lecture's server);
  ``C: <client hangs up>`` closes.  A transcript that starts without a
  connect narration (a pasted lecture excerpt) connects at its first line.
- ``C:`` lines are sent as they come, without waiting, so consecutive ones
  are pipelined, as in the lecture's re-ordered IMAP exchange.  A ``C:``
  line that follows ``S:`` lines first waits for the server's turn to end;
  a server line still unchecked then is a mismatch (the transcript does not
  have it), unless an elision (``...``) came before.
- ``S:`` lines are checked in order against the lines as they arrive
  (``checker.Checker``); ``$name`` captures feed later ``C:`` lines.
- ``S: <server sends N octets ...>`` expects a payload, ``S: <server hangs
  up>`` expects the server to close, ``...`` skips server lines until the
  next expected one (or, before a ``C:`` line, to the end of the turn).
- ``:starttls``, ``:auth plain|login USER`` (the password from ``$password``),
  ``:sleep S``, ``:set NAME VALUE`` and ``:raw TEXT`` are performed; any
  other meta-command is refused (``check_transcript``) before connecting.

How a line is sent: text + CRLF goes through ``Session.send_line`` (so the
framer applies its rules: SMTP dot-stuffing in DATA, as the recorder
recorded the line before stuffing); anything else (a bare LF, no terminator:
an IMAP literal, an HTTP body) goes byte for byte through ``send_raw``.  An
HTTP/1.1 request head without ``Host`` gets one right after its request
line, by ``proto.http.complete_request``, as in pipe mode.

Everything the engine does is reported as ``ReplayEvent`` objects to one
callback, for a renderer; the session's Exchanges go to the observers given
(the exchange renderer), with secrets that came from ``$password`` shown as
``<redacted>``.

The engine's parts live in their own modules: results.py (options, events,
results), control.py (the ``--step`` hook), preflight.py (static checks
before connecting), early_send.py (what a batch run may send early), and
checker.py (does a server line match); their names are re-exported here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..auth import auth_dialogue
from ..proto.base import ConnectionClosed, Payload, ResponseEnd
from ..proto.base import ServerLine as WireLine
from ..session import Exchange, Observer, Session, SessionError
from ..status import ExitStatus, exit_for
from ..target import Target
from ..transcript.escape import REDACTED, escape_line, unescape_line
from ..transcript.model import ClientLine, Comment, Meta, Narration, ServerLine, Step, Transcript
from ..transcript.variables import (
    RedactedLineError,
    VariableError,
    is_redacted,
    substitute_bytes,
    variables_in,
)
from .checker import (
    ActualClose,
    ActualLine,
    ActualPayload,
    Checker,
    describe_actual,
    describe_expected,
)
from .control import SEND, ClientContext, Controller, Decision
from .early_send import EarlySend, wire_lines
from .preflight import (
    MAX_SLEEP,
    META_COMMANDS,
    PASSWORD_VARIABLE,
    ReplayUsageError,
    check_transcript,
    client_line_numbers,
    transcript_protocol,
)
from .results import Mismatch, ReplayEvent, ReplayOptions, ReplayResult

__all__ = [
    "MAX_SLEEP",
    "META_COMMANDS",
    "PASSWORD_VARIABLE",
    "SEND",
    "ClientContext",
    "Controller",
    "Decision",
    "Engine",
    "Mismatch",
    "ReplayEvent",
    "ReplayOptions",
    "ReplayResult",
    "ReplayUsageError",
    "check_transcript",
    "client_line_numbers",
    "transcript_protocol",
]

_RESPONSE_KEEP = 64 << 10  # bytes of the last response kept for --step's "raw"


class _Stop(Exception):
    """Stop walking the steps (a mismatch without --keep-going, or quit)."""


@dataclass(slots=True)
class _PayloadItem:
    size: int = 0
    total: int | None = None
    done: bool = False


_Item = ActualLine | _PayloadItem | ActualClose


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Engine:
    """One replay of one transcript against one target."""

    def __init__(
        self,
        transcript: Transcript,
        target: Target,
        options: ReplayOptions | None = None,
        *,
        report: Callable[[ReplayEvent], None] | None = None,
        controller: Controller | None = None,
        observers: Sequence[Observer] = (),
    ) -> None:
        self.transcript = transcript
        self.target = target
        self.options = options or ReplayOptions()
        self.protocol = target.protocol
        self.checker = Checker(self.protocol, strict=self.options.strict)
        self.variables: dict[str, str] = dict(self.options.variables)
        self.session: Session | None = None
        self.controller = controller
        self._report_fn = report
        self._observers = list(observers)
        self._queue: deque[_Item] = deque()
        self._open_payload: _PayloadItem | None = None
        self._close_seen = False
        self._waiter: asyncio.Future[bool] | None = None
        self._elision: Narration | None = None
        self._elided = 0
        self._elided_lines: list[ActualLine] = []  # what "..." skipped, for a mismatch
        self._reading = False
        self._quiet_turn = False  # waited ``settle`` in vain since the last exchange
        self._skip_answers = False
        # A mismatch since the last line sent: the transcript's further lines
        # of that answer which the server has no counterpart for (a listing
        # one line short, the message of a RETR answered -ERR) are its
        # consequences, skipped rather than each shown as one more mismatch.
        self._turn_mismatched = False
        self._last_end: ResponseEnd | None = None
        self._last_response: list[bytes] = []
        self._response_bytes = 0
        self._new_response = True
        self._command_line = b""
        self._shown: dict[bytes, bytes] = {}  # wire -> what observers see instead
        self.mismatches: list[Mismatch] = []
        self.checked = 0
        self.sent = 0
        # A batch run (nothing interactive: no --step controller) reads on
        # a blocking socket (Session(pull=True)) and holds its output back
        # from the moment an answer arrives until the next line is sent
        # (_flush), which keeps printing off the path from one answer to the
        # next command.  What is held is bounded by one read's events.
        self._batch = controller is None
        self._held: list[tuple[Callable[[Any], None], Any]] = []
        # A batch run also sends the next C: line as soon as the read that
        # ends the server's turn is framed, when the S: lines in between
        # match it and the line needs nothing from them (``_presend``).
        self._index = 0  # the step being performed
        self._expecting = -1  # the S: step waiting for the server, or -1
        # (early_send.py: its rules and what it has worked out of the steps)
        self._early_send = EarlySend(
            transcript.steps,
            self.checker,
            strict=self.options.strict,
            enabled=self._batch and self.protocol != "http",
        )
        self._explicit_starttls = any(
            (isinstance(step, Meta) and step.command == "starttls")
            or (isinstance(step, ClientLine) and self._early_send.starttls_line(step))
            for step in transcript.steps
        )

    # -- reporting --------------------------------------------------------
    def _report(self, event: ReplayEvent) -> None:
        if self._report_fn is not None:
            if self._batch:
                self._held.append((self._report_fn, event))
            else:
                self._report_fn(event)

    def _flush(self) -> None:
        """Print what a batch run held back: called after each send and
        before each wait, so the output is never behind while the server is
        thinking, and the work of printing overlaps the server's."""
        held = self._held
        if held:
            self._held = []
            for fn, item in held:
                fn(item)

    def _note(self, text: str, lineno: int = 0, level: Literal["info", "warning", "error"] = "info") -> None:
        self._report(ReplayEvent("note", lineno, text, level=level))

    def _mismatch(
        self,
        lineno: int,
        expected: str,
        actual: str,
        reason: str,
        expected_status: str | None = None,
        actual_status: str | None = None,
    ) -> None:
        m = Mismatch(self.transcript.source, lineno, expected, actual, reason, expected_status, actual_status)
        self._turn_mismatched = True
        self.mismatches.append(m)
        self._report(ReplayEvent("mismatch", lineno, mismatch=m))
        if not self.options.keep_going:
            raise _Stop

    # -- running ----------------------------------------------------------
    async def run(self) -> ReplayResult:
        """Replay every step; never raises for what a server does."""
        message = ""
        status = ExitStatus.OK
        try:
            steps = self.transcript.steps
            for index, step in enumerate(steps):
                self._index = index
                await self._step(index, step)
            await self._finish(steps[-1].lineno if steps else 0)
        except _Stop as stop:
            message = str(stop)
        except SessionError as exc:
            status = exit_for(exc.kind)
            message = str(exc)
        finally:
            try:
                await self._close()
            finally:
                self._flush()  # even on Ctrl-C: what arrived is shown
        if status == ExitStatus.OK and (self.mismatches or message):
            status = ExitStatus.REFUSED
        result = ReplayResult(status, self.checked, self.sent, tuple(self.mismatches), message, dict(self.variables))
        self._report(ReplayEvent("finished", result=result))
        self._flush()
        return result

    async def _step(self, index: int, step: Step) -> None:
        if isinstance(step, Comment):
            self._report(ReplayEvent("comment", step.lineno, step.text))
            return
        if not isinstance(step, (ServerLine, Comment)) and not (isinstance(step, Narration) and step.side == "S"):
            self._turn_mismatched = False  # a new turn
        if isinstance(step, ClientLine):
            self._skip_answers = False
            await self._client(index, step)
        elif isinstance(step, Meta):
            self._skip_answers = False
            await self._meta(step)
        elif isinstance(step, ServerLine):
            if self._skip_answers:
                self._report(ReplayEvent("skipped", step.lineno, describe_expected(step), count=1))
            else:
                await self._expect_line(step)
        elif step.kind == "connect" and step.side == "C":
            self._skip_answers = False
            await self._connect(step.lineno)
        elif step.kind == "hangup" and step.side == "C":
            self._skip_answers = False
            await self._hangup(step.lineno)
        elif self._skip_answers:
            self._report(ReplayEvent("skipped", step.lineno, describe_expected(step), count=1))
        elif step.kind == "hangup":
            await self._expect_close(step)
        elif step.kind == "payload" and step.side == "S":
            await self._expect_payload(step)
        elif step.kind == "elision":
            if self._elision is None:
                self._elision = step
                self._elided = 0
                self._elided_lines = []
            self._reading = True
        else:
            self._note(f"line {step.lineno}: <{step.text}> is an action replay cannot perform; not checked", step.lineno)

    async def _connect(self, lineno: int) -> None:
        if self.session is not None:
            await self._finish_turn(lineno)
            await self._close()
        target = self.target
        auto_starttls = target.tls == "starttls" and not self._explicit_starttls
        if target.tls == "starttls":
            # Transcripts recorded from a submission:// target hold the
            # STARTTLS dialogue as lines: they do the upgrade themselves.
            target = dataclasses.replace(target, tls="none")
        session = Session(
            target,
            timeout=self.options.timeout,
            insecure=self.options.insecure,
            cafile=self.options.cafile,
            pull=self._batch,
        )
        session.before_wait = self._flush
        if self._batch:
            session.presend = self._presend
            session.presend_plan = self._presend_plan
        session.subscribe(self._observe)
        for observer in self._observers:
            session.subscribe(self._display(observer))
        self.session = session
        self._queue.clear()
        self._open_payload = None
        self._close_seen = False
        self._elision = None
        self._reading = False
        self._new_response = True
        self._flush()  # connecting may take a while
        await session.open()
        self._report(ReplayEvent("connected", lineno, self.target.url))
        if auto_starttls:
            await session.wait_turn()
            keep = len(self._queue)  # the greeting stays for the transcript to check
            await session.starttls()
            while len(self._queue) > keep:
                self._queue.pop()

    async def _session(self, lineno: int) -> Session:
        if self.session is None:
            await self._connect(lineno)
        assert self.session is not None
        return self.session

    async def _hangup(self, lineno: int) -> None:
        if self.session is not None:
            await self._finish_turn(lineno)
        await self._close()

    async def _close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def _finish(self, lineno: int) -> None:
        if self.session is not None:
            await self._finish_turn(lineno, at_end=True)

    # -- what arrives -----------------------------------------------------
    def _display(self, observer: Observer) -> Observer:
        def show(ex: Exchange) -> None:
            if ex.direction == "C" and ex.raw in self._shown:
                ex = dataclasses.replace(ex, raw=self._shown[ex.raw], line=None)
            if self._batch:
                self._held.append((observer, ex))
            else:
                observer(ex)

        return show

    def _observe(self, ex: Exchange) -> None:
        if ex.direction == "C":
            self._new_response = True
            self._quiet_turn = False
            return
        if ex.direction == "S":
            self._take(ex)
            self._quiet_turn = False
        self._wake()

    def _take(self, ex: Exchange) -> None:
        event = ex.event
        if isinstance(event, Payload):
            item = self._open_payload
            if item is None or event.offset == 0 or item.done:
                item = self._open_payload = _PayloadItem(total=event.total)
                self._queue.append(item)
            item.size += len(event.raw)
            self._remember(event.raw)
            return
        if self._open_payload is not None:
            self._open_payload.done = True
            self._open_payload = None
        if isinstance(event, ResponseEnd):
            self._last_end = event
            return
        if isinstance(event, ConnectionClosed):
            if event.raw:
                self._queue.append(ActualLine(event.raw, None))
                self._remember(event.raw)
            self._queue.append(ActualClose(event.reason))
            self._close_seen = True
            return
        if isinstance(event, WireLine):
            self._queue.append(ActualLine(ex.raw, event.status))
            self._remember(ex.raw)
        elif ex.raw:
            self._queue.append(ActualLine(ex.raw, None))
            self._remember(ex.raw)

    def _remember(self, raw: bytes) -> None:
        if self._new_response:
            self._new_response = False
            self._last_response = []
            self._response_bytes = 0
        if self._response_bytes < _RESPONSE_KEEP:
            self._last_response.append(raw[: _RESPONSE_KEEP - self._response_bytes])
            self._response_bytes += len(raw)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, limit: float) -> bool:
        """Wait until something arrives or the connection ends (True), or
        ``limit`` seconds pass with nothing (False)."""
        session = self.session
        if session is not None and session.pull:
            deadline = time.monotonic() + limit
            while not (self._queue or session.closed or session.error is not None):
                left = deadline - time.monotonic()
                if left <= 0 or not await session.pump(left):
                    return False
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            if self._queue or session is None or session.closed or session.error is not None:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            waiter: asyncio.Future[bool] = loop.create_future()
            self._waiter = waiter
            # Poll the connection state now and then: a reset while nothing
            # is owed closes the session without an Exchange.
            handle = loop.call_later(min(left, 0.25), _expire, waiter)
            try:
                await waiter
            finally:
                handle.cancel()
                self._waiter = None

    async def _peek(self, lineno: int, *, patient: bool = False) -> _Item | None:
        """The next thing the server did, waiting while it owes an answer
        (idle timeout ``options.timeout``: a SessionError), or for
        ``settle`` seconds (``patient``: the timeout) when it owes nothing.
        None: nothing more came."""
        while True:
            if self._queue:
                return self._queue[0]
            session = self.session
            if session is None:
                return None
            if session.error is not None:
                raise session.error
            if session.closed:
                if not self._close_seen:
                    self._close_seen = True
                    self._queue.append(ActualClose(session.close_reason))
                    continue
                return None
            owed = session.framer.pending > 0
            if not owed and not patient and self._quiet_turn:
                return None  # already waited once this turn: nothing more is coming
            limit = self.options.timeout if owed or patient else self.options.settle
            if not await self._wait(limit):
                if not owed:
                    self._quiet_turn = True
                if owed:
                    raise SessionError(
                        "timeout",
                        f"no answer from {self.target.host}:{self.target.port} within "
                        f"{self.options.timeout:g} s (waiting for line {lineno})",
                    )
                return None

    async def _whole_payload(self, item: _PayloadItem, lineno: int) -> ActualPayload:
        """Wait until the payload ``item`` is complete (the event after it
        arrived, or the connection ended)."""
        while not item.done:
            session = self.session
            if session is None or session.closed or session.error is not None:
                item.done = True
                break
            if not await self._wait_change(self.options.timeout):
                raise SessionError(
                    "timeout",
                    f"the payload for line {lineno} stopped arriving for {self.options.timeout:g} s",
                )
        return ActualPayload(item.size, item.total)

    async def _wait_change(self, limit: float) -> bool:
        session = self.session
        if session is not None and session.pull:
            return await session.pump(limit)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        handle = loop.call_later(limit, _expire, waiter)
        try:
            return await waiter
        finally:
            handle.cancel()
            self._waiter = None

    def _pop(self) -> None:
        self._queue.popleft()

    # -- expected server steps --------------------------------------------
    def _matches_after_elision(self, step: ServerLine | Narration, item: _Item) -> bool:
        if isinstance(step, ServerLine):
            return isinstance(item, ActualLine) and self.checker.found_after_elision(step, item)
        if step.kind == "hangup":
            return isinstance(item, ActualClose)
        if isinstance(item, _PayloadItem):
            return True
        return self.protocol == "pop3" and isinstance(item, ActualLine) and item.status is None

    async def _next_for(self, step: ServerLine | Narration, *, patient: bool = False) -> _Item | None:
        """The item to check ``step`` against, after skipping what an
        elision before it hides."""
        elision, self._elision = self._elision, None
        if elision is None:
            return await self._peek(step.lineno, patient=patient)
        while True:
            item = await self._peek(step.lineno, patient=patient)
            if item is None or isinstance(item, ActualClose) and not self._matches_after_elision(step, item):
                break
            if self._matches_after_elision(step, item):
                break
            if isinstance(item, ActualLine) and len(self._elided_lines) < 1000:
                self._elided_lines.append(item)
            self._pop()
            self._elided += 1
        if self._elided:
            self._report(ReplayEvent("skipped", elision.lineno, "...", count=self._elided))
        return item

    def _actual_text(self, item: _Item | None) -> str:
        if isinstance(item, _PayloadItem):
            return describe_actual(ActualPayload(item.size, item.total))
        return describe_actual(item)

    async def _expect_line(self, step: ServerLine) -> None:
        if self.session is None:
            await self._connect(step.lineno)
        self._reading = True
        elision = self._elision
        if self._queue and self._elision is None:
            item: _Item | None = self._queue[0]
        elif self._elision is None:
            self._expecting = self._index
            try:
                item = await self._next_for(step)
            finally:
                self._expecting = -1
        else:
            item = await self._next_for(step)
        if not isinstance(item, ActualLine):
            expected = describe_expected(step)
            actual = self._actual_text(item)
            if item is None and elision is not None and self._elided:
                # "..." looked for this line through the rest of the answer:
                # the server did send lines, none of them this one (Apache's
                # "Content-Type: text/html" for the lesson's "; charset=*").
                # The nearest one, a header of the same name, is what to show.
                reason = (
                    f"no line after '...' (line {elision.lineno}) matched it: the {self._elided} "
                    "line(s) the server sent there were skipped looking for it"
                )
                kin = _same_field(step.text, self._elided_lines)
                if kin is not None:
                    actual = describe_actual(kin)
                    reason += f"; its {kin.text.split(':', 1)[0]} line differs"
            elif item is None and self._turn_mismatched:
                self._report(ReplayEvent("skipped", step.lineno, expected, count=1))
                return
            elif item is None:
                reason = "the server sent nothing more (its answer had ended)"
            elif isinstance(item, ActualClose):
                reason = "the server closed the connection instead"
            else:
                reason = "expected a line, the server sent a payload"
            self._mismatch(step.lineno, expected, actual, reason, self.checker.expected_status(step))
            if item is not None and self._queue:
                self._pop()
            return
        if step is self.transcript.steps[self._index] and self._early_send.quick(self._index) == item.status is not None:
            # Checked by its status alone, and it is that status (Checker.line
            # would say the same): the usual case, made cheap.
            self._pop()
            self.checked += 1
            self._report(ReplayEvent("matched", step.lineno, raw=item.raw))
            return
        if self.checker.reply_ended(step, item):
            self.checked += 1  # an SMTP reply shorter than the transcript's (by status)
            self._report(ReplayEvent("matched", step.lineno, "(the server's reply has fewer lines)"))
            return
        while self.checker.reply_goes_on(step, item):
            self._pop()  # a longer SMTP reply: one more line of it (by status)
            more = await self._peek(step.lineno)
            if not isinstance(more, ActualLine):
                self._mismatch(step.lineno, describe_expected(step), self._actual_text(more), "the reply ended without its last line")
                return
            item = more
        check = self.checker.line(step, item)
        if not check.ok:
            self._mismatch(step.lineno, describe_expected(step), describe_actual(item), check.reason, check.expected_status, check.actual_status)
            self._pop()
            return
        self._pop()
        self.checked += 1
        self._report(ReplayEvent("matched", step.lineno, raw=item.raw))
        for name, value in check.captures.items():
            self.variables[name] = value
            self._report(ReplayEvent("captured", step.lineno, value, name=name))

    async def _expect_payload(self, step: Narration) -> None:
        await self._session(step.lineno)
        self._reading = True
        item = await self._next_for(step)
        expected = describe_expected(step)
        if isinstance(item, _PayloadItem):
            actual = await self._whole_payload(item, step.lineno)
            self._pop()
        elif self.protocol == "pop3" and isinstance(item, ActualLine) and item.status is None:
            # RFC 1939 3: a POP3 message is data lines up to the "." line.
            size = 0
            while isinstance(item, ActualLine) and item.status is None:
                self._pop()
                # A data line starting with "." had one added (byte-stuffing).
                size += len(item.raw) - (1 if item.raw.startswith(b".") else 0)
                item = await self._peek(step.lineno)
            actual = ActualPayload(size)
        elif item is None and self._turn_mismatched:
            self._report(ReplayEvent("skipped", step.lineno, expected, count=1))
            return
        else:
            reason = "expected a payload, the server sent nothing more" if item is None else "expected a payload"
            self._mismatch(step.lineno, expected, self._actual_text(item), reason)
            if item is not None and self._queue:
                self._pop()
            return
        check = self.checker.payload(step, actual)
        if not check.ok:
            self._mismatch(step.lineno, expected, describe_actual(actual), check.reason)
            return
        self.checked += 1
        self._report(ReplayEvent("matched", step.lineno, describe_actual(actual)))

    async def _expect_close(self, step: Narration) -> None:
        if self.session is None:
            self._mismatch(step.lineno, describe_expected(step), "(not connected)", "there is no connection to close")
            return
        self._reading = True
        item = await self._next_for(step, patient=True)
        if isinstance(item, ActualClose):
            self._pop()
            self.checked += 1
            self._report(ReplayEvent("matched", step.lineno, describe_actual(item)))
            return
        reason = (
            f"the server kept the connection open for {self.options.timeout:g} s"
            if item is None
            else "expected the server to close the connection"
        )
        self._mismatch(step.lineno, describe_expected(step), self._actual_text(item), reason)
        if item is not None and self._queue:
            self._pop()

    async def _finish_turn(self, lineno: int, *, at_end: bool = False) -> None:
        """Wait for the server's turn to end; what it said that no step
        checked is a mismatch unless an elision covers it."""
        session = self.session
        if session is None:
            return
        if not session.closed:
            await session.wait_turn()
        if self._open_payload is not None and session.framer.pending == 0:
            self._open_payload.done = True
            self._open_payload = None
        if not self._queue and self._elision is None:
            self._reading = False  # the usual case: every line was checked
            return
        left = [item for item in self._queue if not isinstance(item, ActualClose)]
        closes = [item for item in self._queue if isinstance(item, ActualClose)]
        elision, self._elision = self._elision, None
        self._queue = deque(closes)
        self._reading = False
        if elision is not None:
            count = self._elided + len(left)
            if count:
                self._report(ReplayEvent("skipped", elision.lineno, "...", count=count))
            self._elided = 0
            return
        if left:
            more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            where = "after the last line" if at_end else f"before line {lineno}"
            self._mismatch(
                lineno,
                "(end of transcript)" if at_end else "(no more server lines here)",
                self._actual_text(left[0]) + more,
                f"the server sent more than the transcript expects {where}",
            )

    def _presend_plan(self) -> tuple[str, bytes] | None:
        """Session.presend_plan: see EarlySend.plan."""
        index = self._expecting
        if index < 0 or self._queue:
            return None
        return self._early_send.plan(index)

    def _presend(self, lines: Sequence[tuple[bytes, str | None]]) -> bytes | None:
        """Session.presend: see EarlySend.presend (only when the engine is
        waiting for an S: line with nothing queued)."""
        index = self._expecting
        if index < 0 or self._queue:
            return None
        return self._early_send.presend(index, lines)

    # -- client lines -----------------------------------------------------
    def _fill(self, text: str) -> bytes:
        """The wire bytes of a C: text: variables substituted, a
        ``<redacted>`` filled from ``$password``."""
        if PASSWORD_VARIABLE in self.variables and is_redacted(text):
            text = text.replace(REDACTED, "${" + PASSWORD_VARIABLE + "}")
        return substitute_bytes(text, self.variables)

    def _secret_view(self, text: str, wire: bytes) -> None:
        """Lines that carry the password are shown as the transcript has them."""
        if PASSWORD_VARIABLE not in self.variables:
            return
        if is_redacted(text) or PASSWORD_VARIABLE in variables_in(text):
            secret = unescape_line(self.variables[PASSWORD_VARIABLE])
            if secret:
                self._shown[wire] = wire.replace(secret, REDACTED.encode())

    def _context(self, step: ClientLine, text: str, wire: bytes, problem: str = "") -> ClientContext:
        session = self.session
        framer = session.framer if session is not None else None
        continuation = bool(
            getattr(framer, "in_data", False)
            or getattr(framer, "mid_command", False)
            or (self.protocol == "http" and getattr(framer, "send_state", "request-line") != "request-line")
            or (self._last_end is not None and self._last_end.outcome == "continue" and framer is not None and framer.pending == 0)
        )
        command = self._command_line if continuation else wire
        return ClientContext(
            self.transcript.source,
            step.lineno,
            text,
            wire,
            self.protocol,
            tuple(self._last_response),
            dict(self.variables),
            command,
            continuation,
            problem,
        )

    async def _client(self, index: int, step: ClientLine) -> None:
        if self.session is not None and self.session.presented_line is not None:
            # Sent already, when the turn before it ended (``_presend``):
            # now it is shown, in its place.
            self._reading = False
            await self._send(step.lineno, step.text, step.raw)
            return
        session = await self._session(step.lineno)
        if self._reading:
            await self._finish_turn(step.lineno)
        text = step.text
        if "$" not in text and REDACTED not in text:
            wire = step.raw  # exactly what the text stands for
        else:
            try:
                wire = self._fill(text)
            except (VariableError, RedactedLineError, ValueError) as exc:
                expected = f"C: {text}" if text else "C:"
                self._mismatch(step.lineno, expected, "(not sent)", f"cannot send this line: {exc}")
                return
        if self.controller is not None:
            expected = f"C: {text}" if text else "C:"
            continuation = self._context(step, text, wire).continuation
            problem = ""
            while True:
                ctx = self._context(step, text, wire, problem)
                decision = await self.controller.before_client(ctx)
                if decision.action == "quit":
                    self._note(f"stopped before line {step.lineno} (quit)", step.lineno, "warning")
                    raise _Stop(f"stopped by the user before {self.transcript.source}:{step.lineno}")
                if decision.action == "skip":
                    self._skip_answers = True
                    self._report(ReplayEvent("skipped", step.lineno, expected, count=1))
                    return
                if decision.text is None or decision.text == text:
                    break
                try:
                    wire = self._fill(decision.text)
                except (VariableError, RedactedLineError, ValueError) as exc:
                    problem = str(exc)
                    continue
                text = decision.text
                break
            if not continuation:
                self._command_line = wire
        if session.pull and not session.framer.pending:
            # The server's turn is over: take in what has arrived since (a
            # close after the last answer, an unsolicited 421), as a reader
            # task would have.  Not between pipelined lines: they go out
            # back to back.
            await session.pump(0)
        if session.closed:
            reason = session.close_reason or "the server closed the connection"
            expected = f"C: {text}" if text else "C:"
            self._mismatch(step.lineno, expected, "(connection closed)", f"{reason}; this line could not be sent")
            return
        if PASSWORD_VARIABLE in self.variables:
            self._secret_view(text, wire)
        await self._send(step.lineno, text, wire)
        host = self._host_line(index, wire)
        if host is not None:
            await self._send(step.lineno, "(added) " + host.decode("ascii", "replace"), host + b"\r\n")

    def _host_line(self, index: int, wire: bytes) -> bytes | None:
        """``Host: h:p`` to send after an HTTP/1.1 request line whose head
        has none (RFC 9112 3.2), exactly as pipe mode completes it."""
        if self.protocol != "http" or self.session is None:
            return None
        framer = self.session.framer
        if getattr(framer, "send_state", "") != "headers":
            return None
        words = wire.split()
        if len(words) < 3 or words[-1] != b"HTTP/1.1":
            return None
        for step in self.transcript.steps[index + 1 :]:
            if isinstance(step, Comment):
                continue
            if not isinstance(step, ClientLine) or step.raw in (b"\r\n", b"\n"):
                break
            if step.raw[:5].lower() == b"host:":
                return None
        from ..proto.http import complete_request

        target = self.target
        lines = complete_request([wire.rstrip(b"\r\n")], target.host, target.port, target.default_port)
        return lines[1] if len(lines) > 1 else None

    async def _send(self, lineno: int, text: str, wire: bytes) -> None:
        session = self.session
        assert session is not None
        try:
            if wire_lines(wire):
                await session.send_line(wire[:-2])
            else:
                await session.send_raw(wire)
        except SessionError as exc:
            if exc.kind == "closed":
                reason = "the server closed the connection; this line could not be sent"
                self._mismatch(lineno, f"C: {text}", "(connection closed)", reason)
                return
            if exc.kind == "usage":
                self._mismatch(lineno, f"C: {text}", "(not sent)", f"cannot send this line now: {exc}")
                return
            raise
        self.sent += 1
        self._report(ReplayEvent("sent", lineno, text))
        self._flush()

    # -- meta-commands ----------------------------------------------------
    async def _meta(self, step: Meta) -> None:
        name = step.command
        if name == "set":
            var, _, value = step.argtext.partition(" ")
            self.variables[var] = escape_line(value.encode("utf-8", "surrogateescape"))
            self._report(ReplayEvent("captured", step.lineno, self.variables[var], name=var))
            return
        if name == "sleep":
            self._flush()
            await asyncio.sleep(float(step.args[0]))
            return
        session = await self._session(step.lineno)
        if self._reading or name in ("starttls", "auth"):
            await self._finish_turn(step.lineno)
        if name == "raw":
            try:
                data = substitute_bytes(step.argtext + "\\c", self.variables)
            except (VariableError, RedactedLineError, ValueError) as exc:
                self._mismatch(step.lineno, f":raw {step.argtext}", "(not sent)", f"cannot send: {exc}")
                return
            await self._send(step.lineno, f":raw {step.argtext}", data)
            return
        if name == "starttls":
            try:
                await session.starttls()
            except SessionError as exc:
                if exc.kind not in ("starttls", "closed", "usage"):
                    raise
                self._mismatch(step.lineno, ":starttls", self._actual_text(self._last_line()), str(exc))
                return
            self._queue.clear()  # the meta-command's own dialogue, already shown
            self.checked += 1
            self._report(ReplayEvent("matched", step.lineno, "TLS"))
            return
        if name == "auth":
            await self._auth(step, session)

    def _last_line(self) -> _Item | None:
        for item in reversed(self._queue):
            if isinstance(item, ActualLine):
                return item
        return None

    async def _auth(self, step: Meta, session: Session) -> None:
        """``:auth plain|login USER`` as the shell does it (protoshell.auth):
        the command, then one response per continuation."""
        password = unescape_line(self.variables[PASSWORD_VARIABLE]).decode("utf-8", "surrogateescape")
        dialogue = auth_dialogue(self.protocol, step.args[0], step.args[1], password)
        self._last_end = None
        await self._send(step.lineno, dialogue.command.decode(), dialogue.command + b"\r\n")
        await session.wait_turn()
        for i, response in enumerate(dialogue.responses):
            if session.closed or self._last_end is None or self._last_end.outcome != "continue":
                break
            if dialogue.is_secret(i):
                self._shown[response + b"\r\n"] = f"{REDACTED}".encode() + b"\r\n"
            self._last_end = None
            await self._send(step.lineno, REDACTED if dialogue.is_secret(i) else response.decode(), response + b"\r\n")
            await session.wait_turn()
        end = self._last_end
        last = self._last_line()
        self._queue.clear()
        if end is None or end.outcome != "ok":
            self._mismatch(
                step.lineno,
                f":auth {' '.join(step.args)}",
                self._actual_text(last),
                "the server did not accept the authentication",
            )
            return
        self.checked += 1
        self._report(ReplayEvent("matched", step.lineno, self._actual_text(last)))


def _same_field(expected: str, lines: list[ActualLine]) -> ActualLine | None:
    """The line among ``lines`` that carries the header field ``expected``
    names (``Content-Type: ...``), if it names one and the server sent it."""
    name, colon, _ = expected.partition(":")
    if not colon or not name or " " in name:
        return None
    for line in lines:
        got, sep, _ = line.text.partition(":")
        if sep and got.strip().lower() == name.strip().lower():
            return line
    return None
