"""The embedded HTTP server: raw asyncio sockets around ``ServerConnection``.

The lab's server, done as a real one.  This module only moves bytes and
keeps time; every decision about what to answer is made in
``connection.py`` (which uses the sans-IO framer of ``proto/http.py``) and
``routes.py``, where it is tested without sockets.

Per connection (an ``asyncio.Protocol``, the fastest asyncio interface):

- requests are answered in order, pipelined ones too; a small body goes out
  in the same write as its head, and the replies made in one pass of the
  event loop are written together at its end (see ``_Writes``); a big file
  with ``loop.sendfile``
  (``os.sendfile``: zero-copy, never held in memory), in pieces so that
  progress can be watched (a download slower than ``MIN_DOWNLOAD_RATE`` for
  ``timeout`` seconds is cut; a slow but steady one is not);
- flow control: while the client does not read what we write (the transport
  says ``pause_writing``) or a file is being sent, we stop reading, so a
  client that pipelines without reading cannot make us buffer without end;
- deadlines: a client must deliver each complete request head within
  ``timeout`` seconds of the previous response (or of connecting): one that
  idles or trickles its request byte by byte gets ``408 Request Timeout`` and
  is disconnected, while others are served (RFC 9110 15.5.9).  A file send or
  a close that makes no progress for ``timeout`` seconds is aborted.  One
  sweeper task checks all deadlines a few times per ``timeout`` instead of a
  timer per request;
- closing (RFC 9112 9.6, "the TCP reset problem"): the server half-closes
  (FIN after its last reply) and reads on, discarding, until the client
  closes too or the deadline passes.  A plain close with the client's next
  bytes unread makes the kernel send a reset, which can destroy the reply
  before the client reads it (``printf 'GET /\\n\\n' | protoshell ...``: the
  400 for ``GET /`` and the empty line after it crossed).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Final, cast

from ..proto.base import Limits
from .connection import Reply, ServerConnection
from .routes import Router

#: A file is sent in pieces and the deadline is renewed after each one, so a
#: download is cut only when it runs slower than this for ``timeout`` seconds.
MIN_DOWNLOAD_RATE: Final = 64 << 10  # bytes per second
SENDFILE_PIECE_MIN: Final = 64 << 10
SENDFILE_PIECE_MAX: Final = 16 << 20
WRITE_HIGH_WATER: Final = 256 << 10

LogSink = Callable[[str], None]


class HttpServer:
    """Serves one document root on one listening socket, in the running loop.

    ``await start(host, port)``, then ``.port``; ``await close()`` stops
    listening and drops every connection.  ``log`` gets one access-log line
    per response (None: no log).
    """

    def __init__(
        self,
        root: str,
        *,
        timeout: float = 15.0,
        limits: Limits | None = None,
        log: LogSink | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        self.router = Router(root)
        self.timeout = float(timeout)
        self.sendfile_piece = int(
            min(max(self.timeout * MIN_DOWNLOAD_RATE, SENDFILE_PIECE_MIN), SENDFILE_PIECE_MAX)
        )
        self.limits = limits
        self.log = log
        self.connections: set[_HttpProtocol] = set()
        self._writes = _Writes()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return str(self._server.sockets[0].getsockname()[0])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0: a free port).  Raises OSError (address
        in use, permission denied, unknown address) before accepting anything."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(
            lambda: _HttpProtocol(self),
            host,
            port,
            # One address only, so that port 0 means one port: "localhost"
            # is 127.0.0.1 here, not also ::1 on another random port.
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            reuse_address=True,
            backlog=256,
        )
        self._sweeper = loop.create_task(self._sweep())

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() the server first")
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening, drop all connections, stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        if self._server is not None:
            self._server.close()
        for proto in list(self.connections):
            proto.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let connection_lost callbacks run

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        tick = min(1.0, self.timeout / 5)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for proto in list(self.connections):
                if now >= proto.deadline:
                    try:
                        proto.deadline_passed()
                    except Exception:  # noqa: BLE001 - one bad connection must not stop the sweeper
                        proto.abort()


class _Writes:
    """Replies wait for the end of the event loop's pass, then go out.

    In one pass the loop hands over the data of every connection that has
    some.  Answering each at once means one ``send`` per reply, spaced by the
    work for the next request; on loopback (a benchmark, a reverse proxy on
    the same host) each such send finds the client process asleep and has to
    wake it, which (measured with perf, 2 vCPUs) took about a third of the
    server's time for small files.  Sent back to back, the replies find it
    awake.  The price: a reply waits for the rest of its pass, i.e. for the
    requests of other connections that arrived at the same moment.

    A connection's bytes keep their order; they are written at once when
    ``WRITE_HIGH_WATER`` of them wait (so flow control works as before), and
    before a file or a close.
    """

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: list[_HttpProtocol] = []

    def add(self, proto: _HttpProtocol, loop: asyncio.AbstractEventLoop) -> None:
        """``proto`` has replies to write at the end of this pass."""
        if not self._waiting:
            loop.call_soon(self._write_all)
        self._waiting.append(proto)

    def _write_all(self) -> None:
        waiting, self._waiting = self._waiting, []
        for proto in waiting:
            proto.flush()


class _HttpProtocol(asyncio.Protocol):
    """One client connection: bytes in, replies out, deadlines kept."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server._loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: ServerConnection | None = None
        self.deadline = self.loop.time() + server.timeout
        self._busy = False  # a file is being sent
        self._write_paused = False
        self._closing = False
        self._lingering = False  # half-closed: reading and discarding until the client closes
        self._send_task: asyncio.Task[None] | None = None
        self._unsent: list[bytes] = []  # replies waiting for the end of the pass
        self._unsent_size = 0

    # -- asyncio callbacks ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Other event loops (uvloop) hand over transports that implement the
        # interface without subclassing it: typed, not asserted.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        peer = transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else "-"
        self.conn = ServerConnection(
            self.server.router, peer=host, limits=self.server.limits, log=self.server.log
        )
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        if self._lingering:
            return  # after our last reply: read only so that the close is clean
        self.conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        assert self.conn is not None
        if self._lingering:
            if self.transport is not None:
                self.transport.close()  # both sides are done
            return False
        self.conn.receive_data(b"")
        self._pump()
        # Keep our side open to answer requests already received; _pump
        # closes once the connection has nothing more to say.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._drop_unsent()
        self.server.connections.discard(self)
        if self._send_task is not None:
            self._send_task.cancel()

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.transport is not None and not self._closing:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and not self._closing and not self._busy:
            self.transport.resume_reading()
            self._pump()

    # -- the work ------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        """Write ``data`` at the end of this pass of the loop (see ``_Writes``),
        or now once that much is waiting."""
        if not self._unsent:
            self.server._writes.add(self, self.loop)
        self._unsent.append(data)
        self._unsent_size += len(data)
        if self._unsent_size >= WRITE_HIGH_WATER:
            self.flush()  # may pause_writing, which stops _pump

    def flush(self) -> None:
        """Write the replies waiting for the end of the pass, now."""
        unsent = self._unsent
        if not unsent or self.transport is None:
            return
        data = unsent[0] if len(unsent) == 1 else b"".join(unsent)
        self._drop_unsent()
        self.transport.write(data)

    def _drop_unsent(self) -> None:
        self._unsent = []
        self._unsent_size = 0

    def _pump(self) -> None:
        """Write replies for every complete request buffered, in order."""
        conn, transport = self.conn, self.transport
        assert conn is not None and transport is not None
        while not (self._busy or self._write_paused or self._closing):
            reply = conn.next_reply()
            if reply is None:
                if conn.closed:
                    self._close()
                return
            self._write(reply.data)
            if reply.file is not None:
                self.flush()  # the head goes before the file
                self._busy = True
                transport.pause_reading()
                self._send_task = self.loop.create_task(self._send_file(reply))
                return
            if reply.close:
                self._close()
                return
            self.deadline = self.loop.time() + self.server.timeout

    async def _send_file(self, reply: Reply) -> None:
        transport = self.transport
        assert transport is not None and reply.file is not None and self.conn is not None
        sent = 0
        piece = self.server.sendfile_piece
        try:
            while sent < reply.file_length:
                n = await self.loop.sendfile(
                    transport, reply.file, sent, min(piece, reply.file_length - sent)
                )
                if n <= 0:
                    break  # the file shrank: the promised length cannot be met
                sent += n
                self.deadline = self.loop.time() + self.server.timeout
        except asyncio.CancelledError:
            # the deadline passed without progress, or the server is closing
            self._send_task = None
            self.abort()
            return
        except (OSError, RuntimeError):  # the client went away mid-file
            self._send_task = None
            self.abort()
            return
        finally:
            reply.file.close()
            self._send_task = None
        self._busy = False
        self.conn.file_sent(sent)
        if self.conn.closed:
            self._close()
            return
        self.deadline = self.loop.time() + self.server.timeout
        if not self._write_paused:
            transport.resume_reading()
        self._pump()

    def deadline_passed(self) -> None:
        """Called by the sweeper: 408 an idle or slow client; abort a stuck
        file send or close."""
        transport, conn = self.transport, self.conn
        if transport is None or conn is None:
            return
        if self._closing or self._write_paused:
            self.abort()
        elif self._busy:
            if self._send_task is not None:
                self._send_task.cancel()
        else:
            self._write(conn.timeout_reply().data)
            self._close()

    def _close(self) -> None:
        """Close in stages (RFC 9112 9.6): FIN once the replies are written,
        then read and discard until the client's FIN (``eof_received``) or
        the deadline (``deadline_passed`` aborts)."""
        self.flush()
        self._closing = True
        self.deadline = self.loop.time() + self.server.timeout
        transport = self.transport
        if transport is None:
            return
        if self._lingering or not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()  # after the buffered replies
        transport.resume_reading()

    def abort(self) -> None:
        self._closing = True
        self._drop_unsent()
        if self._send_task is not None:
            self._send_task.cancel()
        if self.transport is not None:
            self.transport.abort()
        self.server.connections.discard(self)
