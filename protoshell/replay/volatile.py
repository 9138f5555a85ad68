"""``--loose-volatile``: mark the text in server lines that changes from run
to run with ``*``, so a recording replays under ``--strict``.

A recording is exact, and a server's answers are not: dates (``Date:``
headers, SMTP greetings), message and queue ids, IMAP ``UIDVALIDITY`` (new
each time a mailbox is re-created, RFC 3501 2.3.1.1), Dovecot's timing
``(0.001 + 0.000 secs)``, the UIDs of ``[APPENDUID ...]``, a POP3 APOP timestamp ``<1896.6971@host>``
(RFC 1939 7).  ``loosen_text`` rewrites the notation of one ``S:`` line so
that each such run becomes the wildcard ``*``; ``C:`` lines, comments and
narrations are never touched (a client line must be sent as recorded).

Pure string functions.  The recorder sits below this layer, so the CLI
applies them: ``loosen_line`` per written line, or ``loosen_file(path)``
once a recording is closed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

__all__ = ["VOLATILE", "loosen_file", "loosen_line", "loosen_text", "loosen_transcript"]

_DAY: Final = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MON: Final = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_ZONE: Final = r"(?:GMT|UTC|UT|Z|[+-]\d{4}|[A-Z]{3})"

# (what it is, pattern, replacement).  Order matters: whole dates before
# the times inside them.
VOLATILE: Final[tuple[tuple[str, re.Pattern[str], str], ...]] = (
    # RFC 5322 3.3 / RFC 9110 5.6.7 (IMF-fixdate): "Wed, 25 Nov 2026 17:29:58 GMT",
    # with or without the day name, with a zone or an offset (and a comment).
    (
        "date",
        re.compile(
            rf"(?:{_DAY},?\s+)?\d{{1,2}}[ -]{_MON}[ -]\d{{2,4}}\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?"
            rf"(?:\s+{_ZONE})?(?:\s+\([A-Za-z ]+\))?"
        ),
        "*",
    ),
    # asctime (RFC 9110 5.6.7 obsolete form): "Sun Nov  6 08:49:37 1994".
    ("date", re.compile(rf"{_DAY}\s+{_MON}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}\s+\d{{4}}"), "*"),
    # IMAP date-time (RFC 3501 9): "25-Nov-2026 17:29:58 +0000".
    ("date", re.compile(rf"\d{{1,2}}-{_MON}-\d{{4}} \d{{2}}:\d{{2}}:\d{{2}} [+-]\d{{4}}"), "*"),
    # ISO 8601 timestamps.
    (
        "date",
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "*",
    ),
    # Dovecot's command timing: "(0.001 + 0.000 + 0.002 secs)".
    ("timing", re.compile(r"\(\d+\.\d+(?: \+ \d+\.\d+)* secs\)"), "(* secs)"),
    # IMAP: UIDVALIDITY (RFC 3501 2.3.1.1) and HIGHESTMODSEQ (RFC 7162) values.
    ("uidvalidity", re.compile(r"\b(UIDVALIDITY|HIGHESTMODSEQ) \d+"), r"\1 *"),
    # UIDPLUS (RFC 4315 3): the UIDVALIDITY and the UIDs a new message got.
    ("uidvalidity", re.compile(r"\[APPENDUID \d+ [\d:,]+\]"), "[APPENDUID *]"),
    ("uidvalidity", re.compile(r"\[COPYUID \d+ [\d:,]+ [\d:,]+\]"), "[COPYUID *]"),
    # Queue ids: Postfix "queued as 4F3A21C0D2", Exim "id=1abcD-000123-Xy".
    ("queue-id", re.compile(r"\b(queued as) [^\s;,)]+"), r"\1 *"),
    ("queue-id", re.compile(r"\b(id=)[^\s;,)]+"), r"\1*"),
    # Message-ID fields (RFC 5322 3.6.4) and any angle-bracketed id whose
    # left part has a digit: APOP timestamps, <123.456@host> message ids.
    ("message-id", re.compile(r"^((?:Message-ID|Content-ID|ETag):\s*).*$", re.IGNORECASE), r"\1*"),
    ("message-id", re.compile(r"<[^<>\s@]*\d[^<>\s@]*@[^<>\s]+>"), "<*>"),
)

_STAR_RUN: Final = re.compile(r"\*(?:\s*\*)+")


def loosen_text(text: str) -> str:
    """One ``S:`` line's notation with its volatile runs replaced by ``*``.

    Text that is already an escape (``\\x20``) is left alone: the patterns
    only match plain characters.  A star that opens an IMAP untagged line
    (``* OK``) is literal in the notation and stays so: nothing is put in
    front of it.
    """
    out = text
    for _what, pattern, replacement in VOLATILE:
        out = pattern.sub(replacement, out)
    if out != text:
        # "* *" after two replacements side by side: one wildcard is enough;
        # but keep an IMAP line's leading "* " literal.
        head = "* " if out.startswith("* ") else ""
        out = head + _STAR_RUN.sub("*", out[len(head) :])
    return out


def loosen_line(line: str) -> str:
    """A whole transcript file line: ``S: text`` lines are loosened, every
    other line (``C:``, comments, narrations, meta) is returned unchanged."""
    stripped = line.lstrip(" \t")
    if not stripped.startswith("S: "):
        return line
    indent = line[: len(line) - len(stripped)]
    body = stripped[3:]
    eol = ""
    for ending in ("\r\n", "\n"):
        if body.endswith(ending):
            body, eol = body[: -len(ending)], ending
            break
    if body.startswith("<") and body.endswith(">"):
        return line  # a narration
    return f"{indent}S: {loosen_text(body)}{eol}"


def loosen_transcript(text: str) -> str:
    """Every ``S:`` line of a whole transcript text loosened."""
    return "".join(loosen_line(line) for line in text.splitlines(keepends=True))


def loosen_file(path: str | Path) -> None:
    """Rewrite a recorded transcript in place with volatile text as ``*``."""
    p = Path(path)
    text = p.read_text(encoding="utf-8", errors="surrogateescape")
    new = loosen_transcript(text)
    if new != text:
        p.write_text(new, encoding="utf-8", errors="surrogateescape", newline="")
