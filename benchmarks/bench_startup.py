"""How fast `protoshell --version` and `--help` answer, as ratios to peers.

Peers, run in the same script on the same machine: `python -c pass` (the
floor: an interpreter that does nothing) and httpie's `http --version` (a
well-liked Python CLI).  Issue 2 asks for well under 0.2 s.

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def best_of(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=30)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    runs = ap.parse_args().runs
    protoshell = shutil.which("protoshell")
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "protoshell --version": [protoshell] if protoshell else [sys.executable, "-m", "protoshell"],
        "protoshell --help": [protoshell] if protoshell else [sys.executable, "-m", "protoshell"],
    }
    cases["protoshell --version"] = cases["protoshell --version"] + ["--version"]
    cases["protoshell --help"] = cases["protoshell --help"] + ["--help"]
    http = shutil.which("http")
    if http:
        cases["http --version (httpie)"] = [http, "--version"]
    results = {name: best_of(cmd, runs) for name, cmd in cases.items()}
    floor = results["python -c pass"]
    peer = results.get("http --version (httpie)")
    print(f"{'command':28} {'median s':>9} {'x python':>9} {'x httpie':>9}")
    for name, t in results.items():
        vs_peer = f"{t / peer:9.2f}" if peer else "      n/a"
        print(f"{name:28} {t:9.4f} {t / floor:9.2f} {vs_peer}")
    worst = max(results["protoshell --version"], results["protoshell --help"])
    print(f"verdict: {'OK' if worst < 0.2 else 'TOO SLOW'} (slowest protoshell case {worst * 1000:.0f} ms, target < 200 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
