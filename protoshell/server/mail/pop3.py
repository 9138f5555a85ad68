"""The teaching POP3 server: asyncio around ``proto.pop3_server.Pop3Server``.

Every protocol decision is made by the sans-IO state machine in
``protoshell/proto/pop3_server.py`` (tested there without sockets); this
module moves bytes, reads and deletes files, keeps time and does TLS:

- one ``asyncio.Protocol`` per client feeds the machine; a task per client
  carries out its actions in order (write, open the maildrop, stream a
  message, STLS, the UPDATE state);
- messages are streamed from the Maildir in chunks through a
  ``MessageEncoder`` (CRLF, byte-stuffing), waiting for the client to read
  (``pause_writing``), so a big message costs no memory;
- while a client pipelines without reading our answers, we stop reading
  from it (``pause_reading``), so its commands cannot pile up either;
- an idle client gets ``-ERR autologout`` after ``timeout`` seconds (RFC
  1939 3 says at least 10 minutes; the default is that) and is cut off; no
  messages are deleted then (no QUIT, no UPDATE state);
- one POP3 session per maildrop at a time (RFC 1939 4: the exclusive-access
  lock): a second login gets ``-ERR [IN-USE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Final

from ...proto.base import NEED_DATA
from ...proto.pop3_server import (
    Close,
    MessageEncoder,
    OpenMaildrop,
    Pop3Message,
    Pop3Server,
    Send,
    SendMessage,
    StartTls,
    Update,
)
from .maildir import CHUNK, MaildirStore

__all__ = ["DEFAULT_TIMEOUT", "Pop3Service", "pop3_greeting"]

#: RFC 1939 3: an autologout timer of at least 10 minutes.
DEFAULT_TIMEOUT: Final = 600.0
#: Stop reading from a client with this much unhandled input.
READ_HIGH_WATER: Final = 64 << 10
WRITE_HIGH_WATER: Final = 256 << 10
TLS_HANDSHAKE_TIMEOUT: Final = 30.0
#: Seconds a closing connection may take to deliver our last bytes.
CLOSE_GRACE: Final = 30.0

LogSink = Callable[[str], None]


def pop3_greeting(plaintext_login: bool) -> str:
    """The text after ``+OK`` in the greeting."""
    if plaintext_login:
        return "protoshell POP3 teaching server ready; USER/PASS allowed without TLS on loopback"
    return "protoshell POP3 teaching server ready; STLS first, then USER/PASS"


class Pop3Service:
    """POP3 for one account over one Maildir, in the running event loop.

    ``await start(host, port)``, then ``.port``; ``await close()`` stops
    listening and drops every connection.
    """

    def __init__(
        self,
        store: MaildirStore,
        accounts: Mapping[str, str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        plaintext_login: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        log: LogSink | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        self.store = store
        self.accounts = dict(accounts)
        self.ssl_context = ssl_context
        self.plaintext_login = plaintext_login
        self.timeout = float(timeout)
        self.log = log
        self.connections: set[_Pop3Connection] = set()
        self.locked: set[str] = set()  # users with an open maildrop
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the POP3 server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 1110) -> None:
        """Listen on ``host:port`` (0: a free port).  Raises OSError."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Pop3Connection(self),
            host,
            port,
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_address=True,
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)

    def new_machine(self) -> Pop3Server:
        return Pop3Server(
            self.accounts,
            greeting=pop3_greeting(self.plaintext_login),
            tls_available=self.ssl_context is not None,
            plaintext_login=self.plaintext_login,
        )


class _Pop3Connection(asyncio.Protocol):
    """One client: bytes into the machine, its actions carried out by a task."""

    def __init__(self, service: Pop3Service) -> None:
        self.service = service
        self.machine = service.new_machine()
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self._wakeup = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._reading_paused = False
        self._lost = False
        self._locked_user: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._early: list[bytes] | None = None  # data during the TLS handshake

    # -- asyncio callbacks -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "-"
        self.service.connections.add(self)
        self._task = self.loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        if self._early is not None:
            # Decrypted, while the handshake is being reported done: kept in
            # order for the machine (bounded: a client cannot have much to
            # say before it has even seen the end of the handshake).
            self._early.append(data)
            if sum(len(d) for d in self._early) > READ_HIGH_WATER:
                self.abort()
            return
        self.machine.receive_data(data)
        if self.machine.buffered > READ_HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._reading_paused = True
        self._wakeup.set()

    def eof_received(self) -> bool:
        if self._early is not None:
            self._early.append(b"")  # EOF, in order after the early data
            return True
        self.machine.receive_data(b"")
        self._wakeup.set()
        # Keep our side open to answer what was pipelined (a TLS transport
        # cannot stay half-open: asyncio closes it and says so if asked).
        return self.transport is None or self.transport.get_extra_info("ssl_object") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._wakeup.set()
        self._can_write.set()
        self.service.connections.discard(self)
        self._unlock()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # -- the work --------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._serve()
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self._say(f"pop3 {self.peer}: connection error: {exc}")
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception as exc:  # noqa: BLE001 - one client must not stop the server
            self._say(f"pop3 {self.peer}: internal error: {exc!r}")
            self.abort()
        finally:
            self._unlock()

    async def _serve(self) -> None:
        machine = self.machine
        while not self._lost:
            action = machine.next_action()
            if action is NEED_DATA:
                if self._reading_paused and self.transport is not None:
                    self.transport.resume_reading()
                    self._reading_paused = False
                if not await self._wait_for_input():
                    return
                continue
            if isinstance(action, Send):
                await self._write(action.data)
            elif isinstance(action, SendMessage):
                await self._send_message(action)
            elif isinstance(action, OpenMaildrop):
                self._open_maildrop(action.user)
            elif isinstance(action, Update):
                failed = 0
                for key in action.delete:
                    if not self.service.store.delete(key):
                        failed += 1
                self._say(
                    f"pop3 {self.peer}: QUIT, {len(action.delete) - failed} message(s) deleted"
                    + (f", {failed} could not be" if failed else "")
                )
                machine.update_done(failed)
            elif isinstance(action, StartTls):
                if not await self._start_tls():
                    return
                self._tls_ready()
            elif isinstance(action, Close):
                self._close()
                return

    async def _wait_for_input(self) -> bool:
        """Wait for the client; False when it is gone or timed out."""
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), self.service.timeout)
        except TimeoutError:
            if self.transport is not None and not self._lost:
                self.transport.write(self.machine.timeout_reply())
            self._say(f"pop3 {self.peer}: idle for {self.service.timeout:g} s, autologout")
            self._close()
            return False
        return not self._lost

    async def _write(self, data: bytes) -> None:
        if self._lost or self.transport is None:
            raise ConnectionResetError("the client went away")
        self.transport.write(data)
        if not self._can_write.is_set():
            try:
                await asyncio.wait_for(self._can_write.wait(), self.service.timeout)
            except TimeoutError:
                raise ConnectionError("the client stopped reading") from None
            if self._lost:
                raise ConnectionResetError("the client went away")

    def _open_maildrop(self, user: str) -> None:
        service = self.service
        if user in service.locked:
            # RFC 1939 4 (exclusive-access lock), RFC 2449 8.1.1 [IN-USE].
            self.machine.maildrop_failed(
                "[IN-USE] maildrop already locked: another POP3 session is open"
            )
            return
        try:
            stored = service.store.messages()
        except OSError as exc:
            self.machine.maildrop_failed(f"[SYS/TEMP] cannot open the maildrop: {exc.strerror}")
            return
        service.locked.add(user)
        self._locked_user = user
        self.machine.maildrop_opened([Pop3Message(m.key, m.wire_size) for m in stored])
        self._say(f"pop3 {self.peer}: {user} logged in, {len(stored)} message(s)")

    async def _send_message(self, action: SendMessage) -> None:
        try:
            f = self.service.store.open(action.key)
        except (KeyError, OSError):
            await self._write(action.error)
            return
        with f:
            await self._write(action.status)
            encoder = MessageEncoder(action.top)
            while not encoder.done:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                out = encoder.feed(chunk)
                if out:
                    await self._write(out)
        # A file that shrank underneath us still ends with CRLF and ".".
        await self._write(encoder.finish())

    async def _start_tls(self) -> bool:
        transport, context = self.transport, self.service.ssl_context
        assert transport is not None and context is not None
        await self._drain()
        # Awaited directly (not in a task): start_tls hands the socket to
        # TLS before its first suspension, so from here on data_received
        # only sees decrypted bytes; the plaintext before was discarded by
        # the machine (RFC 2595 4).  Decrypted bytes that arrive before the
        # handshake is reported done are kept for after tls_started().
        self._early = []
        try:
            new = await self.loop.start_tls(
                transport,
                self,
                context,
                server_side=True,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT,
            )
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError) as exc:
            self._early = None
            self._say(f"pop3 {self.peer}: TLS handshake failed: {exc}")
            self.abort()
            return False
        if new is None:
            self.abort()
            return False
        self.transport = new
        return True

    def _tls_ready(self) -> None:
        early, self._early = self._early or [], None
        self.machine.tls_started()
        for data in early:
            self.machine.receive_data(data)

    async def _drain(self) -> None:
        """Wait until what we wrote is handed to the kernel (before STLS)."""
        transport = self.transport
        for _ in range(1000):
            if transport is None or self._lost or transport.get_write_buffer_size() == 0:
                return
            await asyncio.sleep(0.005)

    # -- endings -----------------------------------------------------------------

    def _unlock(self) -> None:
        if self._locked_user is not None:
            self.service.locked.discard(self._locked_user)
            self._locked_user = None

    def _close(self) -> None:
        self._unlock()
        if self.transport is not None:
            self.transport.close()
            # close() waits for our last bytes to be read; a client that
            # never reads them must not hold the connection for ever.
            self.loop.call_later(min(self.service.timeout, CLOSE_GRACE), self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self._lost:
            self.abort()

    def abort(self) -> None:
        self._unlock()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.abort()
        self.service.connections.discard(self)

    def _say(self, line: str) -> None:
        if self.service.log is not None:
            self.service.log(line)
