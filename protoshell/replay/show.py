"""``protoshell show FILE``: a transcript in the shell's colours, or exported.

Each ``S:`` line is coloured by its outcome, read from its status the same
way the checker reads it (the protocol's ``line_status``): 2xx / ``+OK`` /
``OK`` green, errors red, and so on; ``C:`` lines as the client's; the
lecture's narration as payload text.  The protocol comes from the header
(``protocol:`` or the target's scheme), from ``--protocol``, or is guessed
from the lines of a pasted lecture excerpt.  The lecture's phase of each
command (identify, ask, answer, goodbye) can be shown beside it.

Rendering itself is ``render.replay_view.TranscriptView``; this module
turns a ``Transcript`` into its rows and knows no rich.
"""

from __future__ import annotations

from typing import Final

from ..proto import PROTOCOLS, framer_for, line_status_for, vocabulary_for
from ..proto.base import NEED_DATA, Outcome, ProtocolError, ResponseEnd, strip_eol
from ..render.replay_view import Row
from ..transcript.model import ClientLine, Comment, Meta, Narration, ServerLine, Transcript
from .preflight import guess_protocol

__all__ = ["guess_protocol", "message_lines", "outcome_for", "phase_of", "rows_for", "title_for"]

_SMTP_OUTCOMES: Final[dict[str, Outcome]] = {"2": "ok", "3": "continue", "4": "temporary"}
_POP3_OUTCOMES: Final[dict[str, Outcome]] = {"+OK": "ok", "-ERR": "error", "+": "continue"}


def outcome_for(protocol: str | None, status: str | None) -> Outcome:
    """How a status reads to a person (base.Outcome), for colour."""
    if status is None or protocol is None:
        return "data"
    if protocol == "smtp":
        return _SMTP_OUTCOMES.get(status[:1], "error")
    if protocol == "pop3":
        return _POP3_OUTCOMES.get(status, "data")
    if protocol == "http":
        try:
            code = int(status.split()[-1])
        except ValueError:
            return "data"
        if code < 200:
            return "info"
        if code < 300:
            return "ok"
        return "continue" if code < 400 else "error"
    # IMAP: "A1 OK", "* EXISTS", "+"
    if status == "+":
        return "continue"
    tag, _, kind = status.partition(" ")
    if kind == "BAD":
        return "error"
    if kind == "NO":
        return "temporary"
    if tag == "*":
        return "info"
    return "ok" if kind == "OK" else "info"


def phase_of(protocol: str | None, line: bytes) -> str | None:
    """The lecture's phase of the command a client line starts (identify,
    ask, answer, goodbye), from the protocol's vocabulary; None for a line
    that is not a known command."""
    if protocol not in PROTOCOLS:
        return None
    words = line.decode("utf-8", "replace").split()
    if not words:
        return None
    vocab = vocabulary_for(protocol)
    command = vocab.command(words[0])
    if command is None and protocol == "imap" and len(words) > 1:
        command = vocab.command(words[1])  # after the tag
        if command is not None and command.name == "UID" and len(words) > 2:
            command = vocab.command(words[2]) or command
    return command.phase if command is not None else None


def message_lines(transcript: Transcript, protocol: str | None) -> frozenset[int]:
    """Line numbers of the ``C:`` lines that are message text (SMTP after
    354, up to the lone ``.``), as the protocol's own framer reads the
    conversation when fed the ``S:`` lines as the server's bytes and the
    ``C:`` lines as sent: the rule stays in the framer.  Where the framer
    cannot follow the file (a lecture excerpt that starts mid-way, an
    escape it refuses), the lines from there on are not message text."""
    if protocol not in PROTOCOLS:
        return frozenset()
    framer = framer_for(protocol)
    if not hasattr(framer, "in_data"):
        return frozenset()
    found: set[int] = set()
    try:
        for step in transcript.steps:
            if isinstance(step, Narration) and step.kind == "connect":
                framer = framer_for(protocol)
            elif isinstance(step, ServerLine):
                framer.receive_data(step.raw)
                while (event := framer.next_event()) is not NEED_DATA:
                    if isinstance(event, ResponseEnd) and event.starttls:
                        framer.tls_started()
            elif isinstance(step, ClientLine):
                before = bool(getattr(framer, "in_data", False))
                framer.send(strip_eol(step.raw))
                if before and getattr(framer, "in_data", False):
                    found.add(step.lineno)
    except ProtocolError:
        pass
    return frozenset(found)


def rows_for(transcript: Transcript, protocol: str | None, *, phases: bool = False) -> list[Row]:
    """The transcript as display rows, styled by outcome; a run of blank
    lines in the file (between the lecture's blocks) shows as one.  Content
    rows (``Row.content``: server lines without a status, IMAP untagged
    lines, the client's message text) are marked, for the view's ``--max-lines`` cut."""
    status_of = line_status_for(protocol) if protocol in PROTOCOLS else None
    message = message_lines(transcript, protocol)
    rows: list[Row] = []
    last = 0
    for step in transcript.steps:
        if last and step.lineno > last + 1:
            rows.append(Row(step.lineno - 1, "", "", "protoshell.note"))  # the file's blank line(s)
        last = step.lineno
        if isinstance(step, ClientLine):
            content = step.lineno in message
            aside = (phase_of(protocol, step.raw) or "") if phases and not content else ""
            rows.append(
                Row(step.lineno, "C: " if step.text else "C:", step.text, "protoshell.client", aside, content, len(step.raw))
            )
        elif isinstance(step, ServerLine):
            status = status_of(step.decoded) if status_of is not None else None
            style = f"protoshell.{outcome_for(protocol, status)}"
            # Content: a line without a status, or an IMAP untagged line
            # (RFC 3501 7: "* ..."), so a long FETCH 1:* is one block, as
            # ExchangeRenderer cuts it; the tagged completion line ends it.
            content = status is None or (protocol == "imap" and status.startswith("* "))
            rows.append(Row(step.lineno, "S: " if step.text else "S:", step.text, style, "", content, len(step.raw)))
        elif isinstance(step, Narration):
            text = "..." if step.kind == "elision" else f"<{step.text}>"
            rows.append(Row(step.lineno, f"{step.side}: ", text, "protoshell.payload"))
        elif isinstance(step, Comment):
            rows.append(Row(step.lineno, "", f"# {step.text}" if step.text else "#", "protoshell.note"))
        elif isinstance(step, Meta):
            words = " ".join([f":{step.command}", step.argtext]).rstrip()
            rows.append(Row(step.lineno, "", words, "protoshell.continue"))
    return rows


def title_for(transcript: Transcript, title: str | None) -> str:
    """``--title``, else the first comment after the header (what the lesson
    teaches), else the file name."""
    if title:
        return title
    for step in transcript.steps:
        if isinstance(step, Comment) and step.text.strip():
            return step.text.strip()
        if not isinstance(step, Comment):
            break
    return transcript.source
