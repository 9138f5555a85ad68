"""Turns the engine's ReplayEvents into output, through render.replay_view.

The exchange itself (``C:``/``S:`` lines as they happen) is printed by the
shell's ``ExchangeRenderer`` subscribed to the session; this reporter adds
what only the replay knows: captured variables, what an elision skipped,
each mismatch (expected vs actual with ``file:line``) and the verdict.
It also writes the one-line verdict of a failure to stderr (``report_error``),
so a script that only looks at stderr and the exit code learns where.
"""

from __future__ import annotations

from collections.abc import Callable

from ..render.replay_view import ReplayPrinter
from ..status import ExitStatus
from .checker import ActualLine, describe_actual
from .results import ReplayEvent, ReplayResult

__all__ = ["ReplayReporter", "verdict"]


def verdict(result: ReplayResult, filename: str, *, strict: bool) -> str:
    """The last line of a replay, in words."""
    mode = "--strict" if strict else "status"
    if result.status == ExitStatus.OK:
        return (
            f"replay passed: {result.checked} server step{'s' if result.checked != 1 else ''} matched, "
            f"{result.sent} line{'s' if result.sent != 1 else ''} sent ({mode} mode) · {filename}"
        )
    if result.mismatches:
        first = result.mismatches[0]
        more = f" ({len(result.mismatches)} mismatches)" if len(result.mismatches) > 1 else ""
        return f"replay FAILED at {first.where}{more}: {first.reason}"
    return f"replay stopped: {result.message}"


class ReplayReporter:
    """Engine event callback.  ``verbose`` also lists each matched step and
    what each elision skipped."""

    def __init__(
        self,
        printer: ReplayPrinter,
        *,
        filename: str,
        strict: bool = False,
        verbose: bool = False,
        report_error: Callable[[str], None] | None = None,
    ) -> None:
        self.printer = printer
        self.filename = filename
        self.strict = strict
        self.verbose = verbose
        self.report_error = report_error
        self.result: ReplayResult | None = None

    def __call__(self, event: ReplayEvent) -> None:
        kind = event.kind
        if kind == "captured":
            self.printer.note(f"${event.name} = {event.text} (line {event.lineno})")
        elif kind == "skipped":
            if event.text == "...":
                if not self.verbose:
                    return
                n = event.count
                self.printer.note(f"line {event.lineno}: '...' stood for {n} server line{'s' if n != 1 else ''}")
            else:
                self.printer.note(f"line {event.lineno} skipped: {event.text}", "warning")
        elif kind == "note":
            self.printer.note(event.text, event.level)
        elif kind == "matched" and self.verbose:
            text = event.text or describe_actual(ActualLine(event.raw, None))
            self.printer.note(f"line {event.lineno} ok: {text}")
        elif kind == "mismatch" and event.mismatch is not None:
            m = event.mismatch
            self.printer.mismatch(
                where=m.where,
                expected=m.expected,
                actual=m.actual,
                reason=m.reason,
                expected_status=m.expected_status,
                actual_status=m.actual_status,
            )
        elif kind == "finished" and event.result is not None:
            self.result = event.result
            ok = event.result.status == ExitStatus.OK
            text = verdict(event.result, self.filename, strict=self.strict)
            self.printer.summary(text, ok=ok)
            if not ok and self.report_error is not None:
                if event.result.mismatches:
                    self.report_error(event.result.mismatches[0].one_line())
                elif event.result.message:
                    self.report_error(event.result.message)
