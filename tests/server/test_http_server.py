"""http_server.py: when replies are written.  Replies made in one pass of
the event loop go out together at its end; a close, a big backlog (flow
control) and a file do not wait.  Driven with stand-in transports, so what
was written, and when, can be seen; the end-to-end behaviour over real
sockets is tested in tests/integration/test_embedded_server.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from protoshell.server import http_server
from protoshell.server.http_server import HttpServer, _HttpProtocol

from .conftest import Site

GET = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


class Transport(asyncio.Transport):
    """Records writes and closes in order; says ``pause_writing`` like a
    real transport once more than ``high`` bytes are written."""

    def __init__(self, high: int = 1 << 30) -> None:
        super().__init__()
        self.events: list[tuple[str, bytes]] = []
        self.high = high
        self.written = 0
        self.protocol: _HttpProtocol | None = None
        self.closed = False

    def write(self, data: Any) -> None:
        self.events.append(("write", bytes(data)))
        self.written += len(data)
        if self.written > self.high and self.protocol is not None:
            self.protocol.pause_writing()

    def writes(self) -> list[bytes]:
        return [data for kind, data in self.events if kind == "write"]

    def close(self) -> None:
        self.events.append(("close", b""))
        self.closed = True

    def abort(self) -> None:
        self.close()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.events.append(("eof", b""))

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("192.0.2.7", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connect(server: HttpServer, transport: Transport) -> _HttpProtocol:
    proto = _HttpProtocol(server)
    transport.protocol = proto
    proto.connection_made(transport)
    return proto


def replies_in(data: bytes) -> int:
    return data.count(b"HTTP/1.1 200 OK\r\n")


def run(coro_fn: Any, site: Site) -> None:
    async def main() -> None:
        server = HttpServer(str(site.root))
        server._loop = asyncio.get_running_loop()
        await coro_fn(server)

    asyncio.run(main())


def test_replies_of_one_pass_go_out_together_at_its_end(site: Site) -> None:
    async def check(server: HttpServer) -> None:
        a, b = Transport(), Transport()
        pa, pb = connect(server, a), connect(server, b)
        pa.data_received(GET * 2)
        pb.data_received(GET)
        assert a.events == [] and b.events == []  # not yet: the pass goes on
        await asyncio.sleep(0)
        [wa], [wb] = a.writes(), b.writes()  # one write per connection
        assert replies_in(wa) == 2 and replies_in(wb) == 1
        assert wa.endswith(b"hello, world\n") and not a.closed

    run(check, site)


def test_a_close_writes_what_waits_first(site: Site) -> None:
    async def check(server: HttpServer) -> None:
        t = Transport()
        proto = connect(server, t)
        proto.data_received(GET + CLOSE + GET)
        # at once, not at the end of the pass: both replies, then the half-close
        # (RFC 9112 9.6: FIN, and read on until the client closes too)
        assert [kind for kind, _ in t.events] == ["write", "eof"]
        assert replies_in(t.events[0][1]) == 2
        await asyncio.sleep(0)
        proto.data_received(GET)  # the client still sends: read and dropped
        assert len(t.events) == 2  # nothing after the close
        proto.eof_received()
        assert [kind for kind, _ in t.events] == ["write", "eof", "close"]

    run(check, site)


def test_a_backlog_is_written_at_once_and_flow_control_stops_it(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that pipelines many requests makes no more than about
    WRITE_HIGH_WATER bytes wait; then the transport's ``pause_writing``
    stops the answering until ``resume_writing``, as without batching."""
    monkeypatch.setattr(http_server, "WRITE_HIGH_WATER", 1000)

    async def check(server: HttpServer) -> None:
        t = Transport(high=3000)
        proto = connect(server, t)
        proto.data_received(GET * 200)
        # written before the end of the pass, and paused there: what went
        # out is bounded by the transport's limit, one backlog and a reply
        assert 3000 < t.written < 3000 + 1000 + 300
        assert proto.conn is not None
        answered = proto.conn.requests
        assert answered < 200
        await asyncio.sleep(0)
        assert proto.conn.requests == answered  # still paused
        t.high = 1 << 30
        proto.resume_writing()
        await asyncio.sleep(0)
        assert proto.conn.requests == 200
        assert sum(replies_in(w) for w in t.writes()) == 200

    run(check, site)


def test_a_lost_connection_drops_what_waits(site: Site) -> None:
    async def check(server: HttpServer) -> None:
        t = Transport()
        proto = connect(server, t)
        proto.data_received(GET)
        proto.connection_lost(None)
        await asyncio.sleep(0)
        assert t.events == []

    run(check, site)
