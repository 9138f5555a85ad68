"""Command-line entry point: arguments in, exit code out.

Imports are lazy (inside functions) so that ``protoshell --version`` and
``--help`` answer without loading asyncio, rich or prompt_toolkit.  Every
failure a user can cause ends in one line on stderr and a documented exit
code (status.ExitStatus), never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:  # the import stays lazy at run time (start-up speed)
    from .context import Environment

SUBCOMMANDS = ("replay", "test", "serve", "show", "demo", "proxy")

EPILOG = """\
targets:  http://h[:80]  https://h[:443]  smtp://h[:25]  smtps://h[:465]
          submission://h[:587] (STARTTLS)  pop3://h[:110]  pop3s://h[:995]
          imap://h[:143]  imaps://h[:993]
other commands: protoshell {replay,test,serve,show,demo,proxy} --help
test:     protoshell test PATH... [--target URL]... [--jobs N] [--junit FILE]: transcripts as tests
proxy:    protoshell proxy URL [--listen HOST:PORT] [--record FILE]: watch and record a real client
exit codes: 0 ok, 1 server refused / replay mismatch, 2 usage, 3 network error
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse prints usage + message and exits 2; keep it to one line.
        sys.stderr.write(f"protoshell: {message} (see protoshell --help)\n")
        raise SystemExit(2)


def _connect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--starttls", action="store_true", help="upgrade to TLS with STARTTLS/STLS after the greeting")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (says so on screen)")
    p.add_argument("--cafile", metavar="FILE", help="trust the CA certificates in FILE")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for a response (default 10)")
    p.add_argument("--no-color", action="store_true", help="no colours (NO_COLOR is honoured too)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="protoshell",
        description="Talk HTTP, SMTP, POP3 and IMAP by hand; see every exchange as C:/S: lines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("url", nargs="?", help="server to connect to (default: the embedded HTTP server)")
    _connect_options(p)
    p.add_argument("--record", metavar="FILE", help="write the session to FILE as a transcript")
    p.add_argument("--no-redact", action="store_true", help="keep passwords and cookies in the transcript")
    p.add_argument(
        "--loose-volatile",
        action="store_true",
        help="in the --record file, write dates, ids and timings the server chose as * (for replay --strict)",
    )
    p.add_argument("--hex", action="store_true", help="show raw bytes (CR/LF visible) and a hex dump")
    p.add_argument("--max-lines", type=int, default=200, metavar="N", help="show at most N lines of a body, literal, POP3 answer or SMTP message (default 200)")
    p.add_argument("--save-body", metavar="FILE", help="stream the last body, literal or POP3 message (RETR, TOP) to FILE")
    p.add_argument("--version", action="version", version=f"protoshell {__version__}")
    return p


class Terminated(SystemExit):
    """SIGTERM (``kill PID``) unwinds like Ctrl-C: a ``--record`` file ends
    with its hang-up line and everything in ``finally`` runs; by default the
    process just died there."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated(128 + signum)


def _catch_sigterm() -> None:
    """In the program (not when a test or an application calls ``main``
    with arguments), where SIGTERM still has its default action: ``serve``
    and ``proxy`` install their own handlers on their loops."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if argv is None:
        _catch_sigterm()
    try:
        if args_list and args_list[0] in SUBCOMMANDS:
            return _subcommand(args_list[0], args_list[1:])
        args = build_parser().parse_args(args_list)
        return _connect(args)
    except KeyboardInterrupt:
        sys.stderr.write("protoshell: interrupted\n")
        return 130
    except Terminated as exc:
        sys.stderr.write("protoshell: terminated\n")
        return int(exc.code) if isinstance(exc.code, int) else 143
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2


def _subcommand(name: str, rest: list[str]) -> int:
    if name == "serve":
        from .server.control import serve_main

        return serve_main(rest)
    if name == "proxy":
        from .proxy.cli import proxy_main

        return proxy_main(rest)
    if name == "replay":
        from .replay.cli_entry import replay_main

        return replay_main(rest, make_stepper=_make_stepper)
    if name == "test":
        from .replay.suite_cli import test_main

        return test_main(rest)
    from .replay import cli_entry

    return cli_entry.show_main(rest) if name == "show" else cli_entry.demo_main(rest)


def _make_stepper(machine, env, write):  # type: ignore[no-untyped-def]
    """The --step prompt, imported only when a replay steps: it is
    prompt_toolkit (shell/), ~120 ms that a batch replay need not pay."""
    from .shell.stepper import make_stepper

    return make_stepper(machine, env, write)


def _environment() -> Environment:
    """The real Environment; tests replace this to fake streams and TTYs."""
    from .context import Environment

    return Environment()


def _connect(args: argparse.Namespace) -> int:
    from .status import ExitStatus
    from .target import TargetError, parse_target

    env = _environment()
    if args.max_lines < 0:
        env.error("--max-lines must be 0 or more")
        return ExitStatus.USAGE
    if not args.timeout > 0:  # nan too
        env.error("--timeout must be more than 0 seconds")
        return ExitStatus.USAGE
    if args.url is None:
        return _embedded_default(args, env)
    try:
        target = parse_target(args.url)
        if args.starttls:
            target = target.with_starttls()
    except TargetError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE
    return _open(target, args, env)


def _open(target, args: argparse.Namespace, env, banner: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """The shell at a terminal, pipe mode otherwise (DESIGN.md section 1)."""
    if env.stdin_isatty:
        from .shell.app import run_shell

        return run_shell(target, args, env, banner=banner)
    from .runner import run_connection

    return run_connection(target, args, env)


def _embedded_default(args: argparse.Namespace, env) -> int:  # type: ignore[no-untyped-def]
    """Bare ``protoshell``: the embedded web server on a free loopback port,
    in this process, and a session connected to it: works offline, on a
    fresh machine, with nothing else running."""
    from .server.control import SHELL_TIMEOUT, EmbeddedServer
    from .status import ExitStatus
    from .target import parse_target

    if args.starttls:
        env.error("--starttls needs a target URL (the embedded server speaks plain HTTP)")
        return ExitStatus.USAGE
    try:
        server = EmbeddedServer(port=0, timeout=SHELL_TIMEOUT).start()
    except (OSError, RuntimeError) as exc:
        env.error(f"cannot start the embedded server: {exc}")
        return ExitStatus.NETWORK
    try:
        target = parse_target(f"http://127.0.0.1:{server.port}")
        banner = (
            f"embedded web server on {target.url} serving {server.root}; "
            "try: GET / HTTP/1.1 and an empty line"
        )
        return _open(target, args, env, banner=banner)
    finally:
        server.stop()
