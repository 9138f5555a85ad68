"""BlockingTransport (the batch replay's socket) against real sockets on
127.0.0.1: every wait ends within its timeout, on plain TCP (the kernel's
SO_RCVTIMEO/SO_SNDTIMEO) and on TLS (Python's timeout), and every failure
is a TransportError with a kind, as with the asyncio Transport."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from protoshell.transport import BlockingTransport, TransportError

from .integration.scripted_server import ScriptedServer
from .integration.servers import TLSCA


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def connect(port: int, *, timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> BlockingTransport:
    return run(BlockingTransport.connect("127.0.0.1", port, timeout=timeout, ssl_context=ssl_context))  # type: ignore[return-value]


def test_reads_what_the_server_sends_then_eof() -> None:
    with ScriptedServer([("send", b"220 hello\r\n"), ("expect", b"QUIT"), ("send", b"221 bye\r\n"), ("close",)]) as server:
        t = connect(server.port)
        assert run(t.read(None)) == b"220 hello\r\n"
        run(t.write(b"QUIT\r\n"))
        assert run(t.read(None)) == b"221 bye\r\n"
        assert run(t.read(None)) == b""
        assert run(t.read(None)) == b""  # EOF stays EOF
        assert (t.bytes_in, t.bytes_out) == (20, 6)
        run(t.close())


def test_a_silent_server_is_a_timeout_within_the_time_asked() -> None:
    with ScriptedServer([("sleep", 1)]) as server:
        t = connect(server.port)
        start = time.monotonic()
        with pytest.raises(TransportError) as err:
            run(t.read(0.3))
        took = time.monotonic() - start
        assert err.value.kind == "timeout" and "0.3 s" in str(err.value)
        assert 0.25 <= took < 1.5
        # 0: only what is there already, no waiting
        start = time.monotonic()
        with pytest.raises(TransportError):
            run(t.read(0))
        assert time.monotonic() - start < 0.1
        run(t.close())


@pytest.mark.parametrize("forever", [float("inf"), 1e10])
def test_a_timeout_too_long_for_a_socket_waits_instead(forever: float) -> None:
    """``--timeout inf`` (replay, the API's connect) was an OverflowError
    traceback from socket.settimeout: past time_t."""
    with ScriptedServer([("send", b"220 x\r\n"), ("expect", b"NOOP"), ("send", b"250 ok\r\n")]) as server:
        t = connect(server.port, timeout=forever)
        assert run(t.read(None)) == b"220 x\r\n"
        run(t.write(b"NOOP\r\n"))
        assert run(t.read(forever)) == b"250 ok\r\n"
        run(t.close())


def test_a_reset_is_a_reset() -> None:
    # The server resets only once the client has sent something: a reset
    # that comes before the client's connect() has finished is reported by
    # the connect itself (also "reset", but not what this test is about).
    with ScriptedServer([("send", b"220 x\r\n"), ("expect", b"NOOP"), ("reset",)]) as server:
        t = connect(server.port)
        assert run(t.read(None)) == b"220 x\r\n"
        run(t.write(b"NOOP\r\n"))
        time.sleep(0.1)
        with pytest.raises(TransportError) as err:
            run(t.read(None))
        assert err.value.kind == "reset"


def test_refused_is_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as err:
        connect(port)
    assert err.value.kind == "refused"


def test_a_server_that_stops_reading_makes_writes_time_out() -> None:
    with ScriptedServer([("sleep", 2)]) as server:
        t = connect(server.port, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(TransportError) as err:
            for _ in range(200):  # far more than the socket buffers hold
                run(t.write(b"x" * (1 << 20)))
        assert err.value.kind == "timeout"
        assert time.monotonic() - start < 3
        run(t.close())


@pytest.fixture
def silent_tls_server(tls_ca: TLSCA) -> Iterator[int]:
    """Completes the TLS handshake, sends one line, then says nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.settimeout(5)
        try:
            with tls_ca.server_context.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"* OK hello\r\n")
                stop.wait(5)
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()
    thread.join(5)


def test_tls_reads_time_out_too(silent_tls_server: int, tls_ca: TLSCA) -> None:
    t = connect(silent_tls_server, ssl_context=tls_ca.client_context())
    assert t.tls is not None and t.tls.verified
    assert run(t.read(None)) == b"* OK hello\r\n"
    start = time.monotonic()
    with pytest.raises(TransportError) as err:
        run(t.read(0.3))
    assert err.value.kind == "timeout"
    assert time.monotonic() - start < 1.5
    with pytest.raises(TransportError):
        run(t.read(0))
    run(t.close())


def test_an_untrusted_certificate_is_refused(silent_tls_server: int, tls_ca: TLSCA) -> None:
    with pytest.raises(TransportError) as err:
        connect(silent_tls_server, ssl_context=ssl.create_default_context(cafile=str(tls_ca.untrusted.ca_cert)))
    assert err.value.kind == "tls" and "--insecure" in str(err.value)


def test_starttls_throws_away_plaintext_already_received(tls_ca: TLSCA) -> None:
    """Bytes that arrived after the go-ahead but were not read yet (still in
    the kernel's buffer) are dropped and counted, never handed on as if they
    came over TLS (RFC 3207 4.2)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    injected = b"250 injected\r\n"

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        conn.recv(100)
        conn.sendall(b"220 go ahead\r\n")
        time.sleep(0.2)
        conn.sendall(injected)
        with tls_ca.server_context.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"250 over TLS\r\n")
            tls.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        t = connect(listener.getsockname()[1])
        run(t.write(b"STARTTLS\r\n"))
        assert run(t.read(None)) == b"220 go ahead\r\n"
        time.sleep(0.5)  # the injected line is in our receive buffer now
        info, dropped = run(t.start_tls(tls_ca.client_context(), timeout=5))  # type: ignore[misc]
        assert info.verified
        assert dropped == len(injected)
        assert run(t.read(None)) == b"250 over TLS\r\n"
        run(t.write(b"QUIT\r\n"))
        run(t.close())
    finally:
        listener.close()
        thread.join(5)


# -- the proxy's event loop (BusyPollSelector) --------------------------------


def test_idle_work_waits_for_io_that_is_ready() -> None:
    """``call_when_idle`` runs after the I/O callbacks of data already
    there (a proxy forwards first, frames after); ``io_waiting_check``
    sees data that is waiting without taking it from the loop."""
    from protoshell.transport import call_when_idle, io_waiting_check, new_event_loop

    order: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        waiting = io_waiting_check()
        assert not waiting()
        loop.add_reader(a.fileno(), lambda: order.append(f"read {a.recv(10)!r}"))
        b.send(b"x")
        await asyncio.sleep(0.05)  # read once
        b.send(b"y")
        time.sleep(0.01)  # noqa: ASYNC251 - blocks the loop: the byte is there before it looks again
        assert waiting() and waiting()  # and stays there for the loop
        call_when_idle(lambda: order.append("idle"))
        await asyncio.sleep(0.05)
        loop.remove_reader(a.fileno())
        a.close()
        b.close()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
    assert order == ["read b'x'", "read b'y'", "idle"]


def test_idle_work_on_another_loop_runs_soon() -> None:
    from protoshell.transport import call_when_idle, io_waiting_check

    done: list[bool] = []

    async def main() -> None:
        assert io_waiting_check()() is False
        call_when_idle(lambda: done.append(True))
        await asyncio.sleep(0)

    asyncio.run(main())
    assert done == [True]


def test_the_loop_sleeps_when_nothing_comes() -> None:
    """Spinning is a moment after I/O, not a habit: a loop waiting for a
    timer with no I/O at all uses (almost) no CPU."""
    from protoshell.transport import new_event_loop

    async def main() -> float:
        cpu = time.process_time()
        await asyncio.sleep(0.3)
        return time.process_time() - cpu

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        assert runner.run(main()) < 0.1



def _yields_for_spaced_reads(spin: float, monkeypatch: pytest.MonkeyPatch, reads: int = 50) -> int:
    """How often the proxy's loop gave up the CPU while spinning (``sched_yield``), while
    ``reads`` bytes come 2 ms apart."""
    from protoshell import transport

    yields = 0

    def counted() -> None:
        nonlocal yields
        yields += 1

    monkeypatch.setattr(transport, "_yield_cpu", counted)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        got = asyncio.Event()
        count = 0

        def read() -> None:
            nonlocal count
            count += len(a.recv(reads))
            if count >= reads:
                got.set()

        def send() -> None:
            for _ in range(reads):
                time.sleep(0.002)
                b.send(b"x")

        loop.add_reader(a.fileno(), read)
        sender = threading.Thread(target=send)
        sender.start()
        try:
            await asyncio.wait_for(got.wait(), 10)
        finally:
            sender.join(5)
            loop.remove_reader(a.fileno())
            a.close()
            b.close()

    with asyncio.Runner(loop_factory=lambda: transport.new_event_loop(spin)) as runner:
        runner.run(main())
    return yields


def test_busy_poll_0_never_spins(monkeypatch: pytest.MonkeyPatch) -> None:
    """``protoshell proxy --busy-poll 0`` sleeps at once after I/O, as a plain loop does:
    no CPU between turns.  The default stays awake 0.5 ms after each read."""
    assert _yields_for_spaced_reads(0.0, monkeypatch) == 0
    assert _yields_for_spaced_reads(0.0005, monkeypatch) > 50
