"""``protoshell test`` on 100 transcripts of 10 commands, against
``protoshell serve --mail`` (its own process): ``--jobs 4`` vs ``--jobs 1``,
and vs 100 runs of ``protoshell replay`` in a shell loop.

Half the transcripts are SMTP (EHLO, MAIL, RCPT, RSET, NOOP..., QUIT: no
mail is delivered), half IMAP (CAPABILITY, LOGIN, SELECT, NOOP, STATUS,
LIST..., LOGOUT), each on its own connection; POP3 is left out because a
POP3 maildrop takes one session at a time (RFC 1939 8), so parallel POP3
files of one user would fail.

Every case is the whole command, started as a user starts it (an
interpreter start included), best of ``--runs``, the cases taking turns:

- ``protoshell test DIR --jobs 1``: one file after the other, in one process;
- ``protoshell test DIR --jobs 4``: four at a time, threads of one process;
- a shell loop: ``for f in DIR/*.txt; do protoshell replay --quiet "$f"; done``.

Issue 12 asks for --jobs 4 >= 2.5x --jobs 1 (the work is waiting for the
server, so threads help even on 2 CPUs) and >= 5x the shell loop (no
interpreter start per file).

    python benchmarks/bench_test_runner.py [--files N] [--runs N] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = "# protoshell transcript · target: {url}\n"

# EHLO, two rounds of four, QUIT: ten commands, no mail delivered.
_ROUND = "C: MAIL FROM:<smith@bar.com>\nS: 250 *\nC: RCPT TO:<jones@foo.com>\nS: 250 *\nC: RSET\nS: 250 *\nC: NOOP\nS: 250 *\n"
SMTP = "S: 220 *\nC: EHLO bench{n}\nS: 250-*\n...\n" + _ROUND * 2 + "C: QUIT\nS: 221 *\n"

IMAP = """\
S: * OK *
C: a1 CAPABILITY
S: * CAPABILITY *
S: a1 OK *
C: a2 LOGIN bob redqueen
S: ...
S: a2 OK *
C: a3 SELECT INBOX
S: ...
S: a3 OK *
C: a4 NOOP
S: a4 OK *
C: a5 STATUS INBOX (MESSAGES)
S: ...
S: a5 OK *
C: a6 NOOP
S: a6 OK *
C: a7 LIST "" "*"
S: ...
S: a7 OK *
C: a8 EXAMINE INBOX
S: ...
S: a8 OK *
C: a9 NOOP
S: a9 OK *
C: a10 LOGOUT
S: * BYE *
S: a10 OK *
"""


def protoshell_command() -> list[str]:
    """The ``protoshell`` script next to this interpreter (a venv's), else
    ``python -m protoshell``."""
    script = Path(sys.executable).with_name("protoshell")
    return [str(script)] if script.exists() else [sys.executable, "-m", "protoshell"]


def start_mail(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``protoshell serve --mail`` on free ports; (process, SMTP URL, IMAP URL)."""
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    log = data / "serve.log"
    with open(log, "wb") as out:  # it prints its URLs on stdout
        proc = subprocess.Popen(
            [*protoshell_command(), "serve", "--mail", "--port", "0", "--smtp-port", "0",
             "--pop3-port", "0", "--imap-port", "0", "--maildir", str(data / "Maildir")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"SMTP (smtp://\S+), POP3 \S+, IMAP (imap://\S+)", log.read_text(errors="replace"))
        if m:
            return proc, m.group(1), m.group(2)
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"protoshell serve --mail did not start: {log.read_text(errors='replace')[-500:]}")


def write_files(folder: Path, count: int, smtp: str, imap: str, rtt: float = 0.0) -> None:
    """``count`` transcripts, SMTP and IMAP in turn; with ``rtt`` > 0 each
    C: line is preceded by ``:sleep RTT``, as if the server were that many
    seconds away (the answers wait a round trip)."""
    folder.mkdir()
    for n in range(count):
        body = SMTP.format(n=n) if n % 2 == 0 else IMAP
        if rtt:
            body = "".join(f":sleep {rtt:g}\n{line}" if line.startswith("C: ") else line for line in body.splitlines(True))
        text = HEADER.format(url=smtp if n % 2 == 0 else imap) + body
        (folder / f"t{n:03d}.txt").write_text(text, encoding="utf-8")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], server: int) -> tuple[float, float, float]:
    """Run ``argv``; (wall seconds, its CPU seconds, the server's CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_cpu(server)
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])}... failed ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, process_cpu(server) - server_before


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=4, help="the parallel case's --jobs (default 4)")
    ap.add_argument(
        "--rtt", type=float, default=0.005, metavar="S",
        help="also run the files with ':sleep S' before each command, a server S seconds away "
        "(default 0.005; 0: skip)",
    )
    args = ap.parse_args()
    ps = protoshell_command()
    tmp = Path(tempfile.mkdtemp(prefix="bench-test-runner-"))
    try:
        proc, smtp, imap = start_mail(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        folder, far = tmp / "suite", tmp / "far"
        write_files(folder, args.files, smtp, imap)
        command = " ".join(shlex.quote(x) for x in ps)
        loop = f'for f in {shlex.quote(str(folder))}/*.txt; do {command} replay --quiet "$f" >/dev/null || exit 1; done'
        many = f"test --jobs {args.jobs}"
        cases = {
            "test --jobs 1": [*ps, "test", str(folder), "--jobs", "1"],
            many: [*ps, "test", str(folder), "--jobs", str(args.jobs)],
            "replay shell loop": ["bash", "-c", loop],
        }
        if args.rtt > 0:
            write_files(far, args.files, smtp, imap, args.rtt)
            cases["rtt: test --jobs 1"] = [*ps, "test", str(far), "--jobs", "1"]
            cases[f"rtt: {many}"] = [*ps, "test", str(far), "--jobs", str(args.jobs)]
        seen: dict[str, list[tuple[float, float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, argv in cases.items():
                seen[name].append(timed(argv, proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    best = {name: min(times) for name, times in seen.items()}
    print(
        f"{args.files} transcripts x 10 commands (SMTP and IMAP) against protoshell serve --mail "
        f"(own process), {os.cpu_count()} CPUs, best of {args.runs}, whole commands"
    )
    print(f"{'case':26} {'seconds':>8} {'ms/file':>8} {'client CPU s':>13} {'server CPU s':>13}")
    for name, (t, cpu, server_cpu) in best.items():
        print(f"{name:26} {t:8.3f} {t / args.files * 1000:8.1f} {cpu:13.3f} {server_cpu:13.3f}")
    one, par, loop_time = best["test --jobs 1"][0], best[many][0], best["replay shell loop"][0]
    speedup, vs_loop = one / par, loop_time / par
    print(
        f"verdict: --jobs {args.jobs} is {speedup:.2f}x --jobs 1 (goal >= 2.5x: "
        f"{'OK' if speedup >= 2.5 else 'BELOW'}), {vs_loop:.2f}x the replay shell loop "
        f"(goal >= 5x: {'OK' if vs_loop >= 5 else 'BELOW'}); --jobs 1 is {loop_time / one:.2f}x the loop"
    )
    if args.rtt > 0:
        far_speedup = best["rtt: test --jobs 1"][0] / best[f"rtt: {many}"][0]
        print(f"with a {args.rtt * 1000:g} ms round trip per command (:sleep): --jobs {args.jobs} is {far_speedup:.2f}x --jobs 1")
    print(
        "(on loopback --jobs 1 is busy, not waiting: its wall time is about the client's CPU plus the "
        "server's, so on 2 CPUs no --jobs can make it much more than 2x faster)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
