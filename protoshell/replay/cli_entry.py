"""Entry points for ``protoshell replay``, ``show`` and ``demo``.

Each parses its own arguments (argparse; a usage error is one line on
stderr and exit 2) and returns an exit status (status.ExitStatus): 0 all
matched, 1 a mismatch (or the user quit ``--step``), 2 a bad file or
usage, 3 a network error.

``replay_main(argv, make_stepper=...)``: the interactive ``--step`` prompt
lives in ``protoshell.shell.stepper`` (prompt_toolkit is only allowed in
shell/); this layer cannot import it, so the caller passes its factory.
Without one, ``--step`` reads its answers as plain lines from stdin.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from ..context import Environment
from ..render.cut import DEFAULT_MAX_LINES
from ..status import ExitStatus
from ..target import Target, TargetError, parse_target
from ..transcript.escape import escape_line
from ..transcript.model import Comment, Transcript
from ..transcript.parse import TranscriptError, parse_transcript
from .engine import (
    Controller,
    Engine,
    ReplayOptions,
    ReplayUsageError,
    check_transcript,
    transcript_protocol,
)
from .step import StepMachine

__all__ = [
    "Parser",
    "StepperFactory",
    "UsageError",
    "add_replay_options",
    "demo_main",
    "load_transcript",
    "parse_variables",
    "replay_main",
    "replay_options",
    "show_main",
]

# (machine, environment, write one line of output) -> the controller --step uses.
StepperFactory = Callable[[StepMachine, Environment, Callable[[str], None]], Controller]


class UsageError(Exception):
    """A bad command line or input file: one line on stderr, exit status 2."""


_T = TypeVar("_T")


def _unless_closed(fn: Callable[[_T], None]) -> Callable[[_T], None]:
    """``fn`` that goes quiet once the reader of our output has gone
    (``protoshell replay F | head``): the replay goes on, so its exit
    status still tells whether the server matched."""
    from ..render.console import OutputClosed

    def call(item: _T) -> None:
        try:
            fn(item)
        except OutputClosed:
            pass

    return call


class Parser(argparse.ArgumentParser):
    """argparse whose errors are a UsageError (one line), not usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def load_transcript(path: str) -> Transcript:
    """Read and parse a transcript file; raises TranscriptError (or OSError)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        text = f.read()
    return parse_transcript(text, path)


def parse_variables(pairs: Sequence[str]) -> dict[str, str]:
    """``--set NAME=VALUE`` arguments as variables (transcript notation);
    raises UsageError for a malformed one."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        ok_name = bool(name) and (name[0].isalpha() or name[0] == "_") and name.replace("_", "a").isalnum() and name.isascii()
        if not sep or not ok_name:
            raise UsageError(f"--set wants NAME=VALUE (NAME: letters, digits, _), not {pair!r}")
        # Variables hold transcript notation: escape what was typed.
        out[name] = escape_line(value.encode("utf-8", "surrogateescape"))
    return out


def _target_for(transcript: Transcript, url: str | None, starttls: bool = False) -> Target:
    if url is None:
        url = transcript.target
        if not url:
            raise UsageError(
                f"{transcript.source} names no target (no '# protoshell transcript · target: URL' "
                "header): pass --target URL"
            )
    try:
        target = parse_target(url)
        if starttls:
            target = target.with_starttls()
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    declared = transcript_protocol(transcript)
    if declared is not None and declared != target.protocol:
        raise UsageError(
            f"{transcript.source} is a {declared.upper()} transcript, but the target "
            f"{target.url} speaks {target.protocol.upper()}"
        )
    return target


def _max_lines_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-lines",
        type=int,
        default=DEFAULT_MAX_LINES,
        metavar="N",
        help=f"show at most N lines of a body, literal or message (default {DEFAULT_MAX_LINES})",
    )


def _max_lines(args: argparse.Namespace) -> int:
    if args.max_lines < 0:
        raise UsageError("--max-lines must be 0 or more")
    return int(args.max_lines)


def _connect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", metavar="URL", help="server to replay against (default: the file's header)")
    p.add_argument("--starttls", action="store_true", help="upgrade to TLS after the greeting")
    add_replay_options(p)
    _max_lines_option(p)
    p.add_argument("--no-color", action="store_true", help="no colours (NO_COLOR is honoured too)")


def add_replay_options(p: argparse.ArgumentParser) -> None:
    """The options every replay takes (``replay``, ``demo``, ``test``):
    TLS trust, timeout, --strict, --set; read back by ``replay_options``."""
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--cafile", metavar="FILE", help="trust the CA certificates in FILE")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for an answer (default 10)")
    p.add_argument("--strict", action="store_true", help="compare whole lines (* is a wildcard), not just the status")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a variable for $NAME in C: lines; --set password=... fills <redacted>",
    )


def _replay_parser() -> Parser:
    p = Parser(
        prog="protoshell replay",
        description="Send a transcript's C: lines to a server and check its S: lines.",
        epilog="exit status: 0 all matched, 1 mismatch, 2 bad file or usage, 3 network error",
    )
    p.add_argument("file", metavar="FILE", help="the transcript")
    _connect_options(p)
    p.add_argument("--step", action="store_true", help="stop before every C: line (a debugger)")
    p.add_argument(
        "--break",
        dest="breakpoints",
        type=int,
        action="append",
        default=[],
        metavar="LINE",
        help="stop before the C: line at LINE (with or without --step)",
    )
    p.add_argument("--keep-going", action="store_true", help="report every mismatch, not just the first")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the exchange, only mismatches and the verdict")
    p.add_argument("-v", "--verbose", action="store_true", help="say which transcript line each answer matched")
    return p


def _prepare(
    args: argparse.Namespace, env: Environment
) -> tuple[Transcript, Target, dict[str, str]]:
    if not args.timeout > 0:  # nan too
        raise UsageError("--timeout must be more than 0 seconds")
    _max_lines(args)
    try:
        transcript = load_transcript(args.file)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    if all(isinstance(step, Comment) for step in transcript.steps):
        raise UsageError(f"{args.file} has nothing to replay (only comments)")
    target = _target_for(transcript, args.target, args.starttls)
    variables = parse_variables(args.set)
    check_transcript(transcript, target.protocol, variables)
    return transcript, target, variables


def replay_main(
    argv: Sequence[str],
    *,
    env: Environment | None = None,
    make_stepper: StepperFactory | None = None,
) -> int:
    """``protoshell replay FILE [--target URL] [--step] [--strict] ...``."""
    env = env or Environment()
    try:
        args = _replay_parser().parse_args(list(argv))
        transcript, target, variables = _prepare(args, env)
    except UsageError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE
    except (TranscriptError, ReplayUsageError) as exc:
        env.error(str(exc))
        return ExitStatus.USAGE

    from ..render.console import make_console
    from ..render.exchange import ExchangeRenderer
    from ..render.replay_view import ReplayPrinter
    from .report import ReplayReporter

    console = make_console(env.stdout, color=env.color(args.no_color))
    printer = ReplayPrinter(console)
    reporter = ReplayReporter(
        printer, filename=args.file, strict=args.strict, verbose=args.verbose, report_error=env.error
    )
    controller: Controller | None = None
    if args.step or args.breakpoints:
        from .engine import client_line_numbers
        from .step import LineStepper

        machine = StepMachine.create(client_line_numbers(transcript), breakpoints=args.breakpoints, stepping=args.step)

        if make_stepper is not None:
            controller = make_stepper(machine, env, printer.plain)
        else:
            controller = LineStepper(machine, env.stdin, printer.plain)
    observers = [] if args.quiet else [_unless_closed(ExchangeRenderer(console, max_lines=args.max_lines))]
    options = replay_options(args, variables, keep_going=args.keep_going)
    engine = Engine(
        transcript, target, options, report=_unless_closed(reporter), controller=controller, observers=observers
    )
    return _run(engine, env)


def replay_options(args: argparse.Namespace, variables: dict[str, str], *, keep_going: bool = False) -> ReplayOptions:
    """The ReplayOptions of ``add_replay_options``' arguments."""
    return ReplayOptions(
        strict=args.strict,
        timeout=args.timeout,
        insecure=args.insecure,
        cafile=args.cafile,
        variables=variables,
        keep_going=keep_going,
    )


def _run(engine: Engine, env: Environment) -> int:
    """Run the engine; Ctrl-C is one line and status 130, not a traceback."""
    try:
        result = asyncio.run(engine.run())
    except KeyboardInterrupt:
        env.error("interrupted")
        return 130
    return int(result.status)


def _show_parser() -> Parser:
    p = Parser(
        prog="protoshell show",
        description="Render a transcript in the shell's colours, or export it as HTML or SVG.",
    )
    p.add_argument("file", metavar="FILE", help="the transcript")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--html", metavar="OUT", help="write a stand-alone HTML page")
    out.add_argument("--svg", metavar="OUT", help="write an SVG picture (slides)")
    p.add_argument("--title", help="the title (default: the lesson's first comment, or the file name)")
    p.add_argument("--protocol", choices=("http", "smtp", "pop3", "imap"), help="colour as this protocol")
    p.add_argument("--theme", choices=("default", "classroom"), default="default", help="colour theme")
    p.add_argument("--width", type=int, default=100, metavar="N", help="columns of an export (default 100)")
    p.add_argument("-n", "--line-numbers", action="store_true", help="number the lines")
    p.add_argument("--phases", action="store_true", help="show each command's phase (identify, ask, answer, goodbye)")
    p.add_argument("--no-color", action="store_true", help="no colours on the terminal")
    _max_lines_option(p)
    return p


def show_main(argv: Sequence[str], *, env: Environment | None = None) -> int:
    """``protoshell show FILE [--html OUT | --svg OUT]``: 0 done, 2 bad file,
    arguments or output path."""
    env = env or Environment()
    try:
        args = _show_parser().parse_args(list(argv))
        if not 20 <= args.width <= 1000:
            raise UsageError("--width must be between 20 and 1000")
        _max_lines(args)
        try:
            transcript = load_transcript(args.file)
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    except UsageError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE
    except TranscriptError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE

    from ..render.console import make_console
    from ..render.replay_view import TranscriptView, export_html, export_svg, recording_console
    from .show import guess_protocol, rows_for, title_for

    protocol = args.protocol or guess_protocol(transcript)
    rows = rows_for(transcript, protocol, phases=args.phases)
    title = title_for(transcript, args.title)
    view = TranscriptView(
        rows, title=title, target=transcript.target, line_numbers=args.line_numbers, max_lines=args.max_lines
    )
    export = args.html or args.svg
    if not export:
        from ..render.console import OutputClosed

        console = make_console(env.stdout, color=env.color(args.no_color), theme_name=args.theme)
        try:
            console.print(view)
        except OutputClosed:
            pass  # `protoshell show F | head`: the reader has seen enough
        return ExitStatus.OK
    recorder = recording_console(theme_name=args.theme, width=args.width)
    recorder.print(view)
    full_title = f"{title} · {transcript.target}" if transcript.target else title
    try:
        if args.html:
            export_html(recorder, args.html, title=full_title)
        else:
            export_svg(recorder, args.svg, title=full_title)
    except OSError as exc:
        env.error(f"cannot write {export}: {exc.strerror or exc}")
        return ExitStatus.USAGE
    env.stderr.write(f"protoshell: wrote {export}\n")
    return ExitStatus.OK


def _demo_parser() -> Parser:
    p = Parser(
        prog="protoshell demo",
        description="Perform a transcript for a class: Enter sends the next line, typed out, "
        "with its phase; the server's real answer appears.",
    )
    p.add_argument("file", metavar="FILE", help="the transcript (a lesson)")
    _connect_options(p)
    p.add_argument("--theme", choices=("default", "classroom"), default="default", help="classroom: high contrast")
    p.add_argument("--pace", type=float, default=None, metavar="S", help="seconds per typed character (default 0.04; 0: at once)")
    p.add_argument("--no-wait", action="store_true", help="do not wait for Enter between lines")
    return p


def demo_main(argv: Sequence[str], *, env: Environment | None = None) -> int:
    """``protoshell demo FILE [--target URL] [--theme classroom] [--pace S]``:
    exit 0 when the server answered as the lesson says, 1 when it differed,
    2 bad file or usage, 3 network error."""
    env = env or Environment()
    try:
        args = _demo_parser().parse_args(list(argv))
        if args.pace is not None and not 0 <= args.pace <= 2:
            raise UsageError("--pace must be between 0 and 2 seconds per character")
        transcript, target, variables = _prepare(args, env)
    except UsageError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE
    except (TranscriptError, ReplayUsageError) as exc:
        env.error(str(exc))
        return ExitStatus.USAGE

    from ..render.console import make_console
    from ..render.exchange import ExchangeRenderer
    from ..render.replay_view import DemoPrinter, ReplayPrinter
    from .demo import DEFAULT_PACE, DemoController, DemoReporter, hide_typed, single_keys
    from .report import ReplayReporter
    from .show import title_for

    console = make_console(env.stdout, color=env.color(args.no_color), theme_name=args.theme)
    printer = DemoPrinter(console)
    printer.heading(title_for(transcript, None), target.url)
    reporter = DemoReporter(
        printer, ReplayReporter(ReplayPrinter(console), filename=args.file, strict=args.strict)
    )
    with single_keys(env.stdin, env.stdin_isatty and not args.no_wait) as keys:
        controller = DemoController(
            printer,
            env.stdin,
            pace=DEFAULT_PACE if args.pace is None else args.pace,
            wait=not args.no_wait,
            keys=keys,
        )
        options = replay_options(args, variables, keep_going=True)
        observers = [_unless_closed(hide_typed(controller, ExchangeRenderer(console, max_lines=args.max_lines)))]
        engine = Engine(
            transcript, target, options, report=_unless_closed(reporter), controller=controller, observers=observers
        )
        return _run(engine, env)
