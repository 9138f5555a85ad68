"""One conversation: a transport, a framer, and the Exchanges between them.

Everything the shell, the pipe mode, the recorder and the replayer see comes
through here as ``Exchange`` objects handed to observers the moment they
happen, so data the server sends unasked (an IMAP ``* 3 EXISTS`` during IDLE,
a ``421`` timeout, a close) is shown at once, not when the user next types.

A background reader task owns the receiving side: it feeds the framer,
emits events, and performs the TLS upgrade itself when the framer reports an
accepted STARTTLS, so not a single plaintext byte is read between the
server's "go ahead" and the handshake.  Bytes that were already received past
that reply are reported and thrown away, never parsed.

A session made with ``pull=True`` has no reader task: it reads only when
someone waits (``wait_turn``, ``pump``), on a blocking socket
(``BlockingTransport``).  That is for batch runs, where nothing else is
going on and each answer costs a recv instead of two rounds of the event
loop; events, STARTTLS and errors are handled by the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from .proto import framer_for
from .proto.base import (
    GOODBYE_STATES,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Framer,
    Payload,
    ProtocolError,
    ResponseEnd,
    ServerLine,
    _NeedData,
)
from .target import Target
from .transport import BlockingTransport, TlsInfo, Transport, TransportError, make_ssl_context

Direction = Literal["C", "S", "note"]
NoteLevel = Literal["info", "warning", "error"]


@dataclass(slots=True)
class Exchange:
    """One thing that happened on the connection, in order.  Treat it as
    read-only (it is handed to every observer); it is not a frozen
    dataclass only because freezing makes each of the several per command
    cost five times as much to create.

    ``direction`` is "C" (bytes we sent), "S" (an event the server's bytes
    made) or "note" (protoshell's own remark: TLS summary, discarded
    plaintext, connection closed...).  ``raw`` is the exact wire bytes for C
    and S.  ``time`` is wall-clock seconds since the epoch.
    """

    direction: Direction
    raw: bytes
    event: Event | None
    time: float
    note: str = ""
    level: NoteLevel = "info"
    # For "C" in a message mode (SMTP after 354), where the framer applies a
    # transfer encoding (dot-stuffing): the line as the user gave it, which
    # is what a transcript records so that replaying it through send() is
    # exact.  None otherwise: then ``raw`` (with IMAP's added tag, say) is
    # both what was sent and what is recorded.
    line: bytes | None = None
    # For "C": how it was sent: "line" (send_line), "message" (a line of
    # message text, SMTP after 354 before the lone "."; the renderer shows a
    # long run of these cut at --max-lines), "raw" (:raw), "body" (HTTP).
    kind: Literal["line", "message", "raw", "body", ""] = ""


Observer = Callable[[Exchange], None]

LAST_RESPONSE_LINES = 1000  # lines of the last response kept for :last
PULL_SLICE = 0.25  # seconds a pull-mode read blocks before looking for Ctrl-C

# Pull mode's early send (``Session.presend``): given the lines (raw bytes,
# status) that ended the server's turn, before their events are emitted,
# the next command line to send now, or None.
Presend = Callable[[Sequence[tuple[bytes, "str | None"]]], "bytes | None"]
# Its plan, asked before a read (``Session.presend_plan``): (status, line)
# when the turn should end with one line of that status and then that line
# is to be sent; or None.
PresendPlan = Callable[[], "tuple[str, bytes] | None"]


@dataclass(slots=True)
class _Armed:
    """A line to send the moment a read brings the reply the plan expects."""

    status: str
    line: bytes
    wire: bytes


@dataclass(slots=True)
class _Presented:
    """A line sent by ``presend`` whose Exchange is still to be emitted."""

    line: bytes
    wire: bytes
    encoded: bool
    sent_at: float
    error: SessionError | None
    message: bool = False  # a line of message text (Exchange.kind "message")


class SessionError(Exception):
    """A failure of the conversation; ``kind`` maps to the exit code
    (network faults -> 3, protocol violations by the server -> 3 too)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# What a client says to ask for TLS on an open connection, per protocol.
# SMTP must say EHLO first (RFC 3207 section 4); IMAP's tag comes from the framer.
STARTTLS_DIALOGUE: dict[str, tuple[bytes, ...]] = {
    "smtp": (b"EHLO localhost", b"STARTTLS"),
    "pop3": (b"STLS",),
    "imap": (b"STARTTLS",),
}


def _running_task() -> asyncio.Task[object] | None:
    """The task that pumps a pull-mode session, or None when it is driven
    with no event loop at all (``protoshell.api`` steps its coroutines by
    hand: they never suspend); then Ctrl-C is a plain KeyboardInterrupt."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class Session:
    def __init__(
        self,
        target: Target,
        *,
        timeout: float = 10.0,
        insecure: bool = False,
        cafile: str | None = None,
        framer: Framer | None = None,
        pull: bool = False,
    ) -> None:
        self.target = target
        self.pull = pull
        self.timeout = timeout
        self.insecure = insecure
        self.cafile = cafile
        self.framer: Framer = framer if framer is not None else framer_for(target.protocol)
        self.transport: Transport | BlockingTransport | None = None
        # A tuple, replaced on (un)subscribe: an observer may unsubscribe
        # while being called, and emitting needs no copy.
        self.observers: tuple[Observer, ...] = ()
        # Called just before the session blocks waiting for the server: an
        # observer that holds output back (replay) prints it then.
        self.before_wait: Callable[[], None] | None = None
        self.closed = False
        self.close_reason = ""
        self.error: SessionError | None = None
        self.last_rtt: float | None = None
        self.last_response: list[Exchange] = []
        self.last_payload_size = 0
        # Lines of the last response past LAST_RESPONSE_LINES (a long RETR):
        # not kept, only counted, for :last.
        self.last_left_out = 0
        self.last_left_out_octets = 0
        self._reader: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self._sent_at: float | None = None
        self._upgrading = False
        self._pull_task: asyncio.Task[object] | None = None  # who pumps (for Ctrl-C)
        # Pull mode's early send: when a read ends the server's turn, the
        # session asks ``presend`` for the next line and sends it before it
        # emits that read's events, so that emitting them (observers,
        # printing, checking) overlaps the server's work on the next command
        # instead of delaying it.  The line's Exchange is emitted, in order,
        # when the caller then sends that same line (``send_line``).  With a
        # framer that can tell a plain reply from its bytes (``send_ahead``,
        # ``plain_reply_status``: SMTP), ``presend_plan`` is asked before the
        # read instead, and the line goes out before the reply is framed.
        self.presend: Presend | None = None
        self.presend_plan: PresendPlan | None = None
        # Wire bytes held back while the framer says a message is not whole
        # (``holds_writes``: an HTTP request head); written with its end.
        self._held: list[bytes] = []
        self._may_hold = hasattr(type(self.framer), "holds_writes")  # asked per line: once here
        self._backlog: deque[Event] = deque()  # framed, not yet emitted
        self._presented: _Presented | None = None
        self._backlog_error: ProtocolError | None = None

    # -- observers --------------------------------------------------------
    def subscribe(self, observer: Observer) -> None:
        self.observers = (*self.observers, observer)

    def unsubscribe(self, observer: Observer) -> None:
        if observer in self.observers:
            observers = list(self.observers)
            observers.remove(observer)
            self.observers = tuple(observers)

    def _emit(self, ex: Exchange) -> None:
        if ex.direction == "S":
            # Kept for :last, bounded: payload bytes are only counted (they
            # stream to observers), and only the first lines are kept.
            event = ex.event
            if isinstance(event, Payload):
                self.last_payload_size += len(ex.raw)
            elif len(self.last_response) < LAST_RESPONSE_LINES or isinstance(event, (ResponseEnd, ConnectionClosed)):
                self.last_response.append(ex)  # (the end is kept: it says how the response ended)
            else:
                self.last_left_out += 1
                self.last_left_out_octets += len(ex.raw)
        for obs in self.observers:
            obs(ex)

    def _new_response(self) -> None:
        self.last_response = []
        self.last_payload_size = 0
        self.last_left_out = 0
        self.last_left_out_octets = 0

    def note(self, text: str, level: NoteLevel = "info") -> None:
        self._emit(Exchange("note", b"", None, time.time(), text, level))

    # -- connection -------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext:
        try:
            return make_ssl_context(insecure=self.insecure, cafile=self.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise SessionError("usage", f"cannot load CA file {self.cafile!r}: {exc}") from None

    async def open(self) -> None:
        """Connect, start reading, and (for --starttls targets) upgrade."""
        ctx = self._ssl_context() if self.target.tls == "implicit" else None
        if ctx is not None and self.insecure:
            self.note("certificate verification is OFF (--insecure)", "warning")
        kind = BlockingTransport if self.pull else Transport
        try:
            self.transport = await kind.connect(
                self.target.host, self.target.port, ssl_context=ctx, timeout=self.timeout
            )
        except TransportError as exc:
            raise SessionError(exc.kind, str(exc)) from None
        self.note(f"connected to {self.target.host}:{self.target.port}")
        if self.transport.tls is not None:
            self.note(self.transport.tls.summary())
        if not self.pull:
            self._reader = asyncio.create_task(self._read_loop())
        if self.target.tls == "starttls":
            await self.wait_turn()
            await self.starttls()

    async def starttls(self) -> None:
        """Say the protocol's STARTTLS words and wait for the upgrade."""
        words = STARTTLS_DIALOGUE.get(self.target.protocol)
        if words is None:
            raise SessionError("usage", f"{self.target.protocol.upper()} has no STARTTLS")
        if self.insecure:
            self.note("certificate verification is OFF (--insecure)", "warning")
        self._ssl_context()  # an unreadable CA file: said before STARTTLS, still plaintext
        for line in words:
            if line.startswith(b"EHLO ") and "STARTTLS" in getattr(self.framer, "ehlo_keywords", {}):
                continue  # RFC 3207 4: this connection's EHLO already offered STARTTLS
            await self.send_line(line)
            await self.wait_turn()
        if self.transport is None or self.transport.tls is None:
            raise SessionError("starttls", "the server refused STARTTLS; the connection is still plaintext")

    async def close(self) -> None:
        if self._presented is not None:
            # It was sent: it is shown.  A failed write was reported already
            # or is not what this close is about.
            with contextlib.suppress(SessionError):
                self._emit_presented()
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            # The reader reports its own failures through self.error; here it
            # is only being stopped.
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.transport is not None:
            await self.transport.close()
        self.closed = True

    # -- sending ----------------------------------------------------------
    def _check_usable(self) -> None:
        if self.error is not None:
            raise self.error
        if self.closed or self.transport is None:
            raise SessionError("closed", f"the connection is closed{': ' + self.close_reason if self.close_reason else ''}")

    def _hold(self, wire: bytes) -> bool:
        """Keep ``wire`` for the next write while the framer says the message
        is not whole yet: an HTTP request head goes out in one write, as
        curl sends it, because a server that reads its request with one
        ``recv()`` (the lecture's lab server) must find it whole.  Written a
        line at a time, the rest came after such a server had answered and
        closed; its kernel reset the connection and the answer was lost
        nine times in ten."""
        if self._may_hold and self.framer.holds_writes:  # type: ignore[attr-defined]
            self._held.append(wire)
            return True
        return False

    def _take_held(self, wire: bytes) -> bytes:
        """``wire`` after what was held back, if anything was."""
        if not self._held:
            return wire
        self._held.append(wire)
        data = b"".join(self._held)
        self._held.clear()
        return data

    async def _write(self, wire: bytes, line: bytes | None, kind: Literal["line", "message", "raw", "body"]) -> None:
        assert self.transport is not None
        if self.framer.pending:
            self._new_response()
            self._sent_at = time.monotonic()
        self._emit(Exchange("C", wire, None, time.time(), line=line, kind=kind))
        if self._hold(wire):
            return
        try:
            await self.transport.write(self._take_held(wire), self.timeout)
        except TransportError as exc:
            raise SessionError(exc.kind, str(exc)) from None

    async def send_line(self, line: bytes) -> bytes:
        """Send one command line (the framer adds CRLF and its rules)."""
        if self._presented is not None:
            if self._presented.line == line:
                return self._emit_presented()
            self._emit_presented()
        self._check_usable()
        encoded = bool(getattr(self.framer, "in_data", False))
        try:
            wire = self.framer.send(line)
        except ProtocolError as exc:
            raise SessionError("usage", str(exc)) from None
        await self._write(wire, line if encoded else None, "message" if self._message_line(encoded) else "line")
        return wire

    def _message_line(self, encoded: bool) -> bool:
        """After ``framer.send``: was that line message text?  It was sent
        in message mode and the framer is still in it (the line that ends
        the message, SMTP's ".", takes it out: RFC 5321 4.1.1.4)."""
        return encoded and bool(getattr(self.framer, "in_data", False))

    @property
    def said_goodbye(self) -> bool:
        """The server has said goodbye (221, +OK to QUIT, BYE...) and
        closes next (``proto.base.GOODBYE_STATES``)."""
        return getattr(self.framer, "state", "") in GOODBYE_STATES

    @property
    def spent(self) -> bool:
        """No line can go out on this connection any more: it is closed, or
        the server said goodbye (an HTTP ``Connection: close`` response
        among them) and its close may still be on the way.  Checking only
        ``closed`` races that close: a line sent in between is lost."""
        return self.closed or self.said_goodbye

    async def let_server_hang_up(self, grace: float = 1.0) -> None:
        """After a goodbye the server closes first (RFC 5321 4.1.1.10, RFC
        1939 6, RFC 3501 6.1.3): wait up to ``grace`` seconds for it, so
        that what is shown and recorded ends the way the conversation
        really did, not by a race between the two sides' closes."""
        if self.closed or not self.said_goodbye:
            return
        deadline = time.monotonic() + grace
        while not self.closed and self.error is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self.pull:
                if not await self.pump(left):
                    return
            else:
                await asyncio.sleep(0.01)

    @property
    def presented_line(self) -> bytes | None:
        """The line sent early whose Exchange is not emitted yet (see
        ``presend``): the caller's next ``send_line`` should be this one."""
        return self._presented.line if self._presented is not None else None

    def _emit_presented(self) -> bytes:
        """The Exchange of the line ``presend`` sent, as ``_write`` would
        have emitted it; the write's failure, if it failed, is raised now."""
        p = self._presented
        assert p is not None
        self._presented = None
        if self.framer.pending:
            self._new_response()
            self._sent_at = p.sent_at
        kind: Literal["line", "message"] = "message" if p.message else "line"
        self._emit(Exchange("C", p.wire, None, time.time(), line=p.line if p.encoded else None, kind=kind))
        if p.error is not None:
            raise p.error
        return p.wire

    async def send_request(self, head: Sequence[bytes], body: bytes = b"") -> None:
        """One HTTP request: ``head`` as typed (the request line and field
        lines, no terminators, no final empty line), completed by the one
        Host / Content-Length rule (``proto.http.complete_request``), then
        the empty line that ends it and ``body``."""
        from .proto.http import complete_request, field_line_problem

        for line in head[1:]:
            # Sent as typed, but a line that is no header says so before the
            # server's 400 does (the lecture's "\\r\\n" typed as a line).
            problem = field_line_problem(line)
            if problem is not None:
                self.note(problem, "warning")
        target = self.target
        lines = complete_request(
            list(head), target.host, target.port, target.default_port, body_length=len(body) if body else None
        )
        for line in lines:
            await self.send_line(line)
        await self.send_line(b"")
        if body:
            await self.send_body(body)

    async def send_raw(self, data: bytes) -> None:
        """Bytes exactly as given (``:raw``); the framer still learns from them."""
        self._check_usable()
        wire = self.framer.send_raw(data)
        await self._write(wire, None, "raw")

    async def send_body(self, data: bytes) -> None:
        """A request body (HTTP) after its head; the framer counts it."""
        self._check_usable()
        send_body = getattr(self.framer, "send_body", None)
        if send_body is None:
            raise SessionError("usage", f"{self.target.protocol.upper()} has no message body to send this way")
        try:
            wire = send_body(data)
        except ProtocolError as exc:
            raise SessionError("usage", str(exc)) from None
        await self._write(wire, None, "body")

    # -- receiving --------------------------------------------------------
    async def wait_turn(self, timeout: float | None = None) -> None:
        """Wait until every awaited response is complete, or the connection
        ends.  ``timeout`` is an idle timeout: it restarts whenever bytes
        arrive, so a long download is never cut short."""
        limit = self.timeout if timeout is None else timeout
        while (self.framer.pending > 0 or self._upgrading) and not self.closed and self.error is None:
            if self.pull:
                arrived = await self.pump(limit)
            else:
                if self.before_wait is not None:
                    self.before_wait()
                self._progress.clear()
                try:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for loses
                    # a cancellation (Ctrl-C) that comes as the wait ends.
                    async with asyncio.timeout(limit):
                        await self._progress.wait()
                    arrived = True
                except TimeoutError:
                    arrived = False
            if not arrived:
                raise SessionError("timeout", self._timeout_text(limit))
        if self.error is not None:
            raise self.error

    def _timeout_text(self, limit: float) -> str:
        """The one line for a wait that timed out.  Before the greeting of a
        mail protocol nothing has moved either way: the likeliest cause is a
        port that speaks another protocol (``imap://host:8080`` on a web
        server, which waits for the client to speak first), so say that."""
        where = f"{self.target.host}:{self.target.port}"
        transport = self.transport
        protocol = self.target.protocol
        if (
            protocol != "http"
            and transport is not None
            and transport.bytes_in == 0
            and transport.bytes_out == 0
        ):
            name = protocol.upper()
            article = "an" if name[0] in "AEIOSU" else "a"  # an IMAP, an SMTP, a POP3
            return (
                f"no greeting from {where} within {limit:g} s: {article} {name} server speaks "
                f"first, this one said nothing; is it {article} {name} port? (a web server, "
                "for one, waits for the client)"
            )
        return f"no complete response from {where} within {limit:g} s"

    async def pump(self, timeout: float) -> bool:
        """Pull mode: read what the server sends next and emit its events.
        False when nothing came within ``timeout`` seconds.  The wait is cut
        into slices so that Ctrl-C (a cancellation of this task, under
        ``asyncio.run``) is seen within ``PULL_SLICE`` seconds."""
        assert self.pull, "pump() is for pull-mode sessions"
        if self.closed or self.error is not None or self.transport is None:
            return True
        if self.before_wait is not None:
            self.before_wait()
        transport = self.transport
        task = self._pull_task
        if task is None or task.done():
            # Once per task: each asyncio.current_task() costs a getpid()
            # system call.  (A done task: the session outlived the task that
            # first pumped it, as with protoshell.api in one notebook cell
            # after another.)
            task = self._pull_task = _running_task()
        armed = self._arm() if self.presend_plan is not None else None
        left = timeout
        while True:
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            wait = min(left, PULL_SLICE)
            try:
                data = await transport.read(wait)
                break
            except TransportError as exc:
                if exc.kind != "timeout":
                    await self._read_failed(exc)
                    return True
            left -= wait
            if left <= 0:
                return False
        await self._received(data, armed)
        return True

    def _arm(self) -> _Armed | None:
        """Before a read: the line to send if it brings the one plain reply
        the plan expects, with its wire bytes, made now, off the path from
        that reply to the line."""
        send_ahead = getattr(self.framer, "send_ahead", None)
        if send_ahead is None or self.presend_plan is None or self._presented is not None or self._backlog:
            return None
        plan = self.presend_plan()
        if plan is None:
            return None
        wire = send_ahead(plan[1])
        return None if wire is None else _Armed(plan[0], plan[1], wire)

    def _fire(self, armed: _Armed) -> None:
        """Send the armed line, then tell the framer (see SmtpFramer.send_ahead)."""
        presented = _Presented(armed.line, armed.wire, False, time.monotonic(), None)
        self._presented = presented
        assert isinstance(self.transport, BlockingTransport)
        try:
            self.transport.send_now(armed.wire)
        except TransportError as exc:
            presented.error = SessionError(exc.kind, str(exc))
        wire = self.framer.send(armed.line)
        assert wire == armed.wire, "send_ahead() promised other bytes than send() made"

    async def _read_loop(self) -> None:
        assert self.transport is not None
        transport = self.transport
        try:
            while True:
                try:
                    data = await transport.read(None)
                except TransportError as exc:
                    await self._read_failed(exc)
                    return
                if await self._received(data):
                    return
        finally:
            self._progress.set()

    async def _received(self, data: bytes, armed: _Armed | None = None) -> bool:
        """Frame ``data`` (``b""``: EOF) and emit its events.  True when the
        connection is over, closed or failed (then ``closed``/``error`` say so)."""
        try:
            if armed is not None and data and self.framer.plain_reply_status(data) == armed.status:  # type: ignore[attr-defined]
                self._fire(armed)
                self.framer.receive_data(data)
            elif self.presend is not None and data:
                self._try_presend(data)
            else:
                self.framer.receive_data(data)
            if await self._drain_events():
                return True
            if not data:
                # EOF that the framer did not turn into an event.
                self._closed("the server closed the connection")
                return True
            return False
        except TransportError as exc:  # from a STARTTLS upgrade
            self._received_failure(exc)
        except ProtocolError as exc:
            self._fail(SessionError("protocol", f"protocol error from server: {exc}"))
        except SessionError as exc:  # the CA file of a STARTTLS upgrade cannot be loaded
            self._fail(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - an observer failed (output closed...)
            self._fail(SessionError("observer", f"{type(exc).__name__}: {exc}"))
        return True

    async def _read_failed(self, exc: TransportError) -> None:
        """A read failed.  A reset where the framer takes an end of stream for
        a clean close (every answer complete, no message half sent) ends the
        connection as that close would, with a warning: a server that closes
        with our last bytes unread makes its kernel send a reset (RFC 9112
        9.6), and nothing was lost.  Anything else is the failure it is."""
        if exc.kind == "reset" and not self.framer.pending and not self.closed:
            self.note(f"{exc}, after its answers were complete", "warning")
            await self._received(b"")
            return
        self._received_failure(exc)

    def _received_failure(self, exc: TransportError) -> None:
        if self.framer.pending:
            self.note(f"response incomplete: {exc}", "error")
        self._fail(SessionError(exc.kind, str(exc)))

    def _try_presend(self, data: bytes) -> None:
        """Feed ``data`` to the framer, framing its events into the backlog
        (stopping at a close or an accepted STARTTLS: those are
        ``_drain_events``'s); when they end the server's turn (a ResponseEnd
        last, nothing owed), send the line ``presend`` says comes next
        before they are emitted."""
        framer = self.framer
        framer.receive_data(data)
        backlog = self._backlog
        while True:
            try:
                event = framer.next_event()
            except ProtocolError as exc:
                # The events before it are emitted first, as without presend.
                self._backlog_error = exc
                return
            if event is NEED_DATA:
                break
            assert isinstance(event, Event)
            backlog.append(event)
            if isinstance(event, ConnectionClosed) or (isinstance(event, ResponseEnd) and event.starttls):
                return
        if not backlog or framer.pending or not isinstance(backlog[-1], ResponseEnd):
            return
        if self.presend is None or self._presented is not None:
            return
        if self.said_goodbye:
            return  # the server will close: a line sent now would meet the close
        lines: list[tuple[bytes, str | None]] = []
        for i in range(len(backlog) - 1):
            event = backlog[i]
            if not isinstance(event, ServerLine):
                return
            lines.append((event.raw, event.status))
        line = self.presend(lines)
        if line is not None:
            self._send_early(line)

    def _send_early(self, line: bytes) -> None:
        framer = self.framer
        encoded = bool(getattr(framer, "in_data", False))
        try:
            wire = framer.send(line)
        except ProtocolError:
            return  # not sent; the ordinary send_line will say why
        presented = _Presented(line, wire, encoded, time.monotonic(), None, self._message_line(encoded))
        self._presented = presented
        assert isinstance(self.transport, BlockingTransport)
        if self._hold(wire):
            return  # an HTTP request line: the rest of its head comes first
        try:
            self.transport.send_now(self._take_held(wire))
        except TransportError as exc:
            presented.error = SessionError(exc.kind, str(exc))

    async def _drain_events(self) -> bool:
        """Emit every event the framer has; True when the connection ended."""
        backlog = self._backlog
        event: Event | _NeedData
        while True:
            if backlog:
                event = backlog.popleft()
            elif self._backlog_error is not None:
                error, self._backlog_error = self._backlog_error, None
                raise error
            else:
                event = self.framer.next_event()
            if event is NEED_DATA:
                return False
            assert isinstance(event, Event)
            now = time.time()
            if isinstance(event, ConnectionClosed):
                self._emit(Exchange("S", event.raw, event, now))
                if event.clean:
                    self._closed(event.reason or "the server closed the connection")
                else:
                    reason = event.reason or "the server closed the connection in the middle of a response"
                    self.note(f"response incomplete: {reason}", "error")
                    self._fail(SessionError("reset", reason))
                return True
            if not isinstance(event, ResponseEnd) or event.raw:
                self._emit(Exchange("S", event.raw, event, now))
            if isinstance(event, ResponseEnd):
                if self._sent_at is not None:
                    self.last_rtt = time.monotonic() - self._sent_at
                    self._sent_at = None
                self._emit(Exchange("S", b"", event, now))
                if event.starttls:
                    self._upgrading = True
                    try:
                        await self._upgrade()
                    finally:
                        self._upgrading = False
            self._progress.set()

    async def _upgrade(self) -> None:
        assert self.transport is not None
        injected = self.framer.trailing_data
        try:
            info, queued = await self.transport.start_tls(self._ssl_context(), timeout=self.timeout)
        except TransportError as exc:
            raise TransportError(exc.kind, f"STARTTLS failed: {exc}") from None
        self.framer.tls_started()
        dropped = len(injected) + queued
        if dropped:
            self.note(
                f"discarded {dropped} bytes of plaintext the server sent after accepting STARTTLS "
                "(RFC 3207 4.2: they could be an attacker's injection)",
                "warning",
            )
        self.note(info.summary(), "info" if info.verified else "warning")

    def _closed(self, reason: str, level: NoteLevel = "info") -> None:
        self.closed = True
        self.close_reason = reason
        self.note(reason, level)
        self._progress.set()

    def _fail(self, err: SessionError) -> None:
        self.error = err
        self.closed = True
        self.close_reason = str(err)
        self._progress.set()

    @property
    def tls(self) -> TlsInfo | None:
        return self.transport.tls if self.transport is not None else None
