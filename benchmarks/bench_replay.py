"""Replaying a 1,000-command SMTP transcript vs a loop of smtplib calls.

Both talk to the same aiosmtpd, started in its own process (so neither
client shares its interpreter with the server), and do the same 1,000
commands on one connection: 250 rounds of MAIL FROM, RCPT TO, RSET, NOOP,
each answered before the next is sent.  The replay checks every answer
against the transcript; smtplib only reads them.

Cases, best of ``--runs``:

- smtplib: ``s.mail(); s.rcpt(); s.rset(); s.noop()`` in a loop;
- asyncio floor: the least an asyncio client can do (one task, streams,
  read a line, no parsing, no checking): what the event loop alone costs
  over blocking sockets, for context;
- framer floor: protoshell's SMTP framer in a bare blocking loop (send,
  recv, events to the end of the turn; no session, engine or checking):
  what the sans-IO parsing alone costs, the floor for any replay built on it;
- replay --quiet: the engine, checking, printing only the verdict;
- replay > file: the whole ``protoshell replay`` output (2,000 C:/S: lines)
  written to a file, as ``protoshell replay F > log`` does;
- replay pipelined: the same commands, each round of four written as four
  C: lines then four S: lines (the lecture's "re-ordered" form), so four
  commands are in flight per turn: what a transcript can do that a loop of
  smtplib calls cannot (aiosmtpd reads pipelined commands in order).

Issue 5 asks the replay to be at least as fast as smtplib (ratio <= 1).

A replay without ``--step`` runs on a blocking socket (``Session(pull=True)``:
one recv and one send per turn), and sends the next line the moment the
answer it waits for has arrived and matches (for SMTP, from the answer's
bytes, before they are framed), then frames, checks and prints that answer
while the server works on the next command.  So what counts in the wall
time is the path from an answer to the next command (a few microseconds),
not the client's CPU per command; the framer floor above does its framing
first, which is why the replay can beat it.  The client CPU column is this
process's user + system time per command, shown for context.

On a small virtual machine a client that does less after each send can be
slower: the idle CPU takes longer to wake when the answer comes.  That is
why ``replay --quiet`` is often a little slower than ``replay > file``.

    python benchmarks/bench_replay.py [--commands N] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protoshell.context import Environment
from protoshell.proto.base import NEED_DATA, ResponseEnd
from protoshell.proto.smtp import SmtpFramer
from protoshell.replay.cli_entry import replay_main

ROUND = (
    ("MAIL FROM:<smith@bar.com>", "250 OK"),
    ("RCPT TO:<jones@foo.com>", "250 OK"),
    ("RSET", "250 OK"),
    ("NOOP", "250 OK"),
)


def start_aiosmtpd() -> tuple[subprocess.Popen[bytes], int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.settimeout(2)
                if c.recv(100).startswith(b"220"):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("aiosmtpd did not start")


def transcript(commands: int, *, group: int = 1) -> str:
    """``group`` commands are sent before their answers are read (1: the
    usual one command per turn; 4: each round pipelined, RFC 2920 style)."""
    lines = ["S: 220 *", "C: EHLO bench", "S: 250-*", "S: ...", "S: 250 HELP"]
    for start in range(0, commands, group):
        turn = [ROUND[i % len(ROUND)] for i in range(start, min(start + group, commands))]
        lines += [f"C: {command}" for command, _ in turn]
        lines += [f"S: {reply}" for _, reply in turn]
    lines += ["C: QUIT", "S: 221 *"]
    return "\n".join(lines) + "\n"


def run_smtplib(port: int, commands: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("bench")
        for i in range(commands):
            step = i % 4
            if step == 0:
                code, _ = s.mail("smith@bar.com")
            elif step == 1:
                code, _ = s.rcpt("jones@foo.com")
            elif step == 2:
                code, _ = s.rset()
            else:
                code, _ = s.noop()
            assert code == 250, code


def run_asyncio_floor(port: int, commands: int) -> None:
    """The least any asyncio client can do: one task, streams, no parsing
    beyond reading a line, no checking.  What the event loop costs."""

    async def go() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"EHLO bench\r\n")
        while not (await reader.readline()).startswith(b"250 "):
            pass
        for i in range(commands):
            command, _ = ROUND[i % len(ROUND)]
            writer.write(command.encode() + b"\r\n")
            line = await reader.readline()
            assert line.startswith(b"250"), line
        writer.write(b"QUIT\r\n")
        await reader.readline()
        writer.close()

    asyncio.run(go())


def run_framer_floor(port: int, commands: int) -> None:
    """The least a client built on protoshell's sans-IO SMTP framer can do:
    a blocking socket, ``framer.send``, ``recv``, events until the turn
    ends; no session, no engine, no checking.  What the framer costs."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    framer = SmtpFramer()

    def turn(wire: bytes) -> None:
        if wire:
            sock.sendall(wire)
        while True:
            event = framer.next_event()
            if event is NEED_DATA:
                framer.receive_data(sock.recv(65536))
            elif isinstance(event, ResponseEnd):
                assert event.outcome != "error", event
                return

    with sock:
        turn(b"")
        turn(framer.send(b"EHLO bench"))
        for i in range(commands):
            turn(framer.send(ROUND[i % len(ROUND)][0].encode()))
        turn(framer.send(b"QUIT"))


def run_replay(path: str, port: int, *, quiet: bool, out_path: str) -> None:
    with open(out_path, "w", encoding="utf-8") as out:
        env = Environment(
            stdin=io.BytesIO(),
            stdout=out,
            stderr=sys.stderr,
            stdin_isatty=False,
            stdout_isatty=False,
            no_color_env=True,
        )
        args = [path, "--target", f"smtp://127.0.0.1:{port}"] + (["--quiet"] if quiet else [])
        status = replay_main(args, env=env)
    assert status == 0, f"replay failed with {status}: see {out_path}"


def best(cases: dict[str, Callable[[], None]], runs: int) -> dict[str, tuple[float, float]]:
    """Each case's best wall time of ``runs``, with the client's CPU time
    (user + system, this process only: the server is another process) in
    that run.  The cases take turns, run after run, so a burst of noise on a
    shared machine does not land on one case only."""
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            seen[name].append((time.perf_counter() - t0, time.process_time() - c0))
    return {name: min(times) for name, times in seen.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pin", action="store_true", help="server on CPU 1, clients on CPU 0 (needs 2 CPUs)")
    args = ap.parse_args()
    proc, port = start_aiosmtpd()
    if args.pin:
        # The server on one CPU, every client on the other: as when the
        # server is another machine (no client shares the server's CPU).
        os.sched_setaffinity(proc.pid, {1})
        os.sched_setaffinity(0, {0})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bench.txt")
            Path(path).write_text(transcript(args.commands))
            piped = os.path.join(tmp, "pipelined.txt")
            Path(piped).write_text(transcript(args.commands, group=4))
            out = os.path.join(tmp, "out.txt")
            out_quiet = os.path.join(tmp, "quiet.txt")
            results = best(
                {
                    "smtplib loop": lambda: run_smtplib(port, args.commands),
                    "asyncio floor": lambda: run_asyncio_floor(port, args.commands),
                    "framer floor": lambda: run_framer_floor(port, args.commands),
                    "replay --quiet": lambda: run_replay(path, port, quiet=True, out_path=out_quiet),
                    "replay > file": lambda: run_replay(path, port, quiet=False, out_path=out),
                    "replay pipelined": lambda: run_replay(piped, port, quiet=True, out_path=out_quiet),
                },
                args.runs,
            )
            with open(out, encoding="utf-8") as f:
                lines = sum(1 for _ in f)
    finally:
        proc.terminate()
        proc.wait(10)
    base = results["smtplib loop"][0]
    n = args.commands
    print(f"{n} SMTP commands against aiosmtpd (own process), best of {args.runs}")
    print(f"{'case':18} {'seconds':>8} {'us/cmd':>8} {'client CPU us/cmd':>18} {'x smtplib':>10}")
    for name, (t, cpu) in results.items():
        print(f"{name:18} {t:8.3f} {t / n * 1e6:8.0f} {cpu / n * 1e6:18.0f} {t / base:10.2f}")
    print(f"(replay > file wrote {lines} lines)")
    def verdict(name: str) -> str:
        ratio = results[name][0] / base
        return f"{name} {ratio:.2f}x ({'OK' if ratio <= 1.0 else 'SLOWER THAN SMTPLIB'})"

    print(
        f"verdict (target <= 1.00x smtplib), one command per turn: {verdict('replay > file')}, "
        f"{verdict('replay --quiet')}; pipelined {results['replay pipelined'][0] / base:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
