"""Moves bytes over TCP or TLS with asyncio; knows nothing of any protocol.

This is the one layer that touches sockets and ssl.  ``Transport`` uses a plain
``asyncio.Protocol`` rather than streams because STARTTLS needs exact control
of what was received before the handshake: ``start_tls`` returns (and drops)
every plaintext byte still queued, so none of it can ever be mistaken for
data that came over TLS (RFC 3207 section 4.2, RFC 2595 section 3.1).

``BlockingTransport`` has the same interface on a blocking socket, for
batch runs (``protoshell replay`` with nothing interactive) where the only
thing the program does is wait for the next answer: each exchange then costs
one ``recv`` and one ``send``, not a round of the event loop per chunk and a
task switch per response, the difference between a replay being slower or
faster than a loop of ``smtplib`` calls.  Its methods are coroutines that
never suspend, so the session code is the same for both.

``new_event_loop`` makes the loop ``protoshell proxy`` runs on: its
``BusyPollSelector`` stays awake a moment after I/O instead of sleeping at
once (a relay's turn would otherwise pay two wake-ups more than a direct
one), and runs work that can wait (``call_when_idle``) only when no I/O is.

Every wait has a timeout; every failure becomes a ``TransportError`` whose
message is one line a person can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, cast

READ_HIGH_WATER = 1 << 20  # pause the socket when this much is queued unread
READ_LOW_WATER = 256 << 10


class TransportError(Exception):
    """A network failure, with ``kind`` in: refused, dns, timeout, reset, tls, closed, os."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class TlsInfo:
    """What a person wants to know after a handshake, in one line."""

    version: str
    cipher: str
    subject: str
    issuer: str
    not_after: str
    verified: bool

    def summary(self) -> str:
        who = f"subject {self.subject}, issuer {self.issuer}, expires {self.not_after}" if self.subject else "certificate details unavailable"
        check = "verified" if self.verified else "NOT verified (--insecure)"
        return f"TLS {self.version} {self.cipher}; {who}; {check}"


def make_ssl_context(*, insecure: bool = False, cafile: str | None = None) -> ssl.SSLContext:
    """A client context that verifies against the system store (or cafile)
    unless the user explicitly said --insecure."""
    ctx = ssl.create_default_context(cafile=cafile)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _name(parts: Any) -> str:
    try:
        return ", ".join(f"{k}={v}" for rdn in parts for (k, v) in rdn)
    except (TypeError, ValueError):
        return "?"


def _tls_info(transport: asyncio.BaseTransport, verified: bool) -> TlsInfo:
    return _tls_info_of(transport.get_extra_info("ssl_object"), verified)


def _tls_info_of(obj: ssl.SSLObject | ssl.SSLSocket | None, verified: bool) -> TlsInfo:
    if obj is None:
        return TlsInfo("?", "?", "", "", "", verified)
    cipher = obj.cipher()
    cert = obj.getpeercert() or {}
    return TlsInfo(
        version=obj.version() or "?",
        cipher=cipher[0] if cipher else "?",
        subject=_name(cert.get("subject", ())) if cert else "",
        issuer=_name(cert.get("issuer", ())) if cert else "",
        not_after=str(cert.get("notAfter", "")) if cert else "",
        verified=verified,
    )


def _describe(exc: BaseException, host: str, port: int) -> TransportError:
    where = f"{host}:{port}"
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransportError("tls", f"TLS certificate of {where} rejected: {exc.verify_message or exc.reason} (use --cafile FILE, or --insecure to skip verification)")
    if isinstance(exc, ssl.SSLError):
        return TransportError("tls", f"TLS handshake with {where} failed: {exc.reason or exc}")
    if isinstance(exc, socket.gaierror):
        return TransportError("dns", f"unknown host {host!r}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return TransportError("refused", f"connection refused by {where} (is a server listening there?)")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return TransportError("reset", f"connection reset by {where}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return TransportError("timeout", f"timed out talking to {where}")
    if isinstance(exc, OSError):
        return TransportError("os", f"network error with {where}: {exc.strerror or exc}")
    return TransportError("os", f"network error with {where}: {exc}")


@contextlib.contextmanager
def _connecting(host: str, port: int, timeout: float) -> Iterator[None]:
    """What can go wrong while connecting, as one TransportError."""
    try:
        yield
    except TimeoutError:
        raise TransportError("timeout", f"timed out after {timeout:g} s connecting to {host}:{port}") from None
    except (OSError, ssl.SSLError) as exc:
        raise _describe(exc, host, port) from None
    except UnicodeError:
        raise TransportError("dns", f"invalid host name {host!r}") from None


class _Pipe(asyncio.Protocol):
    """Queues received chunks with flow control; wakes one reader.

    Or, while ``on_data`` is set (``Transport.deliver_to``), hands each
    chunk to it at once, in the loop's callback, with no task switch: what
    a proxy forwarding small turns wants.  ``on_end`` then hears of the EOF
    or the loss (with its error), once; ``on_writable`` of the peer's
    pausing and resuming our writes (False, True)."""

    def __init__(self, on_made: Callable[[_Pipe], None] | None = None) -> None:
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.eof = False
        # True: an EOF from the peer closes only its sending side and we may
        # still write (a half-close, which a proxy passes on); plain TCP only
        # (asyncio's TLS transport cannot keep a half-closed connection).
        self.keep_open_on_eof = False
        self._on_made = on_made
        self.on_data: Callable[[bytes], None] | None = None
        self.on_end: Callable[[BaseException | None], None] | None = None
        self.on_writable: Callable[[bool], None] | None = None
        self.held = False  # reading paused by the owner (a slow peer), not by the queue
        self._ended = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._can_write = asyncio.Event()
        self._can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Other event loops (uvloop) hand over transports that implement the
        # interface without subclassing it: typed, not asserted.
        self.transport = cast(asyncio.Transport, transport)
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.on_data is not None:
            self.on_data(data)
            return
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > READ_HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        self._tell_end(None)
        return self.keep_open_on_eof

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._can_write.set()
        self._wake()
        self._tell_end(exc)

    def _tell_end(self, exc: BaseException | None) -> None:
        if self.on_end is not None and not self._ended and not self.chunks:
            self._ended = True
            self.on_end(exc)

    def pause_writing(self) -> None:
        self._can_write.clear()
        if self.on_writable is not None:
            self.on_writable(False)

    def resume_writing(self) -> None:
        self._can_write.set()
        if self.on_writable is not None:
            self.on_writable(True)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> bytes:
        data = self.chunks.popleft()
        self.queued -= len(data)
        if self._paused and self.queued < READ_LOW_WATER and self.transport is not None:
            self._paused = False
            if not self.held:
                self.transport.resume_reading()
        return data

    def discard(self) -> int:
        n = self.queued
        self.chunks.clear()
        self.queued = 0
        return n

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Transport:
    """One TCP connection, maybe TLS; counts bytes both ways."""

    def __init__(self, host: str, port: int, pipe: _Pipe, transport: asyncio.Transport) -> None:
        self.host = host
        self.port = port
        self._pipe = pipe
        self._transport = transport
        self.bytes_in = 0
        self.bytes_out = 0
        self.tls: TlsInfo | None = None
        self.closed = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> Transport:
        """Connect (with TLS from the start when ssl_context is given)."""
        loop = asyncio.get_running_loop()
        with _connecting(host, port, timeout):
            transport, pipe = await asyncio.wait_for(
                loop.create_connection(
                    _Pipe,
                    host,
                    port,
                    ssl=ssl_context,
                    server_hostname=host if ssl_context is not None else None,
                    ssl_handshake_timeout=timeout if ssl_context is not None else None,
                ),
                timeout,
            )
        self = cls(host, port, pipe, transport)
        if ssl_context is not None:
            self.tls = _tls_info(transport, ssl_context.verify_mode != ssl.CERT_NONE)
        return self

    @property
    def local_address(self) -> tuple[str, int] | None:
        addr = self._transport.get_extra_info("sockname")
        return (addr[0], addr[1]) if addr else None

    async def read(self, timeout: float | None) -> bytes:
        """The next chunk received; ``b""`` at EOF.  Raises TransportError on
        timeout or a reset (the bytes before a reset are still returned first)."""
        pipe = self._pipe
        if not pipe.chunks and not pipe.eof:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: see Session.wait_turn
                    await pipe.wait()
            except TimeoutError:
                raise TransportError("timeout", f"no answer from {self.host}:{self.port} within {timeout:g} s") from None
        if pipe.chunks:
            data = pipe.take()
            self.bytes_in += len(data)
            return data
        if pipe.error is not None and not isinstance(pipe.error, ssl.SSLError):
            err = pipe.error
            pipe.error = None
            raise _describe(err, self.host, self.port)
        return b""

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        self.send(data)
        await self.drain(timeout)

    def send(self, data: bytes) -> None:
        """Hand ``data`` to the kernel (or asyncio's buffer) now, without
        waiting; ``drain`` then waits while the peer is slow to read."""
        if self.closed or self._transport.is_closing():
            raise TransportError("closed", f"connection to {self.host}:{self.port} is closed")
        self._transport.write(data)
        self.bytes_out += len(data)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait while more than asyncio's high-water mark is buffered
        unsent: the back-pressure that keeps a slow peer from making us
        buffer without limit."""
        if not self._pipe._can_write.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._pipe._can_write.wait()
            except TimeoutError:
                raise TransportError("timeout", f"{self.host}:{self.port} stopped reading for {timeout:g} s") from None

    def write_eof(self) -> None:
        """Pass a half-close on (plain TCP); close when the transport cannot
        (TLS)."""
        if self.closed or self._transport.is_closing():
            return
        if self._transport.can_write_eof():
            self._transport.write_eof()
        else:
            self._transport.close()

    def deliver_to(
        self,
        on_data: Callable[[bytes], None],
        on_end: Callable[[BaseException | None], None],
        on_writable: Callable[[bool], None] | None = None,
    ) -> None:
        """From now on hand every chunk received to ``on_data`` as it comes
        (after the ones already queued, at once), and the EOF or the loss
        of the connection to ``on_end`` (once).  ``read`` is not to be used
        meanwhile; ``stop_delivery`` queues again."""
        pipe = self._pipe
        pipe.on_end = on_end
        pipe.on_writable = on_writable
        pipe.on_data = on_data
        # (on_data may stop the delivery again: the rest stays queued)
        while pipe.chunks and pipe.on_data is on_data:
            on_data(pipe.take())
        if pipe.eof and pipe.on_data is on_data:
            pipe._tell_end(pipe.error)

    def stop_delivery(self) -> None:
        """Queue received chunks again (for ``read``, or to be discarded by
        ``start_tls``)."""
        self._pipe.on_data = None

    def hold_for(self, writable: bool) -> None:
        """``on_writable`` of the leg our bytes go to: hold reading while it
        cannot take more."""
        self.hold(not writable)

    def hold(self, on: bool) -> None:
        """Pause (or resume) reading from the peer: back-pressure from
        whoever the bytes are for."""
        pipe = self._pipe
        if pipe.held == on:
            return
        pipe.held = on
        if pipe._paused or self.closed or self._transport.is_closing():
            return  # the queue's own pause stands (take() resumes unless held)
        if on:
            self._transport.pause_reading()
        else:
            self._transport.resume_reading()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, *, timeout: float, server_side: bool = False
    ) -> tuple[TlsInfo, int]:
        """Upgrade to TLS.  Returns the TLS summary and how many plaintext
        bytes were still queued unread and have been thrown away.
        ``server_side``: we answer the handshake (a proxy's client leg)."""
        discarded = self._pipe.discard()
        self._pipe.keep_open_on_eof = False  # see _Pipe: TLS has no half-close
        self._pipe.held = False  # the new transport reads
        loop = asyncio.get_running_loop()
        try:
            new = await asyncio.wait_for(
                loop.start_tls(
                    self._transport,
                    self._pipe,
                    ssl_context,
                    server_side=server_side,
                    server_hostname=None if server_side else self.host,
                    ssl_handshake_timeout=timeout,
                ),
                timeout + 1,
            )
        except TimeoutError:
            raise TransportError("timeout", f"TLS handshake with {self.host}:{self.port} timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise _describe(exc, self.host, self.port) from None
        if new is None:
            raise TransportError("closed", f"{self.host}:{self.port} closed the connection during the TLS handshake")
        self._transport = new
        self._pipe.transport = new
        self.tls = _tls_info(new, server_side or ssl_context.verify_mode != ssl.CERT_NONE)
        return self.tls, discarded

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._transport.close()
        # Give the loop a moment to deliver connection_lost; never hang.
        for _ in range(5):
            if self._pipe.eof:
                break
            await asyncio.sleep(0)


# sched_yield(2) where there is one (not on Windows).
_yield_cpu: Callable[[], None] = getattr(os, "sched_yield", lambda: time.sleep(0))


class BusyPollSelector(selectors.DefaultSelector):
    """The event loop's selector for a program that relays small turns
    (``protoshell proxy``): two things the plain one does not do.

    - It stays awake a moment (``spin`` seconds) after I/O before it
      sleeps, polling without blocking and yielding the CPU to anything
      else runnable (``sched_yield``) between two looks.  A turn through
      a relay wakes it twice; on this kind of (virtual) machine a wake-up
      from ``epoll_wait`` costs tens of microseconds, each time, while a
      poll that finds the bytes already there costs one.  The peers answer
      within that moment in a quick exchange; when they do not, the loop
      sleeps as usual, so an idle connection costs nothing.
    - Work that can wait (``call_when_idle``: a proxy's framing and view)
      runs only when no I/O is ready, one callback at a time with a poll
      in between: bytes that arrive meanwhile are forwarded first.

    ``loop`` is set by ``new_event_loop``; without it idle work is handed
    to ``call_soon`` (a plain loop behaves as before)."""

    spin = 0.0005  # seconds; 0: sleep at once, as a plain selector does

    def __init__(self, spin: float | None = None) -> None:
        super().__init__()
        if spin is not None:
            self.spin = spin
        self.loop: asyncio.AbstractEventLoop | None = None
        self.idle: deque[Callable[[], None]] = deque()
        self._awake_until = 0.0
        # io_waiting's look: the epoll object's own (1 us) where there is
        # one, else a select (3 us).
        epoll = getattr(self, "_selector", None) if isinstance(self, getattr(selectors, "EpollSelector", ())) else None
        self._peek: Callable[[], object] = (
            (lambda: epoll.poll(0, 1)) if epoll is not None else (lambda: super(BusyPollSelector, self).select(0))
        )

    def io_waiting(self) -> bool:
        """Whether some I/O is ready now (it stays ready for the loop's own
        poll: level-triggered)."""
        return bool(self._peek())

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events:
            self._awake_until = time.monotonic() + self.spin
            return events
        if timeout is not None and timeout <= 0:
            return events
        if self.idle and self.loop is not None:
            # Nothing to read or write: the loop runs one piece of the
            # work that could wait, then comes back here.
            self.loop.call_soon(self.idle.popleft())
            return events
        start = now = time.monotonic()
        until = self._awake_until
        if timeout is not None:
            until = min(until, start + timeout)
        peek = self._peek
        while now < until:
            if peek():
                events = super().select(0)
                self._awake_until = time.monotonic() + self.spin
                return events
            # Anything else runnable on this CPU (often the very peer we
            # are waiting for: the kernel wakes a receiver on the sender's
            # CPU) goes first.
            _yield_cpu()
            now = time.monotonic()
        if timeout is not None:
            timeout = max(0.0, timeout - (now - start))
        events = super().select(timeout)
        if events:
            self._awake_until = time.monotonic() + self.spin
        return events


class _BusyPollLoop(asyncio.SelectorEventLoop):
    """A selector loop that knows its ``BusyPollSelector``."""

    def __init__(self, spin: float | None = None) -> None:
        self.busy_selector = BusyPollSelector(spin)
        super().__init__(self.busy_selector)
        self.busy_selector.loop = self


def new_event_loop(spin: float | None = None) -> asyncio.AbstractEventLoop:
    """An event loop on a ``BusyPollSelector`` that stays awake ``spin``
    seconds after I/O (its default without; 0 never); for
    ``asyncio.Runner``'s ``loop_factory``."""
    return _BusyPollLoop(spin)


def _busy_selector() -> BusyPollSelector | None:
    loop = asyncio.get_running_loop()
    return loop.busy_selector if isinstance(loop, _BusyPollLoop) else None


def _no_io_waiting() -> bool:
    return False


def io_waiting_check() -> Callable[[], bool]:
    """For work done when idle (``call_when_idle``) in small pieces: a
    function that says whether I/O is waiting in the running loop, so that
    the work can stop and let it through (always False on another loop)."""
    selector = _busy_selector()
    return _no_io_waiting if selector is None else selector.io_waiting


def call_when_idle(callback: Callable[[], None]) -> None:
    """Run ``callback`` in the running loop once no I/O is ready (see
    ``BusyPollSelector``); on another loop, at its next iteration."""
    selector = _busy_selector()
    if selector is None:
        asyncio.get_running_loop().call_soon(callback)
    else:
        selector.idle.append(callback)


async def listen(
    host: str, port: int, on_accept: Callable[[Transport], Coroutine[Any, Any, None]], *, tls_first: bool = False
) -> asyncio.Server:
    """Accept TCP connections on host:port; each becomes a ``Transport``
    (``host``/``port``: the peer's address) handed to ``on_accept`` in a
    task of its own.  Reading may stay half-open after the peer's EOF
    (``_Pipe.keep_open_on_eof``).  ``tls_first``: the caller starts with
    ``start_tls(server_side=True)``; nothing is read before, so the
    client's ClientHello is not taken for plaintext (and thrown away).
    Raises OSError (a port in use...)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def made(pipe: _Pipe) -> None:
        assert pipe.transport is not None
        peer = pipe.transport.get_extra_info("peername") or ("?", 0)
        if tls_first:
            pipe.transport.pause_reading()  # start_tls resumes it, for the handshake
        pipe.keep_open_on_eof = True
        task = loop.create_task(on_accept(Transport(str(peer[0]), int(peer[1]), pipe, pipe.transport)))
        tasks.add(task)  # a strong reference until it ends
        task.add_done_callback(tasks.discard)

    return await loop.create_server(lambda: _Pipe(made), host, port)


_EOF_ERRORS = (ssl.SSLZeroReturnError, ssl.SSLEOFError)
RECV_SIZE = 256 << 10  # as asyncio reads: one Payload chunk per read
# A socket timeout past what time_t holds (inf, 1e10) is an OverflowError
# from deep inside: a longer timeout waits this long (a year: "forever").
MAX_WAIT = 365 * 86400.0


def _set_kernel_timeout(sock: socket.socket, option: int, seconds: float) -> None:
    whole = int(seconds)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("ll", whole, int((seconds - whole) * 1e6)))


class BlockingTransport:
    """``Transport``'s interface on a blocking socket (see the module
    docstring).  Only for a task that is the only thing its loop runs: a
    read blocks the whole loop until data comes or ``timeout`` passes.

    On plain TCP the timeouts are the kernel's (SO_RCVTIMEO, SO_SNDTIMEO),
    so a send or a receive is one system call; Python's own socket timeout
    would add a poll before each.  TLS sockets need Python's timeout (the
    ssl module retries a blocking read forever otherwise), so after a
    handshake they use it."""

    def __init__(self, host: str, port: int, sock: socket.socket, timeout: float) -> None:
        self.host = host
        self.port = port
        self._sock: socket.socket = sock
        self._timeout = timeout  # for writes
        self._read_timeout = -1.0  # SO_RCVTIMEO (or Python's timeout, TLS) as set now
        self.bytes_in = 0
        self.bytes_out = 0
        self.tls: TlsInfo | None = None
        self.closed = False
        self._eof = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> BlockingTransport:
        timeout = min(timeout, MAX_WAIT)
        with _connecting(host, port, timeout):
            sock = socket.create_connection((host, port), timeout=timeout)
        # As asyncio does for its TCP transports: a command is one small
        # write that must leave now, not wait for Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self = cls(host, port, sock, timeout)
        if ssl_context is not None:
            self._handshake(ssl_context)
        else:
            sock.settimeout(None)
            _set_kernel_timeout(sock, socket.SO_SNDTIMEO, timeout)
        return self

    def _handshake(self, ssl_context: ssl.SSLContext) -> None:
        sock = self._sock
        sock.settimeout(self._timeout)
        try:
            self._sock = ssl_context.wrap_socket(sock, server_hostname=self.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            self.closed = True
            raise _describe(exc, self.host, self.port) from None
        assert isinstance(self._sock, ssl.SSLSocket)
        self._read_timeout = self._timeout
        self.tls = _tls_info_of(self._sock, ssl_context.verify_mode != ssl.CERT_NONE)

    @property
    def local_address(self) -> tuple[str, int] | None:
        try:
            addr = self._sock.getsockname()
        except OSError:
            return None
        return (addr[0], addr[1])

    async def read(self, timeout: float | None) -> bytes:
        """The next chunk received; ``b""`` at EOF.  ``timeout``: how long
        to wait for it (None: the session's timeout; 0: only what has
        arrived already); when it passes, TransportError("timeout")."""
        if self._eof:
            return b""
        if timeout is None:
            timeout = self._timeout
        timeout = min(timeout, MAX_WAIT)
        sock = self._sock
        try:
            if self.tls is not None:
                if timeout != self._read_timeout:
                    sock.settimeout(timeout)
                    self._read_timeout = timeout
                data = sock.recv(RECV_SIZE)
            elif timeout <= 0:
                data = sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
            else:
                if timeout != self._read_timeout:
                    _set_kernel_timeout(sock, socket.SO_RCVTIMEO, timeout)
                    self._read_timeout = timeout
                data = sock.recv(RECV_SIZE)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError):
            raise TransportError("timeout", f"no answer from {self.host}:{self.port} within {timeout:g} s") from None
        except _EOF_ERRORS:
            data = b""
        except (OSError, ssl.SSLError) as exc:
            self._eof = True
            raise _describe(exc, self.host, self.port) from None
        if not data:
            self._eof = True
        self.bytes_in += len(data)
        return data

    async def write(self, data: bytes, timeout: float | None = None) -> None:
        """Send all of ``data``; the session's timeout applies (``timeout``
        is accepted for ``Transport``'s signature)."""
        self.send_now(data)

    def send_now(self, data: bytes) -> None:
        """``write`` without the coroutine, for a caller that is not one."""
        if self.closed:
            raise TransportError("closed", f"connection to {self.host}:{self.port} is closed")
        sock = self._sock
        try:
            if self.tls is not None and self._read_timeout != self._timeout:
                sock.settimeout(self._timeout)
                self._read_timeout = self._timeout
            sock.sendall(data)
        except (TimeoutError, BlockingIOError):
            raise TransportError("timeout", f"{self.host}:{self.port} stopped reading for {self._timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise _describe(exc, self.host, self.port) from None
        self.bytes_out += len(data)

    async def start_tls(self, ssl_context: ssl.SSLContext, *, timeout: float) -> tuple[TlsInfo, int]:
        """Upgrade to TLS.  Plaintext that already arrived (in the kernel's
        buffer, unread) is read and thrown away first, as ``Transport``
        does, so not one byte of it can be taken for TLS data."""
        discarded = 0
        sock = self._sock
        while not self._eof:
            try:
                chunk = sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                raise _describe(exc, self.host, self.port) from None
            if not chunk:
                raise TransportError("closed", f"{self.host}:{self.port} closed the connection before the TLS handshake")
            discarded += len(chunk)
        # Back to Python's timeouts (see the class docstring).
        _set_kernel_timeout(sock, socket.SO_RCVTIMEO, 0)
        _set_kernel_timeout(sock, socket.SO_SNDTIMEO, 0)
        self._timeout = timeout
        self._handshake(ssl_context)
        assert self.tls is not None
        return self.tls, discarded

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._sock.close()
