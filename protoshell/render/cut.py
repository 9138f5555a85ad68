"""The one ``--max-lines`` rule: a long block is shown cut, with one line
that says what was left out.

A block is whatever a person reads as one piece of content: an HTTP body
or an IMAP literal (a payload), the lines of a POP3 multi-line answer (RETR,
TOP, LIST...), the message text a client sends after SMTP's 354, the
untagged lines of one IMAP response (with the literals inside them), a run of
such lines in a transcript file.  Every place that shows an exchange (the
pipe mode and the shell through ``ExchangeRenderer``; replay and demo the
same way; ``show`` through ``TranscriptView``) counts the lines of a block
with a ``LineCut``: the first ``max_lines`` are shown, the rest only
counted, and at the block's end ``narration()`` says how many lines and
octets the block had, in the lecture's narration form (``S: <server sends
...>``), so the cut reads like the notation it sits in.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_LINES", "LineCut"]

DEFAULT_MAX_LINES = 200


@dataclass(slots=True)
class LineCut:
    """Counts one block's lines; says which to show and what was cut."""

    max_lines: int
    lines: int = 0
    octets: int = 0
    shown: int = 0

    def admit(self, octets: int) -> bool:
        """Count a line of ``octets`` bytes (terminator included); True when
        it is to be shown (one of the first ``max_lines``)."""
        self.lines += 1
        self.octets += octets
        if self.shown < self.max_lines:
            self.shown += 1
            return True
        return False

    @property
    def cut(self) -> bool:
        """Some lines of the block were not shown."""
        return self.lines > self.shown

    def narration(self, side: str, what: str = "") -> str | None:
        """The line that stands for the cut (``<server sends 60017 lines
        (2834567 octets) of message text: first 200 lines shown
        (--max-lines)>``), or None when nothing was cut."""
        if not self.cut:
            return None
        who = "client" if side == "C" else "server"
        of = f" of {what}" if what else ""
        return f"<{who} sends {_count(self.lines)} ({self.octets} octets){of}: {self.shown_phrase}>"

    @property
    def shown_phrase(self) -> str:
        """``first 200 lines shown (--max-lines)``: how a cut line ends."""
        return f"first {_count(self.shown)} shown (--max-lines)"


def _count(lines: int) -> str:
    return "1 line" if lines == 1 else f"{lines} lines"
