"""One client connection through the proxy: two legs, one framer.

Each client connection gets its own upstream connection.  Every chunk one
leg receives is written to the other unchanged (the proxy never rewrites a
byte) in the event loop's own callback (``Transport.deliver_to``: no task
switch per turn), and described later, when no I/O is waiting, while the
other side works on it (``_describe_later``: a client's chunk at the
loop's next idle moment, a server's with the client's next one), in the
order the chunks came:

- client -> server: ``split.ClientSplitter`` cuts the chunk into command
  lines and payloads and teaches the client-role framer every command.
  The answer came after the command, so the framer knows the command
  before it frames the answer;
- server -> client: the same framer frames the answer (``receive_data`` /
  ``next_event``), exactly as it does for the shell.

Both become ``session.Exchange`` objects for the observers (the view, a
recorder), emitted in the order the bytes crossed the proxy.

Back-pressure: when a leg's transport has more than asyncio's high-water
mark unsent (``pause_writing``), the other leg stops reading
(``Transport.hold``) until it drains, so the sender is slowed down by TCP
itself; nothing is buffered without limit, whatever size passes.

STARTTLS/STLS: a chunk that may hold one is split before it is forwarded;
the line that asks goes on, and what follows it is held, the client's
stream queued unread.  The server's answer is framed before anything of it
is forwarded.  If it agrees, the plaintext after its reply is dropped (RFC
3207 4.2, RFC 2595 3.1: it could be an attacker's), the server leg is
upgraded as a verifying client, the reply goes to the client, and the
client leg is upgraded with a certificate from the proxy's CA; what the
client sent past its STARTTLS before the handshake is dropped too.  Both
drops are reported.  If it refuses, the held bytes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..proto import framer_for
from ..proto.base import NEED_DATA, ConnectionClosed, Event, Payload, ProtocolError, ResponseEnd
from ..render.console import OutputClosed
from ..session import Exchange, NoteLevel, Observer, SessionError
from ..target import Target
from ..transport import (
    TlsInfo,
    Transport,
    TransportError,
    call_when_idle,
    io_waiting_check,
    make_ssl_context,
)
from .split import ClientPiece, ClientSplitter

if TYPE_CHECKING:
    from ..recorder import Recorder

# What the client is told when the server cannot be reached, in its own
# protocol, before the proxy closes: SMTP's 421 (RFC 5321 3.8, 4.2.3),
# POP3's -ERR greeting (RFC 1939 4), IMAP's BYE greeting (RFC 3501 7.1.5),
# HTTP's 502 Bad Gateway (RFC 9110 15.6.3).
UNAVAILABLE: dict[str, bytes] = {
    "smtp": b"421 4.3.0 protoshell proxy: the server is not reachable\r\n",
    "pop3": b"-ERR protoshell proxy: the server is not reachable\r\n",
    "imap": b"* BYE protoshell proxy: the server is not reachable\r\n",
    "http": (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 46\r\n"
        b"Connection: close\r\n\r\nprotoshell proxy: the server is not reachable\n"
    ),
}


# A chunk that may hold a line asking for TLS (STARTTLS, STLS: see
# proto.base.asks_starttls, which decides): only then is it split before
# it is forwarded.
_MAY_ASK_TLS: Final = re.compile(rb"(?i)tls")

# A chunk from the server is framed and shown with the client's next one,
# this long after it at the latest; past this many bytes or chunks pending
# (either way), at the loop's next iteration.  See _describe_later.
SERVER_DELAY: Final = 0.002
PENDING_BYTES: Final = 64 << 10
PENDING_CHUNKS: Final = 64


@dataclass(frozen=True, slots=True)
class LegOptions:
    """How the proxy reaches the server and speaks TLS to the client."""

    target: Target
    timeout: float = 10.0
    insecure: bool = False
    cafile: str | None = None
    # The client leg's TLS (a leaf from the proxy's CA); None: no TLS offered.
    client_tls: ssl.SSLContext | None = None
    client_tls_name: str = ""

    def upstream_context(self) -> ssl.SSLContext:
        return make_ssl_context(insecure=self.insecure, cafile=self.cafile)


class ProxyConnection:
    """Runs one client connection (``run``) until both legs are closed."""

    def __init__(
        self,
        number: int,
        client: Transport,
        options: LegOptions,
        observers: Sequence[Observer] = (),
        recorder: Recorder | None = None,
        on_line: Callable[[str, NoteLevel], None] | None = None,
    ) -> None:
        self.number = number
        self.client = client
        self.options = options
        self.target = options.target
        self.upstream: Transport | None = None
        self.framer = framer_for(self.target.protocol)
        self.splitter = ClientSplitter(self.framer)
        self.observers: tuple[Observer, ...] = tuple(observers)
        self.recorder = recorder
        self.on_line = on_line  # a one-line fault report, besides the view
        self.framing = True  # false once the framer lost track: bytes still flow
        # TLS toward the client after STARTTLS (mail protocols); None: not offered.
        self.client_tls = options.client_tls if self.target.protocol != "http" else None
        self.client_hung_up = False
        self.server_hung_up = False
        self._server_failed = False  # its connection failed (a reset), said on stderr
        self._answer_begun = False  # part of a reply came, not its end
        self._closed_clean = False  # the server's close, as its framer judged it
        self._starttls_asked = False
        self._held = b""  # what the client sent in the chunk after its STARTTLS
        self._pending: deque[tuple[bool, bytes]] = deque()  # forwarded, not yet framed (from_client, bytes)
        self._unframed = False  # the framer may hold events of a server chunk not yet shown
        self._pending_bytes = 0
        self._soon = False  # a call_soon of _describe is on its way
        self._idle = False  # a call_when_idle of _describe_idle is on its way
        self._timer = False  # a call_later of _describe_timer is on its way
        self._loop = asyncio.get_running_loop()
        self._io_waiting = io_waiting_check()
        self._done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.bytes_up = 0
        self.bytes_down = 0

    # -- observers ----------------------------------------------------------
    def _emit(self, ex: Exchange) -> None:
        for obs in self.observers:
            try:
                obs(ex)
            except OutputClosed:
                # ``protoshell proxy | head``: the view is gone, forwarding is not.
                self.observers = tuple(o for o in self.observers if o is not obs)
            except SessionError as exc:  # the recording's disk is full: say so, go on forwarding
                self.observers = tuple(o for o in self.observers if o is not obs)
                self.note(str(exc), "error")

    def _guarded(self, fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """``fn`` for the loop's callbacks: a failure of ours ends this
        connection with one line, never a traceback from asyncio."""

        def call(data: bytes) -> None:
            try:
                fn(data)
            except Exception as exc:  # noqa: BLE001 - reported, connection closed
                self.note(f"internal error: {type(exc).__name__}: {exc}", "error")
                self._finish()

        return call

    def note(self, text: str, level: NoteLevel = "info") -> None:
        self._emit(Exchange("note", b"", None, time.time(), text, level))
        if level == "error" and self.on_line is not None:
            self.on_line(f"connection {self.number}: {text}", level)

    # -- the connection -----------------------------------------------------
    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            self._done.set()  # the legs' ends that follow are the proxy's doing, not news
            self.note("closed by the proxy (stopping)")
            raise
        finally:
            self._describe()  # what was forwarded is shown and recorded
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.client.close()
            if self.upstream is not None:
                await self.upstream.close()
            if self.recorder is not None:
                self.recorder.close(hangup=not self.server_hung_up)

    async def _run(self) -> None:
        target, opts = self.target, self.options
        self.note(f"connection {self.number} from {self.client.host}:{self.client.port}")
        if target.tls == "implicit":
            assert opts.client_tls is not None
            if not await self._client_handshake():
                return
        ctx = opts.upstream_context() if target.tls == "implicit" else None
        if ctx is not None and opts.insecure:
            self.note("certificate verification of the server is OFF (--insecure)", "warning")
        try:
            self.upstream = await Transport.connect(target.host, target.port, ssl_context=ctx, timeout=opts.timeout)
        except TransportError as exc:
            await self._unavailable(str(exc))
            return
        self.note(f"connected to {target.host}:{target.port}")
        if self.upstream.tls is not None:
            self.note(f"server leg: {self.upstream.tls.summary()}")
        self._deliver()
        await self._done.wait()
        self.note(
            f"connection {self.number} closed ({self.bytes_up} bytes from the client, "
            f"{self.bytes_down} from the server)"
        )

    async def _client_handshake(self) -> bool:
        opts = self.options
        assert opts.client_tls is not None
        try:
            info, _ = await self.client.start_tls(opts.client_tls, timeout=opts.timeout, server_side=True)
        except TransportError as exc:
            self.note(f"TLS handshake with the client failed: {exc} (does it trust the proxy's CA? see --ca-path)", "error")
            return False
        self.note(self._client_tls_line(info))
        return True

    def _deliver(self) -> None:
        """Bytes from each leg to its handler as they come; back-pressure:
        a leg that cannot take more holds the other's reading."""
        up, client = self._up(), self.client
        up.deliver_to(self._guarded(self._from_server), self._server_ended, client.hold_for)
        client.deliver_to(self._guarded(self._from_client), self._client_ended, up.hold_for)

    def _client_tls_line(self, info: TlsInfo) -> str:
        return (
            f"client leg: TLS {info.version} {info.cipher}; certificate for "
            f"{self.options.client_tls_name} from the proxy's CA"
        )

    async def _unavailable(self, why: str) -> None:
        """The server cannot be reached: tell the client in its protocol, close."""
        reply = UNAVAILABLE[self.target.protocol]
        self.note(f"cannot reach {self.target.url}: {why}; the client is told so and disconnected", "error")
        try:
            if self.target.protocol == "http":
                # The client speaks first: answer its request, not before it.
                with contextlib.suppress(TransportError):
                    await self.client.read(self.options.timeout)
            await self.client.write(reply, self.options.timeout)
        except TransportError:
            pass
        self.client_hung_up = True

    # -- client -> server ---------------------------------------------------
    def _from_client(self, data: bytes) -> None:
        """Bytes from the client (called by the loop as they arrive): learn,
        forward, show."""
        up = self.upstream
        assert up is not None
        self.bytes_up += len(data)
        if self.client_tls is None or not _MAY_ASK_TLS.search(data):
            # The usual case: forward first, learn after.  Still before the
            # answer: that can only be read in a later callback of the loop.
            try:
                up.send(data)
            except TransportError:
                self._finish()  # the server leg is gone
                return
            if self.framing:
                self._describe_later(True, data)
            return
        self._describe()
        held = b""
        pieces: list[ClientPiece] = []
        if self.framing:
            try:
                split = self.splitter.feed(data)
            except ProtocolError as exc:
                self._lost_track(f"the client's bytes: {exc}")
            else:
                pieces, held = split.pieces, split.held
        forward = data[: len(data) - len(held)] if held else data
        asked = any(p.starttls for p in pieces)
        try:
            up.send(forward)
        except TransportError:
            self._finish()  # the server leg is gone
            return
        self._emit_client(pieces)
        if asked:
            # Hold the client's stream until the server answers: queued
            # unread, so that an upgrade can drop it as plaintext.
            self._starttls_asked = True
            self._held = held
            self.client.stop_delivery()

    def _emit_client(self, pieces: list[ClientPiece]) -> None:
        now = time.time()
        for p in pieces:
            if p.kind == "body":
                event = Payload(p.raw, p.offset, p.total)
                self._emit(Exchange("C", p.raw, event, now, line=p.line, kind="body"))
            else:
                self._emit(Exchange("C", p.raw, None, now, kind="line"))

    def _resume_client(self) -> None:
        """The server refused STARTTLS: what the client sent meanwhile goes on."""
        held, self._held = self._held, b""
        if held:
            self._from_client(held)
        if not self._starttls_asked and not self._done.is_set():
            self.client.deliver_to(self._guarded(self._from_client), self._client_ended, self._up().hold_for)

    def _up(self) -> Transport:
        assert self.upstream is not None
        return self.upstream

    def _client_ended(self, exc: BaseException | None) -> None:
        """The client hung up (or its connection failed).  With an answer
        still owed (an HTTP request, a QUIT) the half-close is passed on and
        the server may finish, until it closes or sends nothing for
        ``timeout`` seconds; otherwise (idle, or in the middle of a literal)
        the server leg is closed at once."""
        if self._done.is_set():
            return
        self._describe()
        if exc is not None:
            self.note(f"the client's connection failed: {exc}", "warning")
        self.client_hung_up = True
        partial = self.splitter.partial
        if partial and self.framing:
            self._emit(Exchange("C", partial, None, time.time(), kind="line"))
        up = self._up()
        if exc is not None or not self.framing or not self.framer.pending or self._starttls_asked:
            if self.recorder is not None and not self.server_hung_up:
                self.recorder.close(hangup=True)
            self.note("the client hung up; closing the server leg")
            self._finish()
            return
        # An answer is owed (imaplib's logout() hangs up at ``* BYE``, before
        # the tagged OK): the recording goes on until the server has given
        # it, so that it replays; ``run`` ends it with the hang-up.
        up.write_eof()
        self._tasks.append(asyncio.get_running_loop().create_task(self._grace()))

    async def _grace(self) -> None:
        while True:
            before = self.bytes_down
            await asyncio.sleep(self.options.timeout)
            if self.bytes_down == before:
                self.note(f"the server sent nothing for {self.options.timeout:g} s after the client hung up; closing")
                self._finish()
                return

    def _finish(self) -> None:
        """The connection is over: ``run`` closes both legs."""
        self._describe()
        self._starttls_over()
        if not self._done.is_set():
            self._done.set()

    # -- server -> client ---------------------------------------------------
    def _from_server(self, data: bytes) -> None:
        """Bytes from the server: forward, frame, show (STARTTLS: frame first)."""
        client = self.client
        self.bytes_down += len(data)
        framed = False
        if self._starttls_asked and self.framing:
            # Frame first: only the reply may reach the client.
            self._describe()
            framed = True
            if self._frame(data):
                trailing = len(self.framer.trailing_data)
                self._up().stop_delivery()  # what comes next is dropped by start_tls
                task = asyncio.get_running_loop().create_task(
                    self._upgrade(data[: max(len(data) - trailing, 0)], trailing)
                )
                self._tasks.append(task)
                return
        try:
            client.send(data)
        except TransportError:
            self.note("the client is gone; closing the server leg")
            self._finish()
            return
        if self.framing and not framed:
            self._describe_later(False, data)

    def _describe_later(self, from_client: bool, data: bytes) -> None:
        """Frame and show ``data`` later, in order (the framer learns a
        command before it frames the answer), while the other side works:

        - after a chunk from the client, once no I/O is ready
          (``transport.call_when_idle``): the server works on it meanwhile,
          and an answer that is already there is forwarded first;
        - after a chunk from the server, with the client's next chunk,
          since the client usually answers at once (framing first would
          delay its next command), or ``SERVER_DELAY`` seconds later if it
          is quiet (a greeting, an unsolicited line);
        - at the loop's next iteration (``call_soon``) once more than
          ``PENDING_BYTES`` are pending (a body: memory and the view stay
          bounded and live, however busy the legs are).
        """
        self._pending.append((from_client, data))
        self._pending_bytes += len(data)
        if self._pending_bytes > PENDING_BYTES or len(self._pending) > PENDING_CHUNKS:
            if not self._soon:
                self._soon = True
                self._loop.call_soon(self._describe_soon)
        elif from_client:
            if not self._idle:
                self._idle = True
                call_when_idle(self._describe_idle)
        elif not self._timer:
            self._timer = True
            self._loop.call_later(SERVER_DELAY, self._describe_timer)

    def _describe_soon(self) -> None:
        self._soon = False
        self._describe()

    def _describe_idle(self) -> None:
        """As much as the loop has time for: stop as soon as I/O waits."""
        self._idle = False
        if not self._describe(yielding=True) and not self._idle:
            self._idle = True
            call_when_idle(self._describe_idle)

    def _describe_timer(self) -> None:
        self._timer = False
        if (self._pending or self._unframed) and not self._idle:
            self._idle = True
            call_when_idle(self._describe_idle)

    def _describe(self, yielding: bool = False) -> bool:
        """Frame and show the chunks forwarded so far, in order.
        ``yielding``: stop between two events as soon as I/O is waiting
        (True: all done; False: the rest waits)."""
        if self._unframed and self.framing:
            self._frame_events(yielding)
            if self._unframed:
                return False
        pending = self._pending
        first = True
        while pending:
            if not self.framing:
                pending.clear()
                self._pending_bytes = 0
                break
            if yielding and not first and self._io_waiting():
                return False
            first = False
            from_client, data = pending.popleft()
            self._pending_bytes -= len(data)
            if from_client:
                try:
                    self._emit_client(self.splitter.feed(data).pieces)
                except ProtocolError as exc:
                    self._lost_track(f"the client's bytes: {exc}")
            else:
                self._frame(data, yielding)
                if self._unframed:
                    return False
        return True

    def _server_ended(self, exc: BaseException | None) -> None:
        if self._done.is_set():
            return
        self._describe()
        if exc is not None:
            self._server_failed = True
            self.note(f"the server's connection failed: {exc}", "error")
        self.server_hung_up = not self.client_hung_up
        # A reply owed and none of it sent: the client can be told, in its
        # protocol, as when the server cannot be reached (SMTP 421 RFC 5321
        # 3.8, IMAP BYE, POP3 -ERR, HTTP 502).  Not inside a reply: a line
        # there would be read as part of it.
        told = self.framing and bool(self.framer.pending) and not self._answer_begun and not self.client_hung_up
        if self.framing:
            self._frame(b"")
        if told and (exc is not None or not self._closed_clean):  # not: HTTP's close, as announced
            with contextlib.suppress(TransportError):
                self.client.send(UNAVAILABLE[self.target.protocol])
            self.note("the client is told so in its protocol and disconnected")
        self._finish()

    def _frame(self, data: bytes, yielding: bool = False) -> bool:
        """Frame what the server sent and emit it; True when it agreed to
        STARTTLS (then ``framer.trailing_data`` is what came after).
        ``yielding``: see ``_frame_events``."""
        try:
            self.framer.receive_data(data)
        except ProtocolError as exc:
            self._lost_track(f"the server's bytes: {exc}")
            return False
        return self._frame_events(yielding)

    def _frame_events(self, yielding: bool = False) -> bool:
        """Emit the events the framer has; ``yielding``: stop after one
        when I/O is waiting (``_unframed``: the rest is still to come)."""
        framer = self.framer
        self._unframed = False
        try:
            while True:
                event = framer.next_event()
                if event is NEED_DATA:
                    return False
                assert isinstance(event, Event)
                if isinstance(event, ResponseEnd):
                    self._answer_begun = False
                elif not isinstance(event, ConnectionClosed):
                    self._answer_begun = True
                self._emit(Exchange("S", event.raw, event, time.time()))
                if isinstance(event, ConnectionClosed):
                    self._closed_clean = event.clean
                    if not event.clean:
                        # One line on stderr for the fault: this one, unless the
                        # connection failure (a reset) was that line already.
                        level: NoteLevel = "warning" if self._server_failed else "error"
                        self.note(f"the server closed the connection: {event.reason}", level)
                    return False
                if isinstance(event, ResponseEnd) and self._starttls_asked:
                    if event.starttls:
                        return True
                    if not framer.pending:
                        self._starttls_over()
                        asyncio.get_running_loop().call_soon(self._resume_client)
                if yielding and self._io_waiting():
                    self._unframed = True
                    return False
        except ProtocolError as exc:
            self._lost_track(f"the server's bytes: {exc}")
        return False

    def _lost_track(self, why: str) -> None:
        self.framing = False
        self.note(f"the framer cannot follow {why}; bytes are still forwarded, no longer shown", "warning")
        if self._starttls_asked:
            self._starttls_over()
            asyncio.get_running_loop().call_soon(self._resume_client)

    def _starttls_over(self) -> None:
        """The STARTTLS the client asked for is answered (or moot)."""
        self._starttls_asked = False

    async def _upgrade(self, reply: bytes, trailing: int) -> None:
        """Both legs to TLS after the server's go-ahead (``reply``).  Both
        legs queue meanwhile; ``start_tls`` drops what is queued (plaintext
        sent past the go-ahead), then delivery resumes over TLS."""
        up, client, opts = self._up(), self.client, self.options
        assert opts.client_tls is not None
        if opts.insecure:
            self.note("certificate verification of the server is OFF (--insecure)", "warning")
        try:
            info, queued = await up.start_tls(opts.upstream_context(), timeout=opts.timeout)
        except (TransportError, OSError, ssl.SSLError) as exc:
            self.note(f"STARTTLS with the server failed: {exc}", "error")
            self._finish()
            return
        self.framer.tls_started()
        if trailing + queued:
            self.note(
                f"discarded {trailing + queued} bytes of plaintext the server sent after accepting STARTTLS "
                "(RFC 3207 4.2: they could be an attacker's injection)",
                "warning",
            )
        self.note(f"server leg: {info.summary()}", "info" if info.verified else "warning")
        held, self._held = len(self._held), b""
        try:
            # The reply, then at once (no await between) the client leg's
            # upgrade: its ClientHello is the next thing it sends.
            client.send(reply)
            cinfo, cqueued = await client.start_tls(opts.client_tls, timeout=opts.timeout, server_side=True)
        except TransportError as exc:
            self.note(f"TLS handshake with the client failed: {exc} (does it trust the proxy's CA? see --ca-path)", "error")
            self._finish()
            return
        if held + cqueued:
            self.note(
                f"discarded {held + cqueued} bytes of plaintext the client sent after its STARTTLS "
                "before the TLS handshake (RFC 3207 4.2)",
                "warning",
            )
        self.note(self._client_tls_line(cinfo))
        self._starttls_over()
        if not self._done.is_set():
            self._deliver()
