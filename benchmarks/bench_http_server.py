#!/usr/bin/env python3
"""How fast is the embedded HTTP server?  Measured against two peers in the
same run, on the same files, with the same load generator:

- ``python -m http.server`` (the standard library's server), and
- nginx with one worker process (``autoindex on``, ``sendfile on``),

using ``wrk -t1 -c16 -d3s`` on 127.0.0.1 for three cases: a small HTML file,
the directory listing of ``/``, and a 50 MB file (throughput).  Prints a table
of requests per second (MB/s for the big file) and the ratios the issue asks
for: at least 8x http.server and 0.5x nginx on the small file and the listing,
and at least 0.8x nginx's throughput on the 50 MB file.

    python benchmarks/bench_http_server.py [--duration 3] [--rounds 1] [--check]

Each cell is the best of ``--rounds`` runs (the servers take turns, so a
burst of noise on a shared machine does not hit one server only).  ``--check``
exits 1 when a target is missed.  Needs wrk (Debian package ``wrk``) and, for
the nginx column, nginx (Debian package ``nginx``); a missing peer is skipped
with a note.  Our server runs with its access log on (to /dev/null), nginx
with its access log on (to a file), as each would be used.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
BIG_NAME = "big-50MB.bin"
BIG_SIZE = 50 * 1000 * 1000
SMALL = "a_web_page.html"

CASES = [
    # (name, path, unit, target vs http.server, target vs nginx)
    ("small HTML file", "/" + SMALL, "req/s", 8.0, 0.5),
    ("directory listing", "/", "req/s", 8.0, 0.5),
    ("50 MB file", "/" + BIG_NAME, "MB/s", None, 0.8),
]

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {base}/nginx.pid;
error_log {base}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log {base}/access.log;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {base}/tmp-body;
    proxy_temp_path {base}/tmp-proxy;
    fastcgi_temp_path {base}/tmp-fastcgi;
    uwsgi_temp_path {base}/tmp-uwsgi;
    scgi_temp_path {base}/tmp-scgi;
    types {{
        text/html html; text/plain txt; text/css css; text/javascript js;
        application/json json; image/png png; image/jpeg jpeg jpg; image/svg+xml svg;
    }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        autoindex on;
    }}
}}
"""


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(server: Server, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        try:
            with urllib.request.urlopen(server.url("/"), timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout} s")


def make_root(base: Path) -> Path:
    root = base / "www"
    shutil.copytree(WEB, root)
    block = os.urandom(1 << 20)
    with open(root / BIG_NAME, "wb") as f:
        remaining = BIG_SIZE
        while remaining:
            n = min(len(block), remaining)
            f.write(block[:n])
            remaining -= n
    for d in (base, root, *[p for p in root.rglob("*") if p.is_dir()]):
        d.chmod(0o755)  # nginx's worker runs as nobody
    return root


def start_servers(base: Path, root: Path) -> list[Server]:
    servers = []
    port = free_port()
    ours = subprocess.Popen(
        [sys.executable, "-m", "protoshell.server", "--root", str(root), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    servers.append(Server("protoshell", port, ours))
    port = free_port()
    stdlib = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(root),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers.append(Server("http.server", port, stdlib))
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if nginx is None:
        print("nginx not found (apt-get install nginx): its column is skipped", file=sys.stderr)
    else:
        port = free_port()
        conf = base / "nginx.conf"
        conf.write_text(NGINX_CONF.format(base=base, port=port, root=root))
        proc = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers.append(Server("nginx", port, proc))
    for s in servers:
        wait_ready(s)
    return servers


def stop_servers(servers: list[Server]) -> None:
    for s in servers:
        if s.proc.poll() is None:
            s.proc.send_signal(signal.SIGTERM if s.name == "nginx" else signal.SIGINT)
    for s in servers:
        try:
            s.proc.wait(10)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(10)


_UNITS = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}


def run_wrk(wrk: str, url: str, duration: float, connections: int) -> tuple[float, float, int]:
    """(requests/s, MB/s, non-2xx-or-error count) from one wrk run."""
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    tps = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errs:
        bad += int(errs[1]) + int(errs[3]) + int(errs[4])  # reads: http.server closes
    if rps is None or tps is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    mbs = float(tps[1]) * _UNITS[tps[2]] * 1.048576  # wrk's MB are MiB
    return float(rps[1]), mbs, bad


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run (3)")
    p.add_argument("--connections", type=int, default=16, help="wrk -c (16)")
    p.add_argument("--rounds", type=int, default=1, help="runs per cell; the best counts (1)")
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = p.parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="protoshell-bench-") as tmp:
        base = Path(tmp)
        root = make_root(base)
        servers = start_servers(base, root)
        try:
            results: dict[tuple[str, str], float] = {}
            for s in servers:  # warm the page cache and the small-file caches
                run_wrk(wrk, s.url("/" + BIG_NAME), 1, 2)
                run_wrk(wrk, s.url("/" + SMALL), 1, 4)
            for _ in range(args.rounds):
                for case, path, unit, _t1, _t2 in CASES:
                    for s in servers:
                        rps, mbs, bad = run_wrk(wrk, s.url(path), args.duration, args.connections)
                        value = mbs if unit == "MB/s" else rps
                        if bad:
                            print(f"note: {s.name} {case}: {bad} errors/non-2xx", file=sys.stderr)
                        key = (case, s.name)
                        results[key] = max(results.get(key, 0.0), value)
        finally:
            stop_servers(servers)
    names = [s.name for s in servers]
    return report(results, names, args)


def report(
    results: dict[tuple[str, str], float], names: list[str], args: argparse.Namespace
) -> int:
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s on 127.0.0.1, "
        f"best of {args.rounds}; {os.cpu_count()} CPUs"
    )
    header = f"{'case':<20}{'unit':>7}" + "".join(f"{n:>13}" for n in names)
    header += f"{'vs http.server':>20}{'vs nginx':>20}"
    print(header)
    print("-" * len(header))
    missed = []
    for case, _path, unit, t_std, t_nginx in CASES:
        ours = results.get((case, "protoshell"), 0.0)
        row = f"{case:<20}{unit:>7}" + "".join(
            f"{results.get((case, n), 0.0):>13,.0f}" for n in names
        )
        cells = []
        for peer, target in (("http.server", t_std), ("nginx", t_nginx)):
            theirs = results.get((case, peer))
            if not theirs:
                cells.append("-")
                continue
            ratio = ours / theirs
            mark = ""
            if target is not None:
                ok = ratio >= target
                mark = f" ({'ok' if ok else 'want'} {target:g}x)"
                if not ok:
                    missed.append(f"{case}: {ratio:.2f}x {peer} (target {target:g}x)")
            cells.append(f"{ratio:.2f}x{mark}")
        row += f"{cells[0]:>20}{cells[1]:>20}"
        print(row)
    if missed:
        print("targets missed: " + "; ".join(missed))
    else:
        print("all targets met")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
