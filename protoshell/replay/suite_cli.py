"""``protoshell test PATH... [--target URL]... [--jobs N] [--junit FILE]
[--set NAME=VALUE]... [--strict] [--fail-fast]``: transcripts as a test
suite (suite.py runs them).

Output, in input order whatever ``--jobs`` is: one line per file
(``PASS path (12 steps, 35 ms)``, ``FAIL path:LINE expected ... got ...``,
``ERROR path[:LINE]: why``), then ``N passed, M failed`` (``, K errors``
when a file could not run, ``, K not run`` after ``--fail-fast``).

Exit status: 0 all passed; else the highest that applies of 1 a mismatch,
2 a transcript that does not parse or cannot be replayed (bad usage too),
3 a network error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..context import Environment
from ..status import ExitStatus
from .cli_entry import Parser, UsageError, add_replay_options, parse_variables, replay_options
from .suite import FileResult, SuiteOptions, Targets, default_jobs, find_transcripts, run_files

__all__ = ["prepare_report", "summary_line", "test_main", "unused_targets"]

# Not collected by pytest when this module is imported by a test.
__test__ = False


def _parser() -> Parser:
    p = Parser(
        prog="protoshell test",
        description="Replay transcripts (files, or folders searched for *.txt transcripts) against "
        "their servers, in parallel, as a test suite.",
        epilog="exit status: 0 all passed, 1 a mismatch, 2 a transcript that does not parse "
        "(or bad usage), 3 a network error (the highest that applies)",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="a transcript, or a folder of them")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="URL",
        help="the server for one protocol (once per protocol; default: each file's header)",
    )
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N", help="files replayed at once (default: the CPUs)")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML to FILE")
    p.add_argument("-x", "--fail-fast", action="store_true", help="stop at the first file that does not pass")
    add_replay_options(p)
    return p


def summary_line(results: Sequence[FileResult], not_run: int = 0) -> str:
    """``N passed, M failed`` (``, K errors``) (``, K not run``)."""
    passed = sum(1 for r in results if r.outcome == "pass")
    failed = sum(1 for r in results if r.outcome == "fail")
    errors = sum(1 for r in results if r.outcome == "error")
    line = f"{passed} passed, {failed} failed"
    if errors:
        line += f", {errors} error{'s' if errors != 1 else ''}"
    if not_run:
        line += f", {not_run} not run"
    return line


def unused_targets(targets: Targets, results: Sequence[FileResult]) -> list[str]:
    """The ``--target`` URLs no file ran against: a CI job that names its
    server for the wrong protocol would otherwise pass against the servers
    the headers name (where the files were recorded).  Empty when a file
    stopped before its protocol was known (a file that does not parse)."""
    if any(r.protocol is None for r in results):
        return []
    used = {r.protocol for r in results}
    return [t.url for protocol, t in targets.by_protocol.items() if protocol not in used]


def prepare_report(path: str) -> None:
    """Check ``--junit FILE`` before the run, not after it: a folder is
    refused, and missing parent folders are made (as pytest's --junitxml
    does: CI jobs write ``reports/junit.xml`` into a fresh checkout).
    Raises UsageError."""
    if os.path.isdir(path):
        raise UsageError(f"--junit {path} is a folder: give a file name ({os.path.join(path, 'junit.xml')})")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path}: {folder} is not writable")


def _status(results: Sequence[FileResult]) -> ExitStatus:
    return max((r.status for r in results), default=ExitStatus.OK)


class _Output:
    """Lines to stdout; once the reader has gone (``protoshell test DIR |
    head``) the run goes on quietly, so the exit status still tells."""

    def __init__(self, env: Environment) -> None:
        self.stream = env.stdout
        self.closed = False

    def line(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True


def test_main(argv: Sequence[str], *, env: Environment | None = None) -> int:
    """``protoshell test ...``; returns the exit status."""
    env = env or Environment()
    try:
        args = _parser().parse_args(list(argv))
        jobs = default_jobs() if args.jobs is None else args.jobs
        if jobs < 1:
            raise UsageError("--jobs must be 1 or more")
        if not args.timeout > 0:  # nan too
            raise UsageError("--timeout must be more than 0 seconds")
        options = SuiteOptions(Targets(args.target), replay_options(args, parse_variables(args.set)))
        paths = find_transcripts(args.paths)
        if not paths:
            raise UsageError(f"no transcripts in {' '.join(args.paths)} (files starting '# protoshell transcript')")
        if args.junit:
            prepare_report(args.junit)
    except UsageError as exc:
        env.error(str(exc))
        return ExitStatus.USAGE

    out = _Output(env)
    results: list[FileResult] = []
    interrupted = False
    try:
        for result in run_files(paths, options, jobs=jobs, fail_fast=args.fail_fast):
            results.append(result)
            out.line(result.line())
    except KeyboardInterrupt:
        # What ran is still reported: the JUnit file says which files did
        # not run, so a CI job cancelled half-way shows what it had found.
        interrupted = True
        env.error(f"interrupted after {len(results)} of {len(paths)} files")
    not_run = paths[len(results) :]
    if not interrupted:
        out.line(summary_line(results, len(not_run)))
        if not not_run:
            for url in unused_targets(options.targets, results):
                env.error(f"warning: --target {url} was not used: no transcript here speaks its protocol")
    if args.junit:
        from .junit import write_junit

        why = "interrupted (Ctrl-C)" if interrupted else "--fail-fast stopped at an earlier failure"
        try:
            write_junit(args.junit, results, not_run, why)
        except OSError as exc:
            env.error(f"cannot write {args.junit}: {exc.strerror or exc}")
            return ExitStatus.USAGE
    return 130 if interrupted else int(_status(results))
