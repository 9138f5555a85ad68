"""Big payloads through protoshell vs curl, in one script, on 127.0.0.1.

1. a 100 MB HTTP body from nginx: `protoshell http://... --save-body F`
   vs `curl -o F`;
2. a 50 MB IMAP literal from Dovecot: `protoshell imap://... --save-body F`
   (LOGIN, SELECT, FETCH 1 BODY[]) vs `curl imap://.../INBOX;MAILINDEX=1`;
3. a 50 MB POP3 RETR from Dovecot (80-octet lines, some dot-stuffed: the
   line-by-line path), `protoshell pop3://... --save-body F` vs
   `curl pop3://.../1`, and protoshell's peak RSS for a tenth of the size
   beside it: it must not grow with the message.

Prints throughput for both, the ratio (issue 2 asks for at least 0.5x
curl) and protoshell's peak RSS (asks for under 64 MB whatever the size),
measured per child with os.wait4.

    python benchmarks/bench_download.py [--http-mb 100] [--imap-mb 50] [--pop3-mb 50] [--runs 3]
                                        [--parts http,imap,pop3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.servers import TLSCA, make_tls_ca, running_dovecot, running_nginx


def timed(argv: list[str], stdin: bytes = b"") -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB or -1 if unknown, exit code) of one child.

    protoshell runs under peak_rss.py, which reports its own VmHWM; curl's
    peak is not measured (ru_maxrss would count this script's memory too)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - t0
    err = proc.stderr.decode(errors="replace")
    peak = -1
    for line in err.splitlines():
        if line.startswith("peak-rss-kib "):
            peak = int(line.split()[1])
    if proc.returncode != 0:
        sys.stderr.write(err)
    return elapsed, peak, proc.returncode


def best(argv: list[str], runs: int, stdin: bytes = b"") -> tuple[float, int]:
    results = [timed(argv, stdin) for _ in range(runs)]
    for _, _, code in results:
        if code != 0:
            raise SystemExit(f"{argv[0]} failed with exit code {code}")
    return min(r[0] for r in results), max(r[1] for r in results)


def report(
    name: str,
    size: int,
    ours: tuple[float, int],
    peer: tuple[float, int],
    ours_empty: float,
    peer_empty: float,
) -> None:
    """Whole-command rates, and transfer rates with each tool's own start-up
    and connection set-up (the same command on a tiny payload) taken out."""
    mb = size / 1e6
    our_rate, peer_rate = mb / ours[0], mb / peer[0]
    our_xfer = mb / max(ours[0] - ours_empty, 1e-6)
    peer_xfer = mb / max(peer[0] - peer_empty, 1e-6)
    print(f"{name}: {mb:.0f} MB")
    print(f"  {'':11} {'total s':>8} {'MB/s':>8} {'start-up s':>11} {'transfer MB/s':>14} {'peak RSS MiB':>13}")
    print(f"  {'curl':11} {peer[0]:8.3f} {peer_rate:8.1f} {peer_empty:11.3f} {peer_xfer:14.1f} {'-':>13}")
    print(f"  {'protoshell':11} {ours[0]:8.3f} {our_rate:8.1f} {ours_empty:11.3f} {our_xfer:14.1f} {ours[1] / 1024:13.1f}")
    whole, xfer = our_rate / peer_rate, our_xfer / peer_xfer
    print(f"  ratio protoshell/curl: whole command {whole:.2f}, transfer {xfer:.2f} (target >= 0.5: {'OK' if xfer >= 0.5 else 'SLOW'})")
    print(f"  protoshell peak memory: {ours[1] / 1024:.1f} MiB ({'OK' if ours[1] < 64 * 1024 else 'TOO BIG'}, target < 64 MiB)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--http-mb", type=int, default=100)
    ap.add_argument("--imap-mb", type=int, default=50)
    ap.add_argument("--pop3-mb", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parts", default="http,imap,pop3", help="which downloads (comma-separated)")
    a = ap.parse_args()
    parts = set(a.parts.split(","))
    protoshell = [sys.executable, str(ROOT / "benchmarks" / "peak_rss.py")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out_ours, out_curl = work / "ours.bin", work / "curl.bin"
        ca = make_tls_ca(work / "ca")
        if "http" in parts:
            http(a, work, ca, protoshell, out_ours, out_curl)
        if "imap" in parts:
            imap(a, ca, protoshell, out_ours, out_curl)
        if "pop3" in parts:
            pop3(a, ca, protoshell, out_ours, out_curl)
    return 0


def http(a: argparse.Namespace, work: Path, ca: TLSCA, protoshell: list[str], out_ours: Path, out_curl: Path) -> None:
    size = a.http_mb * 1_000_000
    (work / "www").mkdir()
    (work / "ngx").mkdir()
    with running_nginx(work / "www", ca, base=work / "ngx") as ng:
        block = os.urandom(1 << 20)
        with open(ng.root / "big.bin", "wb") as f:  # streamed: keep this script's RSS small
            f.writelines(block for _ in range(size >> 20))
            f.write(block[: size % (1 << 20)])
        (ng.root / "tiny.bin").write_bytes(b"x")
        url = f"http://{ng.host}:{ng.port}"

        def curl_get(name: str) -> tuple[float, int]:
            return best(["curl", "-s", "-o", str(out_curl), f"{url}/{name}"], a.runs)

        def ours_get(name: str) -> tuple[float, int]:
            req = f"GET /{name} HTTP/1.1\n\n".encode()
            return best([*protoshell, url, "--save-body", str(out_ours), "--max-lines", "0"], a.runs, req)

        peer_empty, ours_empty = curl_get("tiny.bin")[0], ours_get("tiny.bin")[0]
        peer, ours = curl_get("big.bin"), ours_get("big.bin")
        assert out_ours.stat().st_size == size, "protoshell saved the wrong size"
        report("HTTP body (nginx)", size, ours, peer, ours_empty, peer_empty)


def imap(a: argparse.Namespace, ca: TLSCA, protoshell: list[str], out_ours: Path, out_curl: Path) -> None:
    size = a.imap_mb * 1_000_000
    with running_dovecot(ca) as dv:
        line = b"x" * 998 + b"\r\n"
        body = b"Subject: big\r\n\r\n" + line * (size // len(line))
        dv.deliver(b"Subject: tiny\r\n\r\nx\r\n")
        dv.deliver(body)
        del body
        url = dv.imap_url

        def curl_fetch(n: int) -> tuple[float, int]:
            return best(["curl", "-s", "-o", str(out_curl), f"imap://bob:redqueen@{dv.host}:{dv.imap_port}/INBOX;MAILINDEX={n}"], a.runs)

        def ours_fetch(n: int) -> tuple[float, int]:
            script = f"LOGIN bob redqueen\nSELECT INBOX\nFETCH {n} BODY[]\nLOGOUT\n".encode()
            return best([*protoshell, url, "--save-body", str(out_ours), "--max-lines", "0"], a.runs, script)

        peer_empty, ours_empty = curl_fetch(1)[0], ours_fetch(1)[0]
        peer, ours = curl_fetch(2), ours_fetch(2)
        assert out_ours.stat().st_size == out_curl.stat().st_size, "protoshell and curl saved different sizes"
        report("IMAP literal (Dovecot)", out_ours.stat().st_size, ours, peer, ours_empty, peer_empty)


def pop3_message(size: int) -> bytes:
    """About ``size`` octets of 80-octet CRLF lines, one in 16 starting with
    a dot (stuffed on the wire, RFC 1939 3)."""
    line = b"y" * 78 + b"\r\n"
    dotted = b"." + line[1:]
    block = line * 15 + dotted
    return b"Subject: big\r\n\r\n" + block * (size // len(block))


def pop3(a: argparse.Namespace, ca: TLSCA, protoshell: list[str], out_ours: Path, out_curl: Path) -> None:
    size = a.pop3_mb * 1_000_000
    with running_dovecot(ca) as dv:
        dv.deliver(b"Subject: tiny\r\n\r\nx\r\n")
        dv.deliver(pop3_message(size // 10))
        dv.deliver(pop3_message(size))
        url = dv.pop3_url

        def curl_retr(n: int) -> tuple[float, int]:
            return best(["curl", "-s", "-o", str(out_curl), f"pop3://bob:redqueen@{dv.host}:{dv.pop3_port}/{n}"], a.runs)

        def ours_retr(n: int) -> tuple[float, int]:
            script = f"USER bob\nPASS redqueen\nRETR {n}\nQUIT\n".encode()
            return best([*protoshell, url, "--save-body", str(out_ours)], a.runs, script)

        peer_empty, ours_empty = curl_retr(1)[0], ours_retr(1)[0]
        tenth = ours_retr(2)
        peer, ours = curl_retr(3), ours_retr(3)
        assert out_ours.read_bytes() == pop3_message(size), "protoshell saved other bytes than the message"
        assert out_curl.stat().st_size == out_ours.stat().st_size, "protoshell and curl saved different sizes"
        report("POP3 RETR (Dovecot)", out_ours.stat().st_size, ours, peer, ours_empty, peer_empty)
        print(
            f"  protoshell peak RSS, {size // 10 / 1e6:.0f} MB message: {tenth[1] / 1024:.1f} MiB; "
            f"{size / 1e6:.0f} MB: {ours[1] / 1024:.1f} MiB (ratio {ours[1] / max(tenth[1], 1):.2f}, 1.00: no growth)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
