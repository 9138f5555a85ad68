"""The Python API (``protoshell.connect``) vs smtplib, command for command.

Both talk to the same aiosmtpd in its own process and do the same 1,000
commands on one connection (250 rounds of MAIL FROM, RCPT TO, RSET, NOOP,
each answered before the next is sent), as ``bench_replay.py`` does: the
API is a loop of ``c.send(line)`` that frames each reply with the session
and keeps its exact bytes; smtplib's loop only parses code and text.

Cases, best of ``--runs``, taking turns run after run:

- smtplib loop (the peer);
- api, recording: ``connect()`` as by default, which also writes the
  transcript (twice: redacted and not) for ``transcript()``;
- api, record=False: the same without the transcript.

And the cost of the import a script pays once: ``import protoshell.api``
vs ``import smtplib`` in a fresh interpreter (best of ``--runs``, with
``python -c pass`` as the floor).

    python benchmarks/bench_api.py [--commands N] [--runs N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_replay import ROUND, best, run_smtplib, start_aiosmtpd

import protoshell


def run_api(port: int, commands: int, *, record: bool) -> None:
    with protoshell.connect(f"smtp://127.0.0.1:{port}", timeout=10, record=record) as c:
        c.send("EHLO bench", check=True)
        for i in range(commands):
            r = c.send(ROUND[i % len(ROUND)][0])
            assert r.status == "250", r
        c.send("QUIT")


def import_time(code: str, runs: int) -> float:
    root = str(Path(__file__).resolve().parents[1])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30, cwd=root)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    n = args.commands
    proc, port = start_aiosmtpd()
    try:
        cases: dict[str, Callable[[], None]] = {
            "smtplib loop": lambda: run_smtplib(port, n),
            "api, recording": lambda: run_api(port, n, record=True),
            "api, record=False": lambda: run_api(port, n, record=False),
        }
        results = best(cases, args.runs)
    finally:
        proc.terminate()
        proc.wait(10)
    base = results["smtplib loop"][0]
    print(f"{n} SMTP commands against aiosmtpd (own process), best of {args.runs}")
    print(f"{'case':18} {'seconds':>8} {'us/cmd':>8} {'client CPU us/cmd':>18} {'x smtplib':>10}")
    for name, (t, cpu) in results.items():
        print(f"{name:18} {t:8.3f} {t / n * 1e6:8.0f} {cpu / n * 1e6:18.0f} {t / base:10.2f}")
    floor = import_time("pass", args.runs)
    imports = {
        name: import_time(f"import {name}", args.runs) for name in ("smtplib", "protoshell.api")
    }
    print(
        f"import in a fresh interpreter (python -c pass: {floor * 1000:.0f} ms), best of {args.runs}:"
    )
    for name, t in imports.items():
        print(
            f"  import {name:15} {t * 1000:5.0f} ms  (+{(t - floor) * 1000:.0f} ms over the floor)"
        )
    ratio = results["api, record=False"][0] / base
    recording = results["api, recording"][0] / base
    extra = (imports["protoshell.api"] - floor) / max(imports["smtplib"] - floor, 1e-9)
    print(
        f"verdict: api {ratio:.2f}x smtplib's time without recording, {recording:.2f}x "
        f"recording; import protoshell.api costs {extra:.1f}x what import smtplib does"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
