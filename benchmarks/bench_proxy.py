"""`protoshell proxy` vs socat vs no proxy at all, in one script, on 127.0.0.1.

1. A 100 MB HTTP body from nginx fetched by curl: directly, through
   `socat TCP-LISTEN:...,fork TCP:...` (a plain byte pipe: the peer), and
   through `protoshell proxy` (framing both ways, its view on /dev/null).
   Issue 11 asks for at least 0.5x socat's throughput and a peak RSS under
   64 MB (the proxy's own VmHWM, read from /proc before it is stopped).
2. 1,000 SMTP commands (NOOP), one per turn, by the same blocking-socket
   client, to aiosmtpd (its own process) directly and through the proxy:
   the median added latency per command (asks for < 50 us) and, for
   scale, through socat and through the least a Python proxy can be: a bare
   asyncio forwarder (``--forwarder``, below: ``data_received`` ->
   ``write``, no framing, no view), the floor under any design on asyncio.

    python benchmarks/bench_proxy.py [--http-mb 100] [--commands 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.servers import free_port, make_tls_ca, running_nginx, tcp_accepts, wait_ready

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


@contextlib.contextmanager
def proxy(target: str, ca_dir: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`protoshell proxy TARGET` on a free port; yields (port, process)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "protoshell", "proxy", target, "--listen", "127.0.0.1:0", "--ca-dir", str(ca_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+) ", line)
        if m is None:
            raise SystemExit(f"the proxy did not start: {line!r}")
        # The view goes on to a pipe nobody reads: send it to /dev/null instead.
        drain = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=subprocess.DEVNULL)
        yield int(m[1]), proc
    finally:
        proc.terminate()
        proc.wait(10)
        drain.wait(10)


@contextlib.contextmanager
def socat(host: str, port: int) -> Iterator[int]:
    listen = free_port()
    proc = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,fork", f"TCP:{host}:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(lambda: tcp_accepts(listen), what="socat", proc=proc)
        yield listen
    finally:
        proc.terminate()
        proc.wait(10)


class _Forward:
    """``--forwarder``'s protocol: each chunk to the other leg, nothing else."""

    def __init__(self, peer: _Forward | None = None) -> None:
        self.peer, self.transport = peer, None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.peer.transport is not None
        self.peer.transport.write(data)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


def forwarder(listen: int, target: int) -> None:
    """A bare asyncio TCP forwarder on 127.0.0.1:listen -> 127.0.0.1:target."""
    import asyncio

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def accepted() -> _Forward:
            down = _Forward()

            async def connect() -> None:
                up = _Forward(down)
                await loop.create_connection(lambda: up, "127.0.0.1", target)
                down.peer = up
                assert down.transport is not None
                down.transport.resume_reading()

            orig = down.connection_made

            def made(transport) -> None:  # type: ignore[no-untyped-def]
                orig(transport)
                transport.pause_reading()
                loop.create_task(connect())

            down.connection_made = made  # type: ignore[method-assign]
            return down

        await loop.create_server(accepted, "127.0.0.1", listen)  # type: ignore[arg-type]
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def bare_forwarder(port: int) -> Iterator[int]:
    listen = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--forwarder", str(listen), str(port)], stdout=subprocess.PIPE, env=ENV
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        yield listen
    finally:
        proc.terminate()
        proc.wait(10)


def curl_seconds(url: str, out: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(["curl", "-s", "--fail", "-o", str(out), url], check=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def http_body(mb: int, runs: int, work: Path) -> None:
    size = mb * 1_000_000
    ca = make_tls_ca(work / "ca")
    with running_nginx(work / "www", ca, base=work / "ngx") as ng:
        block = os.urandom(1 << 20)
        with open(ng.root / "big.bin", "wb") as f:
            f.writelines(block for _ in range(size >> 20))
            f.write(block[: size % (1 << 20)])
        out = work / "got.bin"
        direct = curl_seconds(f"http://{ng.host}:{ng.port}/big.bin", out, runs)
        with socat(ng.host, ng.port) as sport:
            piped = curl_seconds(f"http://127.0.0.1:{sport}/big.bin", out, runs)
        with proxy(f"http://{ng.host}:{ng.port}", work / "pca") as (pport, proc):
            ours = curl_seconds(f"http://127.0.0.1:{pport}/big.bin", out, runs)
            peak = vm_hwm_kib(proc.pid)
        assert out.stat().st_size == size
    rate = {name: size / 1e6 / t for name, t in (("direct", direct), ("socat", piped), ("proxy", ours))}
    print(f"HTTP body {mb} MB (nginx -> curl), best of {runs}:")
    for name in ("direct", "socat", "proxy"):
        print(f"  {name:7} {rate[name]:8.1f} MB/s")
    ratio = rate["proxy"] / rate["socat"]
    print(f"  proxy/socat throughput {ratio:.2f} (target >= 0.5: {'OK' if ratio >= 0.5 else 'SLOW'}); "
          f"proxy/direct {rate['proxy'] / rate['direct']:.2f}")
    print(f"  proxy peak RSS {peak / 1024:.1f} MiB ({'OK' if peak < 64 * 1024 else 'TOO BIG'}, target < 64 MiB)")


def noop_turns(port: int, count: int) -> list[float]:
    """Seconds per NOOP round trip, one command per turn."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = sock.makefile("rb")
        f.readline()  # greeting
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            sock.sendall(b"NOOP\r\n")
            if not f.readline().startswith(b"250"):
                raise SystemExit("NOOP failed")
            times.append(time.perf_counter() - t0)
        sock.sendall(b"QUIT\r\n")
        f.readline()
        f.close()
    return times


def smtp_turns(count: int, runs: int, work: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(lambda: tcp_accepts(port), what="aiosmtpd", proc=server)

        def median_us(p: int) -> float:
            return min(statistics.median(noop_turns(p, count)) for _ in range(runs)) * 1e6

        direct = median_us(port)
        with socat("127.0.0.1", port) as sport:
            piped = median_us(sport)
        with bare_forwarder(port) as fport:
            floor = median_us(fport)
        with proxy(f"smtp://127.0.0.1:{port}", work / "pca") as (pport, _):
            ours = median_us(pport)
        direct_again = median_us(port)
    finally:
        server.terminate()
        server.wait(10)
    base = min(direct, direct_again)
    added = ours - base
    print(f"SMTP {count} NOOPs one per turn (aiosmtpd), median per command, best of {runs}:")
    print(f"  direct {base:7.1f} us   socat {piped:7.1f} us   bare asyncio forwarder {floor:7.1f} us   proxy {ours:7.1f} us")
    print(f"  the proxy adds {added:.1f} us per command (target < 50 us: {'OK' if added < 50 else 'SLOW'}); "
          f"socat adds {piped - base:.1f} us, the bare asyncio forwarder {floor - base:.1f} us")


def main() -> int:
    if sys.argv[1:2] == ["--forwarder"]:
        forwarder(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-mb", type=int, default=100)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        http_body(a.http_mb, a.runs, Path(tmp))
        smtp_turns(a.commands, a.runs, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
