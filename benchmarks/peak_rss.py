"""Run protoshell in this process and report its own peak RSS (VmHWM).

``ru_maxrss`` of a child also counts the parent it was forked from, so a
benchmark script holding big buffers would inflate it; /proc/self/status's
VmHWM belongs to this process's memory map alone (reset by exec).

    python benchmarks/peak_rss.py URL [protoshell options]   # peak on stderr last line
"""

from __future__ import annotations

import sys


def vm_hwm_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main() -> int:
    from protoshell.cli import main as protoshell_main

    try:
        code = protoshell_main(sys.argv[1:])
    finally:
        sys.stderr.write(f"peak-rss-kib {vm_hwm_kib()}\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
