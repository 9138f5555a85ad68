"""What a batch replay may send early, worked out from the transcript.

A batch run (no ``--step`` controller) puts its next ``C:`` line on the
wire as soon as the read that ends the server's turn is framed, when the
``S:`` lines in between match that read and the line needs nothing from
them (``Session.presend``, ``Session.presend_plan``): the server starts on
the next command while the engine frames, checks and shows the last answer.

What the early send needs to know of a step is worked out when it is first
needed (in the time the server takes to answer, not before connecting),
once per distinct text: a long transcript repeats its lines.  Early lines
are ``C:`` lines without ``$variables``, ``<redacted>``, a second line, or
STARTTLS; and none for HTTP (whose head may get a ``Host``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..session import STARTTLS_DIALOGUE
from ..transcript.escape import REDACTED
from ..transcript.model import ClientLine, Comment, Meta, ServerLine, Step
from ..transcript.variables import compile_expected
from .checker import ActualLine, Checker

__all__ = ["EarlySend", "is_starttls", "wire_lines"]

# The command that asks for TLS in each protocol (its last word of the
# session's STARTTLS dialogue): STARTTLS, STLS.
_STARTTLS_WORDS = frozenset(dialogue[-1] for dialogue in STARTTLS_DIALOGUE.values())


def is_starttls(step: Step) -> bool:
    """``:starttls``, or a C: line that asks for TLS (``STARTTLS``, ``STLS``,
    IMAP's ``A1 STARTTLS``)."""
    if isinstance(step, Meta):
        return step.command == "starttls"
    if isinstance(step, ClientLine):
        words = step.raw.upper().split()
        return bool(words) and (words[0] in _STARTTLS_WORDS or (len(words) == 2 and words[1] == b"STARTTLS"))
    return False


def wire_lines(wire: bytes) -> bool:
    """True when ``wire`` is one line ending in CRLF with no other CR/LF."""
    return wire.endswith(b"\r\n") and b"\r" not in wire[:-2] and b"\n" not in wire[:-2]


class EarlySend:
    """The early-send rules over one transcript's steps.  ``enabled`` is
    False for interactive runs and HTTP: then nothing goes early."""

    def __init__(self, steps: Sequence[Step], checker: Checker, *, strict: bool, enabled: bool) -> None:
        self.steps = steps
        self.checker = checker
        self.strict = strict
        self.enabled = enabled
        self._starttls_of: dict[str, bool] = {}
        self._early_of: dict[str, bytes | None] = {}
        self._quick_of: dict[str, str | None] = {}

    def starttls_line(self, step: ClientLine) -> bool:
        text = step.text
        if text not in self._starttls_of:
            self._starttls_of[text] = is_starttls(step)
        return self._starttls_of[text]

    def early(self, index: int) -> bytes | None:
        """The C: line at ``index`` without its CRLF, when it may be sent
        early; else None."""
        step = self.steps[index]
        if not self.enabled or not isinstance(step, ClientLine):
            return None
        text = step.text
        if text not in self._early_of:
            ok = "$" not in text and REDACTED not in text and wire_lines(step.raw) and not self.starttls_line(step)
            self._early_of[text] = step.raw[:-2] if ok else None
        return self._early_of[text]

    def quick(self, index: int) -> str | None:
        """For an S: line checked by its status alone, that status: then
        neither ``presend`` nor the engine's line check needs a Checker call
        (it would give the same answer).  Else None."""
        step = self.steps[index]
        if self.strict or not isinstance(step, ServerLine):
            return None
        text = step.text
        if text not in self._quick_of:
            try:
                names = compile_expected(text).names
            except ValueError:
                names = ("?",)
            self._quick_of[text] = None if names else self.checker.expected_status(step)
        return self._quick_of[text]

    def skip_comments(self, index: int) -> int:
        """The index of the first step from ``index`` on that is not a comment."""
        steps = self.steps
        while index < len(steps) and isinstance(steps[index], Comment):
            index += 1
        return index

    def plan(self, index: int) -> tuple[str, bytes] | None:
        """Before a read, while the engine waits for the S: step at
        ``index`` with nothing queued: (status, line) when that S: line is
        checked by its status alone and the step after it is a C: line that
        can go early.  If the read then brings exactly one line with that
        status, ending the turn, the S: step matches it and the C: line is
        next: the session sends it at once."""
        status = self.quick(index)
        if status is None:
            return None
        following = self.skip_comments(index + 1)
        line = self.early(following) if following < len(self.steps) else None
        return None if line is None else (status, line)

    def presend(self, index: int, lines: Sequence[tuple[bytes, str | None]]) -> bytes | None:
        """The next C: line, to send before the server's ``lines`` (raw,
        status), which ended its turn, are emitted; or None.  ``index`` is
        the S: step the engine waits for, with nothing queued.  Only when
        the S: steps from there match these lines one for one, and the step
        after them is a C: line that can go early: then every step goes
        exactly as if the line had been sent in its turn."""
        steps = self.steps
        count = len(steps)
        for raw, status in lines:
            index = self.skip_comments(index)
            if index == count:
                return None
            step = steps[index]
            if not isinstance(step, ServerLine):
                return None
            want = self.quick(index)
            if (want is None or want != status) and not self.checker.line(step, ActualLine(raw, status)).ok:
                return None
            index += 1
        index = self.skip_comments(index)
        return self.early(index) if index < count else None
