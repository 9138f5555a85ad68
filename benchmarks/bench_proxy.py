"""`protoshell proxy` vs socat vs no proxy at all, in one script, on 127.0.0.1.

1. A 100 MB HTTP body from nginx fetched by curl: directly, through
   `socat TCP-LISTEN:...,fork TCP:...` (a plain byte pipe: the peer), and
   through `protoshell proxy` (framing both ways, its view on /dev/null).
   Issue 11 asks for at least 0.5x socat's throughput and a peak RSS under
   64 MB (the proxy's own VmHWM, read from /proc before it is stopped).
2. 1,000 SMTP commands (NOOP), one per turn, by the same blocking-socket
   client, to aiosmtpd (its own process) directly and through the proxy:
   the median added latency per command (asks for < 50 us) and, for
   scale, through socat and through a bare asyncio forwarder
   (``--forwarder``, below: ``data_received`` -> ``write``, no framing, no
   view), the floor of a Python relay that sleeps in ``epoll_wait`` between
   chunks (the proxy does not: see transport.BusyPollSelector), and the
   proxy with ``--busy-poll 0``, which sleeps at once like them.

   Each round measures all five in turn (another order each round), and a
   round's figures are taken against its own direct run.

    python benchmarks/bench_proxy.py [--http-mb 100] [--runs 3] [--commands 1000] [--rounds 15] [--only http|smtp]
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
def proxy(target: str, ca_dir: Path, *extra: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`protoshell proxy TARGET [EXTRA...]` on a free port; yields (port, process)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "protoshell", "proxy", target, "--listen", "127.0.0.1:0", "--ca-dir", str(ca_dir), *extra],
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
    """Direct, socat, the bare forwarder and the proxy, all started once and
    measured in turn, ``runs`` rounds (each round in another order): on a
    shared machine the load moves by more than the differences, so each
    round's figure is taken against the direct one of the same round."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(lambda: tcp_accepts(port), what="aiosmtpd", proc=server)
        with contextlib.ExitStack() as stack:
            ports = {
                "direct": port,
                "socat": stack.enter_context(socat("127.0.0.1", port)),
                "bare": stack.enter_context(bare_forwarder(port)),
                "proxy": stack.enter_context(proxy(f"smtp://127.0.0.1:{port}", work / "pca"))[0],
                "asleep": stack.enter_context(
                    proxy(f"smtp://127.0.0.1:{port}", work / "pca", "--busy-poll", "0")
                )[0],
            }
            names = list(ports)
            medians: dict[str, list[float]] = {name: [] for name in names}
            means: dict[str, list[float]] = {name: [] for name in names}
            for r in range(runs):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    times = noop_turns(ports[name], count)
                    medians[name].append(statistics.median(times) * 1e6)
                    means[name].append(statistics.mean(times) * 1e6)
    finally:
        server.terminate()
        server.wait(10)

    def added(name: str, of: dict[str, list[float]]) -> list[float]:
        return sorted(x - d for x, d in zip(of[name], of["direct"]))

    print(f"SMTP {count} NOOPs one per turn (aiosmtpd), median per command; {runs} interleaved rounds:")
    print("  " + "   ".join(f"{name} {statistics.median(medians[name]):.1f} us" for name in names))
    for name, label in (
        ("socat", "socat"),
        ("bare", "the bare asyncio forwarder"),
        ("proxy", "the proxy"),
        ("asleep", "the proxy with --busy-poll 0"),
    ):
        a, m = added(name, medians), added(name, means)
        print(f"  {label} adds {statistics.median(a):.1f} us per command (rounds: {a[0]:.1f} to {a[-1]:.1f}; "
              f"mean per command: {statistics.median(m):.1f} us)")
    ours = statistics.median(added("proxy", medians))
    print(f"  target < 50 us: {'OK' if ours < 50 else 'SLOW'}")


def main() -> int:
    if sys.argv[1:2] == ["--forwarder"]:
        forwarder(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-mb", type=int, default=100)
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3, help="HTTP: best of RUNS")
    ap.add_argument("--rounds", type=int, default=15, help="SMTP: interleaved rounds")
    ap.add_argument("--only", choices=("http", "smtp"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.only != "smtp":
            http_body(a.http_mb, a.runs, Path(tmp))
        if a.only != "http":
            smtp_turns(a.commands, a.rounds, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
