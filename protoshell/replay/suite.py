"""A folder of transcripts as a test suite: find them, pick each one's
target, replay them in parallel, give the results in input order.

This is what ``protoshell test`` (suite_cli.py) and the pytest plugin
(protoshell/pytest_plugin.py) share.  Each file is one replay by the one
engine (engine.py), with its own connection and its own variables; nothing
is shared between files but the ``--set`` values, which each gets a copy of.

Parallel runs stay in this process: ``jobs`` worker threads, each with its
own event loop (``asyncio.Runner``), pull files off a shared list and
replay them as batch runs (blocking sockets, ``Session(pull=True)``), which
release the GIL while they wait for the server.  No interpreter starts per
file, and the work is mostly waiting, so jobs beyond the CPU count pay.

Which files: a path named explicitly always counts; a folder is searched
recursively for ``*.txt`` files whose first line is the transcript header
(``# protoshell transcript ...``), in sorted order.

Which target: ``--target`` once per protocol; a transcript runs against the
target of its protocol (its header's ``protocol:``, its header target's
scheme, else a guess from its lines), else against its header's target.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from ..status import ExitStatus
from ..target import Target, TargetError, parse_target
from ..transcript.model import Comment, Transcript
from ..transcript.parse import HEADER_PREFIX, TranscriptError
from .cli_entry import UsageError, load_transcript
from .engine import Engine
from .expectation import ExpectationError, read_expectation
from .preflight import ReplayUsageError, check_transcript, guess_protocol
from .results import Mismatch, ReplayOptions

__all__ = [
    "FileResult",
    "SuiteOptions",
    "Targets",
    "default_jobs",
    "find_transcripts",
    "is_transcript_file",
    "run_file",
    "run_files",
]

Outcome = Literal["pass", "fail", "error"]
_HEADER = HEADER_PREFIX.encode()


def default_jobs() -> int:
    """``--jobs`` by default: the number of CPUs (the issue's contract)."""
    return os.cpu_count() or 1


def is_transcript_file(path: Path) -> bool:
    """True when ``path``'s first line is the transcript header (a UTF-8
    byte order mark before it is allowed)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEADER) + 3)
    except OSError:
        return False
    return head.removeprefix(b"\xef\xbb\xbf").startswith(_HEADER)


def find_transcripts(paths: Sequence[str]) -> list[str]:
    """The transcripts ``paths`` name, in order, each once: a file as
    given, a folder's ``*.txt`` transcripts (recursively, sorted).  Raises
    UsageError for a path that does not exist."""
    found: list[str] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(str(path))

    for name in paths:
        path = Path(name)
        if path.is_dir():
            for candidate in sorted(path.rglob("*.txt")):
                if candidate.is_file() and is_transcript_file(candidate):
                    add(candidate)
        elif path.exists():
            add(path)
        else:
            raise UsageError(f"no such file or folder: {name}")
    return found


class Targets:
    """``--target`` URLs, at most one per protocol."""

    def __init__(self, urls: Sequence[str] = ()) -> None:
        self.by_protocol: dict[str, Target] = {}
        for url in urls:
            try:
                target = parse_target(url)
            except TargetError as exc:
                raise UsageError(str(exc)) from None
            other = self.by_protocol.get(target.protocol)
            if other is not None:
                raise UsageError(
                    f"two --target URLs for {target.protocol.upper()}: {other.url} and {target.url} "
                    "(give one per protocol)"
                )
            self.by_protocol[target.protocol] = target

    def urls(self) -> dict[str, str]:
        """protocol -> URL, for the pytest fixture."""
        return {protocol: t.url for protocol, t in self.by_protocol.items()}

    def for_transcript(self, transcript: Transcript) -> Target:
        """The target ``transcript`` runs against; UsageError (``file: ...``)
        when there is none."""
        protocol = guess_protocol(transcript)
        if protocol is not None and protocol in self.by_protocol:
            return self.by_protocol[protocol]
        if transcript.target:
            try:
                return parse_target(transcript.target)
            except TargetError as exc:
                raise UsageError(f"{transcript.source}: {exc}") from None
        if protocol is None and len(self.by_protocol) == 1:
            return next(iter(self.by_protocol.values()))
        speaks = f"a {protocol.upper()} transcript" if protocol else "its protocol is unclear"
        raise UsageError(
            f"{transcript.source}: no target ({speaks}, no '# protoshell transcript · target: URL' "
            "header): pass --target URL for its protocol"
        )


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    targets: Targets = field(default_factory=Targets)
    # Options every replay gets (strict, timeout, TLS, --set variables).
    replay: ReplayOptions = field(default_factory=ReplayOptions)


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one transcript.  ``status`` is the replay's exit
    status (0 pass, 1 mismatch, 2 bad file, 3 network); ``message`` says
    why an error stopped it, in one line (``file:line: ...`` for a bad
    file); ``steps`` counts lines sent and server steps checked.  A file
    whose header expects a mismatch passes with ``mismatch`` set (the one
    it expected) and ``note`` saying so."""

    path: str
    outcome: Outcome
    status: ExitStatus
    seconds: float
    steps: int = 0
    protocol: str | None = None
    mismatch: Mismatch | None = None
    message: str = ""
    note: str = ""

    def line(self) -> str:
        """The file's line in ``protoshell test``'s output."""
        if self.outcome == "pass":
            steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
            note = f"{self.note}; " if self.note else ""
            return f"PASS {self.path} ({note}{steps}, {self.seconds * 1000:.0f} ms)"
        m = self.mismatch
        if m is not None:
            return f"FAIL {m.where} expected {m.expected!r} got {m.actual!r} ({m.reason})"
        if self.outcome == "fail":
            return f"FAIL {self.path}: {self.message}"
        message = self.message
        if not message.startswith(self.path):
            message = f"{self.path}: {message}"
        return f"ERROR {message}"


def _error(path: str, status: ExitStatus, message: str, started: float, protocol: str | None = None) -> FileResult:
    return FileResult(path, "error", status, time.perf_counter() - started, protocol=protocol, message=message)


def run_file(path: str, options: SuiteOptions, runner: asyncio.Runner | None = None) -> FileResult:
    """Replay one transcript file and say how it went; never raises for
    what the file or the server does.  ``runner`` is the event loop to run
    the replay in (a worker thread keeps one); default a fresh one."""
    started = time.perf_counter()
    try:
        transcript = load_transcript(path)
    except TranscriptError as exc:
        return _error(path, ExitStatus.USAGE, str(exc), started)
    except (OSError, UnicodeError) as exc:
        return _error(path, ExitStatus.USAGE, f"cannot read it: {getattr(exc, 'strerror', None) or exc}", started)
    if all(isinstance(step, Comment) for step in transcript.steps):
        return _error(path, ExitStatus.USAGE, "nothing to replay (only comments)", started)
    try:
        expectation = read_expectation(transcript)
        target = options.targets.for_transcript(transcript)
        check_transcript(transcript, target.protocol, options.replay.variables)
    except (UsageError, ReplayUsageError, ExpectationError) as exc:
        return _error(path, ExitStatus.USAGE, str(exc), started)
    engine = Engine(transcript, target, options.replay)
    if runner is None:
        result = asyncio.run(engine.run())
    else:
        result = runner.run(engine.run())
    seconds = time.perf_counter() - started
    steps = result.checked + result.sent
    protocol = target.protocol
    first = result.mismatches[0] if result.mismatches else None
    if expectation is not None and result.status in (ExitStatus.OK, ExitStatus.REFUSED):
        # The header's claim is the test (expectation.py).
        wanted = expectation.describe()
        if expectation.met_by(first):
            note = f"mismatch at line {first.lineno}, as its header expects" if first else ""
            return FileResult(path, "pass", ExitStatus.OK, seconds, steps, protocol, first, note=note)
        if first is not None:
            first = replace(first, reason=f"{first.reason}; its header expects {wanted}")
        else:
            message = f"every line matched, but its header expects {wanted}" if result.status == ExitStatus.OK else (
                f"{result.message}; its header expects {wanted}"
            )
            return FileResult(path, "fail", ExitStatus.REFUSED, seconds, steps, protocol, message=message)
    if result.status == ExitStatus.OK:
        return FileResult(path, "pass", result.status, seconds, steps, protocol)
    if first is not None:
        return FileResult(path, "fail", ExitStatus.REFUSED, seconds, steps, protocol, first)
    if result.status == ExitStatus.REFUSED:
        return FileResult(path, "fail", result.status, seconds, steps, protocol, message=result.message)
    return FileResult(path, "error", result.status, seconds, steps, protocol, message=result.message)


class _Pool:
    """``jobs`` daemon threads replaying ``paths``; results by index.
    Daemon threads: Ctrl-C in the main thread ends the run without waiting
    for replays in flight (each is bounded by its timeouts anyway)."""

    def __init__(self, paths: Sequence[str], options: SuiteOptions, jobs: int, fail_fast: bool) -> None:
        self.paths = paths
        self.options = options
        self.fail_fast = fail_fast
        self.results: list[FileResult | BaseException | None] = [None] * len(paths)
        self.done = [threading.Event() for _ in paths]
        self.limit = len(paths)  # no file at or past this index is started (--fail-fast)
        self._next = 0
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._work, name=f"protoshell-test-{i}", daemon=True)
            for i in range(max(1, min(jobs, len(paths))))
        ]
        for thread in self.threads:
            thread.start()

    def _take(self) -> int | None:
        with self._lock:
            index = self._next
            if index >= self.limit:
                return None
            self._next += 1
            return index

    def _work(self) -> None:
        with asyncio.Runner() as runner:
            while (index := self._take()) is not None:
                try:
                    result: FileResult | BaseException = run_file(self.paths[index], self.options, runner)
                except Exception as exc:  # noqa: BLE001  (a bug: re-raised in the main thread)
                    result = exc
                self.results[index] = result
                self.done[index].set()
                if self.fail_fast and (isinstance(result, BaseException) or result.outcome != "pass"):
                    self.stop_after(index)

    def stop_after(self, index: int) -> None:
        with self._lock:
            self.limit = min(self.limit, index + 1)
            taken = self._next
        # Files past the limit that no thread took, nor will: done, not run.
        for i in range(max(taken, index + 1), len(self.paths)):
            self.done[i].set()

    def result(self, index: int) -> FileResult | None:
        """The result of file ``index`` once it is done; None if it was not
        run.  Waits in slices so that Ctrl-C is seen."""
        while not self.done[index].wait(0.2):
            pass
        value = self.results[index]
        if isinstance(value, BaseException):
            raise value
        return value


def run_files(
    paths: Sequence[str], options: SuiteOptions, *, jobs: int = 1, fail_fast: bool = False
) -> Iterator[FileResult]:
    """Replay ``paths`` with up to ``jobs`` at a time; yield each result in
    input order as soon as it and those before it are done.  With
    ``fail_fast`` nothing is started past the first file (in input order)
    that does not pass, and nothing is yielded after it: the same results
    whatever ``jobs`` is."""
    if not paths:
        return
    pool = _Pool(paths, options, jobs, fail_fast)
    for index in range(len(paths)):
        result = pool.result(index)
        if result is None:
            return
        yield result
        if fail_fast and result.outcome != "pass":
            return

