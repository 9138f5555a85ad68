"""The embedded IMAP server: asyncio around ``ImapSession``.

This module moves bytes and keeps time; what to answer is decided in
``imap_session.py`` (over the sans-IO ``proto/imap_server.py`` and the
Maildir view ``imap_store.py``), where it is tested without sockets.

Per connection (an ``asyncio.Protocol`` and one task):

- commands are handled one at a time, in order, so pipelined commands (the
  lecture's re-ordered exchange) are answered in the order sent;
- output is written piece by piece; message data too big to keep in memory
  is copied from its file in chunks, waiting whenever the transport says
  ``pause_writing``; while the client sends faster than we parse, reading is
  paused, so memory stays bounded whatever the client does;
- STARTTLS (RFC 3501 6.2.1): after the tagged OK the connection is upgraded
  with ``loop.start_tls``; plaintext the client sent after the command is
  thrown away, never parsed;
- IDLE (RFC 2177): the Maildir is rescanned every ``POLL_INTERVAL`` seconds
  and new mail is pushed as ``* n EXISTS``;
- a client silent for ``timeout`` seconds (RFC 3501 5.4: at least 30
  minutes; the default) gets ``* BYE Autologout`` and is disconnected; so is
  one that stops reading what we write.

Entry points: ``start_imap_server`` (in a running loop; returns an
``asyncio.AbstractServer`` whose ``close()`` also says BYE to every client)
and ``running_imap`` (a context manager running the server on its own thread,
for tests and scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, cast

from ...proto.base import LocalProtocolError
from ...proto.imap_server import ImapServerLimits
from .imap_session import FileSpan, ImapSession, Output
from .imap_store import ImapStore

__all__ = ["POLL_INTERVAL", "ImapServer", "running_imap", "start_imap_server"]

#: How often a client in IDLE has the Maildir rescanned for news (seconds).
POLL_INTERVAL: Final = 0.5
#: Received bytes buffered before reading pauses (the parser's backlog).
READ_HIGH_WATER: Final = 1 << 20
WRITE_HIGH_WATER: Final = 256 << 10
COPY_CHUNK: Final = 256 << 10
TLS_HANDSHAKE_TIMEOUT: Final = 30.0

LogSink = Callable[[str], None]


def is_loopback(host: str) -> bool:
    """Whether a peer address is this machine (127.0.0.0/8, ::1, and
    IPv4-mapped loopback)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "localhost"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


class ImapServer(asyncio.AbstractServer):
    """The listening socket and its connections.  ``close()`` stops
    listening and ends every connection with ``* BYE`` (so that
    ``wait_closed`` returns even while clients idle)."""

    def __init__(
        self,
        store: ImapStore,
        *,
        user: str,
        password: str,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        plaintext_login: bool | None,
        limits: ImapServerLimits | None,
        log: LogSink | None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        self.store = store
        self.user = user
        self.password = password
        self.ssl_context = ssl_context
        self.timeout = float(timeout)
        self.plaintext_login = plaintext_login
        self.limits = limits
        self.log = log
        self.connections: set[_ImapProtocol] = set()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: _ImapProtocol(self),
            host,
            port,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_address=True,
            backlog=128,
        )

    # -- where it listens --------------------------------------------------------
    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        if self._server is None:
            return ()
        return tuple(self._server.sockets)

    @property
    def port(self) -> int:
        if not self.sockets:
            raise RuntimeError("the IMAP server is not listening")
        return int(self.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        if not self.sockets:
            raise RuntimeError("the IMAP server is not listening")
        return str(self.sockets[0].getsockname()[0])

    # -- asyncio.AbstractServer --------------------------------------------------
    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for proto in list(self.connections):
            proto.shutdown()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the IMAP server was never started")
        return self._loop

    def is_serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start_serving(self) -> None:
        if self._server is not None:
            await self._server.start_serving()

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("the IMAP server was never started")
        await self._server.serve_forever()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        tasks = [p.task for p in list(self.connections) if p.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)


async def start_imap_server(
    maildir: Path,
    host: str,
    port: int,
    *,
    user: str,
    password: str,
    ssl_context: ssl.SSLContext | None,
    timeout: float = 1800.0,
    plaintext_login: bool | None = None,
    limits: ImapServerLimits | None = None,
    log: LogSink | None = None,
) -> asyncio.AbstractServer:
    """Serve the Maildir at ``maildir`` over IMAP on ``host:port`` (0: a
    free port; read it back from ``server.sockets``) in the running loop.

    ``ssl_context`` (a server context) enables STARTTLS; None: no TLS.
    ``plaintext_login``: whether LOGIN/AUTHENTICATE PLAIN work without TLS;
    None (the default) allows them for loopback clients only, for teaching.
    ``timeout``: seconds of client silence before autologout.
    Raises OSError when the address cannot be bound.
    """
    server = ImapServer(
        ImapStore(maildir),
        user=user,
        password=password,
        ssl_context=ssl_context,
        timeout=timeout,
        plaintext_login=plaintext_login,
        limits=limits,
        log=log,
    )
    await server._listen(host, port)
    return server


class _ImapProtocol(asyncio.Protocol):
    """One client connection: bytes in, the session's output out."""

    def __init__(self, server: ImapServer) -> None:
        self.server = server
        self.loop = server._loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.session: ImapSession | None = None
        self.task: asyncio.Task[None] | None = None
        self.peer = "-"
        self._wake = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._lost = False
        self._reading_paused = False
        # While ``loop.start_tls`` runs, what data_received gets has come
        # through the new TLS layer (the plain transport was switched over
        # before the handshake began): the client's first protected
        # command, kept here until the session has left its STARTTLS state.
        self._upgrading = False
        self._early: list[bytes] = []
        self._deadline = self.loop.time() + server.timeout

    # -- asyncio callbacks ---------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Other event loops (uvloop) hand over transports that implement the
        # interface without subclassing it: typed, not asserted.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) and peer else "-"
        server = self.server
        plaintext = server.plaintext_login
        if plaintext is None:
            plaintext = is_loopback(self.peer)
        self.session = ImapSession(
            server.store,
            user=server.user,
            password=server.password,
            plaintext_login=plaintext,
            starttls_available=server.ssl_context is not None,
            limits=server.limits,
        )
        server.connections.add(self)
        self._log("connected")
        self.task = self.loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        if self._upgrading:
            self._early.append(data)
            return
        session.receive_data(data)
        self._deadline = self.loop.time() + self.server.timeout
        self._wake.set()
        overfull = session.conn.buffered > READ_HIGH_WATER
        if overfull and self.transport is not None and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        if self._upgrading:
            self._early.append(b"")
        elif self.session is not None:
            self.session.receive_data(b"")
        self._wake.set()
        # Keep our side open to answer what was received (plain TCP only:
        # asyncio's TLS transport cannot half-close).
        if self.transport is not None and self.transport.get_extra_info("sslcontext") is None:
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wake.set()
        self._can_write.set()
        self.server.connections.discard(self)
        if self.session is not None:
            self.session.close()  # an unfinished APPEND stays out of the mailbox

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- the work ------------------------------------------------------------
    async def _run(self) -> None:
        session = self.session
        assert session is not None
        try:
            await self._write(session.greeting())
            while not self._lost:
                out = session.step()
                if out is None:
                    if session.closed:
                        break
                    await self._wait_for_input()
                    continue
                for piece in out:
                    await self._write(piece)
                    if self._lost:
                        return
                if session.tls_pending:
                    await self._start_tls()
                if session.closed:
                    break
        except asyncio.CancelledError:
            raise
        except (OSError, ssl.SSLError, ConnectionError, TimeoutError) as exc:
            self._log(f"connection error: {type(exc).__name__}: {exc}")
            self.abort()
        except LocalProtocolError as exc:  # a bug in the session: lose one connection
            self._log(f"internal error: {exc}")
            self.abort()
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the server
            self._log(f"internal error: {type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):
                if self.transport is not None and not self._lost:
                    self.transport.write(b"* BYE [SERVERBUG] internal server error\r\n")
            self.abort()
        finally:
            session.close()
            self._close()

    async def _wait_for_input(self) -> None:
        """Wait for bytes from the client; meanwhile poll the mailbox for an
        IDLE client, and end a client that stays silent too long."""
        session = self.session
        assert session is not None and self.transport is not None
        if self._reading_paused and session.conn.buffered < READ_HIGH_WATER // 2:
            self._reading_paused = False
            self.transport.resume_reading()
        self._wake.clear()
        while not self._wake.is_set() and not self._lost:
            left = self._deadline - self.loop.time()
            if left <= 0:
                self._log("autologout")
                await self._write(session.autologout())
                return
            wait = min(left, POLL_INTERVAL) if session.idling else left
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            if session.idling and not self._wake.is_set():
                for line in session.poll():
                    await self._write(line)

    async def _write(self, piece: Output) -> None:
        transport = self.transport
        if transport is None or self._lost:
            if isinstance(piece, FileSpan):
                piece.file.close()
            return
        if isinstance(piece, FileSpan):
            await self._copy(piece)
            return
        if piece:
            transport.write(piece)
            await self._drain()

    async def _drain(self) -> None:
        if not self._can_write.is_set():
            try:
                await asyncio.wait_for(self._can_write.wait(), self.server.timeout)
            except TimeoutError:
                self._log("the client stopped reading; disconnecting")
                self.abort()

    async def _copy(self, span: FileSpan) -> None:
        """Copy a literal's octets from its file; a file that shrank breaks
        the promised {size}, so the connection is cut (never padded)."""
        transport = self.transport
        assert transport is not None
        try:
            span.file.seek(span.offset)
            left = span.size
            while left > 0 and not self._lost:
                chunk = span.file.read(min(COPY_CHUNK, left))
                if not chunk:
                    self._log("a message file shrank while it was sent; disconnecting")
                    self.abort()
                    return
                transport.write(chunk)
                left -= len(chunk)
                await self._drain()
        finally:
            span.file.close()

    async def _start_tls(self) -> None:
        session = self.session
        transport = self.transport
        context = self.server.ssl_context
        assert session is not None and transport is not None and context is not None
        # start_tls switches the plain transport over before its first await,
        # so from here on data_received only sees decrypted bytes.
        self._upgrading = True
        try:
            new = await self.loop.start_tls(
                transport,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        finally:
            self._upgrading = False
        if new is None:  # pragma: no cover - only when the transport closed meanwhile
            self.abort()
            return
        self.transport = new
        self._reading_paused = False
        dropped = len(session.conn.trailing_data)
        session.tls_started()  # RFC 3501 6.2.1: the plaintext after STARTTLS is dropped
        early, self._early = self._early, []
        for data in early:
            if data:
                self.data_received(data)
            else:
                self.eof_received()
        self._log("TLS started" + (f"; {dropped} plaintext bytes discarded" if dropped else ""))

    # -- ending ----------------------------------------------------------------
    def shutdown(self) -> None:
        """The server is closing: say BYE and close."""
        session = self.session
        if session is not None and not session.closed and self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.write(session.shutdown())
        self._close()
        if self.task is not None:
            self.task.cancel()

    def _close(self) -> None:
        self.server.connections.discard(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        self._lost = True
        self.server.connections.discard(self)
        if self.transport is not None:
            self.transport.abort()

    def _log(self, text: str) -> None:
        if self.server.log is not None:
            self.server.log(f"imap {self.peer}: {text}")


@contextlib.contextmanager
def running_imap(
    maildir: Path | str,
    user: str,
    password: str,
    ssl_context: ssl.SSLContext | None = None,
    **options: Any,
) -> Iterator[tuple[str, int]]:
    """Run the IMAP server on 127.0.0.1 (a free port) on its own thread;
    yields ``(host, port)``.  ``options`` go to ``start_imap_server``
    (``timeout``, ``plaintext_login``, ``limits``, ``log``)."""
    ready = threading.Event()
    stop: asyncio.Event | None = None
    loop_box: list[asyncio.AbstractEventLoop] = []
    result: dict[str, Any] = {}

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        loop_box.append(asyncio.get_running_loop())
        try:
            server = await start_imap_server(
                Path(maildir),
                "127.0.0.1",
                0,
                user=user,
                password=password,
                ssl_context=ssl_context,
                **options,
            )
        except Exception as exc:  # noqa: BLE001 - handed to the starting thread
            result["error"] = exc
            ready.set()
            return
        assert isinstance(server, ImapServer)
        result["address"] = (server.host, server.port)
        ready.set()
        try:
            await stop.wait()
        finally:
            server.close()
            await server.wait_closed()

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name="protoshell-imap", daemon=True
    )
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("the IMAP server did not start within 15 seconds")
    if "error" in result:
        thread.join(5)
        raise result["error"]
    try:
        yield result["address"]
    finally:
        if loop_box and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop_box[0].call_soon_threadsafe(stop.set)
        thread.join(10)
