"""``protoshell proxy``: arguments in, exit code out.

    protoshell proxy TARGET_URL [--listen HOST:PORT] [--record FILE | --record-dir DIR]
                     [--cafile F | --insecure] [--ca-dir DIR] [--no-redact] [--loose-volatile] [--max-lines N] [--hex]
    protoshell proxy [--ca-dir DIR] --ca-path

Exit codes (status.ExitStatus): 0 stopped by Ctrl-C or SIGTERM (recordings
complete), 2 bad arguments or an unusable CA / recording path, 3 the
listen address cannot be bound (a port in use).  Faults of one connection
never end the proxy: they are one line each, and it goes on serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..context import Environment
from ..status import ExitStatus

if TYPE_CHECKING:
    from .connection import LegOptions
    from .server import ProxyServer, ViewOptions

# Called once listening, with the loop and the event that stops the proxy
# (tests run the proxy in a thread and stop it so, as Ctrl-C would).
OnReady = Callable[[asyncio.AbstractEventLoop, asyncio.Event], None]

EPILOG = """\
trusting the proxy's CA (TLS targets and STARTTLS):
  protoshell proxy --ca-path                     prints the CA certificate's path (made on first use)
  curl --cacert "$(protoshell proxy --ca-path)" https://127.0.0.1:10443/
  python: ssl.create_default_context(cafile=PATH); protoshell URL --cafile PATH
exit status: 0 stopped (Ctrl-C), 2 usage, 3 cannot listen
"""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see protoshell proxy --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="protoshell proxy",
        description=(
            "Stand between a real client and a server: forward every byte unchanged, show the "
            "conversation as C:/S: lines, record it as a transcript that replays. "
            "STARTTLS and TLS targets are followed with certificates from a local CA."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", nargs="?", metavar="TARGET_URL", help="the server (http, https, smtp, smtps, submission, pop3, pop3s, imap, imaps)")
    p.add_argument("--listen", metavar="HOST:PORT", help="where clients connect (default 127.0.0.1 and the target's port + 10000, or a free port; :0 picks one)")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", metavar="FILE", help="write the first connection to FILE as a transcript")
    rec.add_argument("--record-dir", metavar="DIR", help="write each connection to DIR/0001.txt, DIR/0002.txt...")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--cafile", metavar="FILE", help="trust the CA certificates in FILE for the server")
    tls.add_argument("--insecure", action="store_true", help="do not verify the server's certificate (says so on screen)")
    p.add_argument("--ca-dir", metavar="DIR", help="the proxy's own CA lives here (default: the data folder, proxy-ca/)")
    p.add_argument("--ca-path", action="store_true", help="print the path of the proxy's CA certificate (PEM), make it if needed, and exit")
    p.add_argument("--no-redact", action="store_true", help="keep passwords and cookies in recordings")
    p.add_argument(
        "--loose-volatile",
        action="store_true",
        help="write what changes between runs in server lines (dates, message ids, UIDVALIDITY, timings) as * in recordings",
    )
    p.add_argument("--max-lines", type=int, default=200, metavar="N", help="show at most N lines of a body or literal (default 200)")
    p.add_argument("--hex", action="store_true", help="show raw bytes (CR/LF visible) and a hex dump")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to connect and shake hands with the server (default 10)")
    p.add_argument("--no-color", action="store_true", help="no colours (NO_COLOR is honoured too)")
    p.add_argument(
        "--busy-poll",
        type=float,
        default=500.0,
        metavar="US",
        help="stay awake US microseconds after I/O before sleeping, for a quicker relay of quick turns "
        "(default 500; 0 sleeps at once and uses no CPU between turns)",
    )
    return p


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT``, ``:PORT`` or ``PORT``; raises ValueError."""
    host, port = "127.0.0.1", text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ValueError(f"bad --listen {text!r} (expected [ADDRESS]:PORT)")
        host, port = text[1:end], text[end + 2 :]
    elif ":" in text:
        host, _, port = text.rpartition(":")
        host = host or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad --listen {text!r}: the port must be 0 to 65535")
    return host, int(port)


def proxy_main(argv: Sequence[str], *, env: Environment | None = None, on_ready: OnReady | None = None) -> int:
    env = env or Environment()
    try:
        args = build_parser().parse_args(list(argv))
        return _main(args, env, on_ready)
    except _UsageError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE


def _main(args: argparse.Namespace, env: Environment, on_ready: OnReady | None) -> int:
    from .ca import CaError, LocalCA

    ca_dir = Path(args.ca_dir) if args.ca_dir else None
    if args.ca_path:
        if args.url:
            raise _UsageError("--ca-path takes no TARGET_URL")
        try:
            ca = LocalCA.ensure(ca_dir)
        except CaError as exc:
            env.error(str(exc))
            return ExitStatus.USAGE
        env.stdout.write(f"{ca.cert_path}\n")
        env.stdout.flush()
        return ExitStatus.OK
    if not args.url:
        raise _UsageError("a TARGET_URL is needed (e.g. smtp://127.0.0.1:2525)")
    if args.max_lines < 0:
        raise _UsageError("--max-lines must be 0 or more")
    if not args.timeout > 0:  # nan too
        raise _UsageError("--timeout must be more than 0 seconds")
    if not 0 <= args.busy_poll <= 1e6:  # nan too; past a second it is no longer "a moment"
        raise _UsageError("--busy-poll must be 0 to 1000000 microseconds")
    from ..target import TargetError, parse_target

    try:
        target = parse_target(args.url)
    except TargetError as exc:
        raise _UsageError(str(exc)) from None
    try:
        listen = parse_listen(args.listen) if args.listen is not None else None
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if args.cafile is not None:
        if not Path(args.cafile).is_file():
            what = "a folder, not a file" if Path(args.cafile).is_dir() else "no such file"
            raise _UsageError(f"--cafile {args.cafile!r}: {what}")
        import ssl

        from ..transport import make_ssl_context

        try:  # now, not at each client's connection
            make_ssl_context(cafile=args.cafile)
        except (ssl.SSLError, OSError) as exc:
            raise _UsageError(f"--cafile {args.cafile!r}: not a PEM file of CA certificates ({exc})") from None
    record_made = False  # the check below made the file (and nothing may come to fill it)
    if args.record is not None:
        try:
            # Can it be written?  Appending keeps an older recording until a
            # client connects (then the recorder writes the file anew).
            record_made = not os.path.exists(args.record)
            open(args.record, "a").close()
        except OSError as exc:
            env.error(f"cannot write --record file {args.record!r}: {exc.strerror}")
            return ExitStatus.USAGE
    if args.record_dir is not None:
        try:
            Path(args.record_dir).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            env.error(f"cannot use --record-dir {args.record_dir!r}: {exc.strerror}")
            return ExitStatus.USAGE
    host = listen[0] if listen is not None else "127.0.0.1"
    client_tls = None
    if target.tls == "implicit" or target.protocol != "http":
        # TLS toward the client: from the first byte, or after STARTTLS.
        try:
            client_tls = LocalCA.ensure(ca_dir).server_context(host)
        except CaError as exc:
            env.error(str(exc))
            return ExitStatus.USAGE
    from ..transport import new_event_loop
    from .connection import LegOptions
    from .server import ViewOptions

    legs = LegOptions(target, args.timeout, args.insecure, args.cafile, client_tls, host)
    view = ViewOptions(args.max_lines, args.hex, args.record, args.record_dir, not args.no_redact, args.loose_volatile)
    # The loop stays awake a moment after I/O and frames when idle: see
    # transport.BusyPollSelector.
    spin = args.busy_poll / 1e6
    with asyncio.Runner(loop_factory=lambda: new_event_loop(spin)) as runner:
        status, recorded = runner.run(_serve(legs, view, listen, args, env, on_ready))
    if args.record is not None and not recorded:
        if status == ExitStatus.OK:
            env.error(f"no client connected: nothing recorded in {args.record}")
        if record_made:
            with contextlib.suppress(OSError):
                os.unlink(args.record)
    return status


async def _serve(
    legs: LegOptions,
    view: ViewOptions,
    listen: tuple[str, int] | None,
    args: argparse.Namespace,
    env: Environment,
    on_ready: OnReady | None,
) -> tuple[int, bool]:
    """The exit status, and whether a connection was recorded (``--record``)."""
    from ..render.console import make_console
    from .server import BatchedOutput, ProxyServer, install_stop_signals

    view_out = BatchedOutput(env.stdout)
    console = make_console(view_out, color=env.color(args.no_color))  # type: ignore[arg-type]
    server = ProxyServer(legs, view, console, env.error)
    target = legs.target
    try:
        if listen is not None:
            host, port = await server.start(*listen)
        else:
            host, port = await _start_default(server, target.port + 10000)
    except OSError as exc:
        where = f"{listen[0]}:{listen[1]}" if listen is not None else "127.0.0.1"
        if exc.errno == errno.EADDRINUSE:
            env.error(f"cannot listen on {where}: the port is in use (choose another with --listen HOST:PORT, or :0)")
        else:
            env.error(f"cannot listen on {where}: {exc.strerror or exc}")
        return ExitStatus.NETWORK, False
    stop = asyncio.Event()
    if on_ready is not None:
        on_ready(asyncio.get_running_loop(), stop)
    else:
        install_stop_signals(stop)  # before the line below: a Ctrl-C right after it stops cleanly
    shown = f"[{host}]" if ":" in host else host
    env.stdout.write(f"listening on {shown}:{port} -> {target.url}\n")
    env.stdout.flush()
    try:
        await server.serve(stop)
    finally:
        view_out.flush_now()
    return ExitStatus.OK, server.recorded


async def _start_default(server: ProxyServer, port: int) -> tuple[str, int]:
    """The target's port + 10000 when free (and a port), else any free one."""
    if port <= 65535:
        try:
            return await server.start("127.0.0.1", port)
        except OSError:
            pass
    return await server.start("127.0.0.1", 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(proxy_main(sys.argv[1:]))
