"""A transcript that is meant to fail: ``expect: mismatch at line N`` in its
header (``transcripts/imap_lecture.txt``: the lecture's slide is wrong, and
the lesson shows the checker finding it).

``protoshell replay`` runs such a lesson as any other (it stops at the
mismatch, exit status 1: what the class is shown).  As a test, in
``protoshell test`` and the pytest plugin, the header is the test's claim:
the file passes when the replay mismatches where the header says, and
fails when it mismatches elsewhere or not at all (then the slide was fixed,
or the server changed, and a CI user wants to hear of it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..transcript.model import Transcript
from .results import Mismatch

__all__ = ["Expectation", "ExpectationError", "read_expectation"]

_FORM = re.compile(r"mismatch(?: at line (\d+))?", re.IGNORECASE)


class ExpectationError(ValueError):
    """The ``expect:`` header cannot be read."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """The header's claim: a mismatch at ``line`` (None: at any line)."""

    line: int | None = None

    def describe(self) -> str:
        """``a mismatch at line 28`` / ``a mismatch``."""
        return "a mismatch" if self.line is None else f"a mismatch at line {self.line}"

    def met_by(self, mismatch: Mismatch | None) -> bool:
        """True when the replay's first mismatch is the expected one."""
        return mismatch is not None and (self.line is None or mismatch.lineno == self.line)


def read_expectation(transcript: Transcript) -> Expectation | None:
    """The ``expect:`` of ``transcript``'s header, or None when it has none;
    raises ExpectationError (``file:1: ...``) for a value it cannot read."""
    value = transcript.header.get("expect")
    if value is None:
        return None
    m = _FORM.fullmatch(value.strip())
    if m is None:
        raise ExpectationError(
            f"{transcript.source}:1: cannot read 'expect: {value}' in the header "
            "(write 'expect: mismatch at line N' for a transcript meant to fail at line N)"
        )
    return Expectation(int(m.group(1)) if m.group(1) else None)
