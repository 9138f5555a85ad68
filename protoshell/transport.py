"""Moves bytes over TCP or TLS with asyncio; knows nothing of any protocol.

This is the one layer that touches sockets and ssl.  It uses a plain
``asyncio.Protocol`` rather than streams because STARTTLS needs exact control
of what was received before the handshake: ``start_tls`` returns (and drops)
every plaintext byte still queued, so none of it can ever be mistaken for
data that came over TLS (RFC 3207 section 4.2, RFC 2595 section 3.1).

Every wait has a timeout; every failure becomes a ``TransportError`` whose
message is one line a person can act on.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
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
    obj = transport.get_extra_info("ssl_object")
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


class _Pipe(asyncio.Protocol):
    """Queues received chunks with flow control; wakes one reader."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.queued = 0
        self.eof = False
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

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.queued += len(data)
        if self.queued > READ_HIGH_WATER and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._can_write.set()
        self._wake()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take(self) -> bytes:
        data = self.chunks.popleft()
        self.queued -= len(data)
        if self._paused and self.queued < READ_LOW_WATER and self.transport is not None:
            self._paused = False
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
        try:
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
        except TimeoutError:
            raise TransportError("timeout", f"timed out after {timeout:g} s connecting to {host}:{port}") from None
        except (OSError, ssl.SSLError) as exc:
            raise _describe(exc, host, port) from None
        except UnicodeError:
            raise TransportError("dns", f"invalid host name {host!r}") from None
        self = cls(host, port, pipe, cast(asyncio.Transport, transport))
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
                await asyncio.wait_for(pipe.wait(), timeout)
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
        if self.closed or self._transport.is_closing():
            raise TransportError("closed", f"connection to {self.host}:{self.port} is closed")
        self._transport.write(data)
        self.bytes_out += len(data)
        if not self._pipe._can_write.is_set():
            try:
                await asyncio.wait_for(self._pipe._can_write.wait(), timeout)
            except TimeoutError:
                raise TransportError("timeout", f"{self.host}:{self.port} stopped reading for {timeout:g} s") from None

    async def start_tls(self, ssl_context: ssl.SSLContext, *, timeout: float) -> tuple[TlsInfo, int]:
        """Upgrade to TLS.  Returns the TLS summary and how many plaintext
        bytes were still queued unread and have been thrown away."""
        discarded = self._pipe.discard()
        loop = asyncio.get_running_loop()
        try:
            new = await asyncio.wait_for(
                loop.start_tls(
                    self._transport,
                    self._pipe,
                    ssl_context,
                    server_hostname=self.host,
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
        self._transport = new  # type: ignore[assignment]
        self._pipe.transport = new  # type: ignore[assignment]
        self.tls = _tls_info(new, ssl_context.verify_mode != ssl.CERT_NONE)
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
