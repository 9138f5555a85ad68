"""Does what the server sent match what the transcript expects?  Pure.

Two modes, as DESIGN.md section 3 says:

``status`` (the default)
    A server line matches when its *protocol status* matches: the status
    token the protocol's own ``line_status`` gives the expected text equals
    the actual line's (SMTP code and continuation mark ``250-``/``250``,
    POP3 ``+OK``/``-ERR``, IMAP tag + ``OK``/``NO``/``BAD`` or the untagged
    type ``* EXISTS``, HTTP ``HTTP 200``).  A line with no status (a POP3
    listing line, an HTTP header, IMAP's ``)`` after a literal) matches any
    line with no status.  The text around the status is the server's own
    business: the lecture's ``250 OK`` matches aiosmtpd's ``250 OK message
    accepted``.  An expected line that captures ``$name`` must also match as
    a pattern, or there would be nothing to capture.  An SMTP multi-line
    reply is one reply (RFC 5321 4.2.1): the lecture's five-line EHLO reply
    matches a server's 250 reply of any length (``reply_goes_on``,
    ``reply_ended``; the engine walks the extra or missing lines).
``strict``
    The whole line, terminator included, must match the expected text as a
    pattern (``transcript.variables``): ``*`` is any run of characters,
    ``$name`` captures a word.

After an elision (``...``) the replayer looks for the next expected line
among the server's lines; there an expected line *with* a status is found by
its status (strict: by its text), and one *without* a status, or one that
captures ``$name``, by its text, because "any data line" would stop the
search at the first header.

Payload narrations (``S: <server sends 1425 octets of message payload>``)
match a payload (an IMAP literal, an HTTP body, the lines of a POP3
message); the size is compared under ``--strict`` only, because a lecture's
sizes are the lecture's server's, not yours.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..proto import line_status_for
from ..proto.base import strip_eol
from ..transcript.escape import line_to_text
from ..transcript.model import Narration, ServerLine
from ..transcript.variables import compile_expected

__all__ = [
    "Actual",
    "ActualClose",
    "ActualLine",
    "ActualPayload",
    "Check",
    "Checker",
    "Mode",
    "describe_actual",
    "describe_expected",
]

Mode = Literal["status", "strict"]


@dataclass(frozen=True, slots=True)
class ActualLine:
    """One line the server sent: its exact bytes and the status the framer
    gave it (which knows the context: a POP3 message line that happens to
    start with ``+OK`` is data)."""

    raw: bytes
    status: str | None

    @property
    def text(self) -> str:
        return strip_eol(self.raw).decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class ActualPayload:
    """A whole payload: ``size`` octets arrived (of ``total`` declared)."""

    size: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class ActualClose:
    """The server closed the connection."""

    reason: str = ""


Actual = ActualLine | ActualPayload | ActualClose


@dataclass(frozen=True, slots=True)
class Check:
    """The verdict on one expected step.  ``reason`` says why not, for a
    person; ``captures`` are the variables an ``S:`` line captured (values
    in transcript notation)."""

    ok: bool
    reason: str = ""
    captures: Mapping[str, str] = field(default_factory=dict)
    expected_status: str | None = None
    actual_status: str | None = None


def describe_actual(item: Actual | None) -> str:
    """What the server did, in the notation (for a mismatch report)."""
    if item is None:
        return "(nothing more: the server's answer had ended)"
    if isinstance(item, ActualLine):
        text = line_to_text(item.raw)
        return f"S: {text}" if text else "S:"
    if isinstance(item, ActualPayload):
        return f"S: <server sends {item.size} octets of message payload>"
    reason = f": {item.reason}" if item.reason else ""
    return f"(the server closed the connection{reason})"


def describe_expected(step: ServerLine | Narration) -> str:
    if isinstance(step, ServerLine):
        return f"S: {step.text}" if step.text else "S:"
    return f"{step.side}: <{step.text}>" if step.kind != "elision" else f"{step.side}: ..."


# The status of POP3's lone "." (proto.pop3.line_status): the end of a
# multi-line answer (RFC 1939 3).
END_OF_ANSWER = "."


# How to make a transcript take what changes from run to run (README, "Robust
# transcripts"): the elision "S: ..." accepts any number of server lines, none too.
ANY_LINES_HINT = "a line 'S: ...' in place of the listed lines accepts any number"
ANY_UNTAGGED_HINT = "a line 'S: ...' before the tagged line accepts any number"


def _is_imap_tagged(status: str) -> bool:
    """``A0001 OK`` (a tagged completion), not ``* OK`` or ``+``."""
    return not status.startswith(("*", "+"))


def _show_status(status: str | None) -> str:
    return status if status is not None else "(no status: a data line)"


class Checker:
    """Compares expected transcript steps with what arrived, for one protocol."""

    def __init__(self, protocol: str, *, strict: bool = False) -> None:
        self.protocol = protocol
        self.strict = strict
        self.mode: Mode = "strict" if strict else "status"
        self._line_status: Callable[[str], str | None] = line_status_for(protocol)
        self._expected_status = functools.lru_cache(maxsize=4096)(self._line_status)

    def expected_status(self, expected: ServerLine) -> str | None:
        """The status token the expected line's text carries."""
        return self._expected_status(expected.decoded)

    def _status_matches(self, expected: str | None, actual: ActualLine) -> bool:
        # The framer's status knows the context; the text's status is what
        # the same line would say on its own.  Either agreeing is a match,
        # so a data line that looks like a status line is judged fairly.
        if expected == actual.status:
            return True
        return expected == self._line_status(actual.text)

    def line(self, expected: ServerLine, actual: ActualLine) -> Check:
        """Does ``actual`` match the expected ``S:`` line?"""
        want = self.expected_status(expected)
        got = actual.status if actual.status is not None else self._line_status(actual.text)
        pattern = compile_expected(expected.text)
        if self.strict:
            captures = pattern.match(actual.raw)
            if captures is None:
                reason = "the text differs (--strict compares the whole line; * is a wildcard)"
                if self.protocol == "imap" and want is not None and _is_imap_tagged(want) and got is not None and got.startswith("* "):
                    reason += (
                        ": the server sent more untagged responses than the transcript "
                        f"(the mailbox changed?); {ANY_UNTAGGED_HINT}"
                    )
                return Check(False, reason, {}, want, got)
            return Check(True, "", captures, want, got)
        if not self._status_matches(want, actual):
            if want == END_OF_ANSWER:
                reason = (
                    "expected the end of the answer (a lone '.'), the server sent another line: "
                    f"it has more to list than the transcript (more messages?); {ANY_LINES_HINT}"
                )
            elif want is None and got == END_OF_ANSWER:
                reason = (
                    "expected another line, the server ended the answer (a lone '.'): "
                    f"it has less to list than the transcript (fewer messages?); {ANY_LINES_HINT}"
                )
            elif want is None:
                reason = "expected a data line (no status), the server sent a status line"
            elif got is None:
                reason = f"expected status {want}, the server sent a line with no status"
            elif self.protocol == "imap" and _is_imap_tagged(want) and got.startswith("* "):
                # RFC 3501 7: untagged data comes in any number before the tagged
                # completion; how much depends on the mailbox (EXISTS, UNSEEN, FETCH).
                reason = (
                    f"expected status {want}, the server answered {got}: it sent more untagged "
                    f"responses than the transcript (the mailbox changed?); {ANY_UNTAGGED_HINT}"
                )
            else:
                reason = f"expected status {want}, the server answered {got}"
            return Check(False, reason, {}, want, got)
        if not pattern.names:
            return Check(True, "", {}, want, got)
        captures = pattern.match(actual.raw)
        if captures is None:
            names = ", ".join(f"${n}" for n in pattern.names)
            reason = f"the status matches, but {names} cannot be captured: the text around it differs"
            field = _other_field(self.protocol, expected.decoded, actual.text)
            if field is not None:
                # A header line in place of another (the lab server sends no
                # Date): header lines have no status, so say which one.
                reason = (
                    f"expected the server's {field[0]} header here, it sent {field[1]}: "
                    f"it sends no {field[0]} header (or sends it further down: an 'S: ...' line before this one skips to it), "
                    f"so {names} cannot be captured"
                )
            return Check(False, reason, {}, want, got)
        return Check(True, "", captures, want, got)

    # -- SMTP: a multi-line reply is one reply, whatever its length --------
    # RFC 5321 4.2.1: "250-" lines go on, the "250 " line ends the reply; how
    # many lines a server sends (its EHLO extensions) is its own.  By status,
    # the lecture's five-line EHLO reply is any server's 250 reply; --strict
    # still compares line by line.
    def _reply_codes(self, expected: ServerLine, actual: ActualLine) -> tuple[str, str] | None:
        if self.strict or self.protocol != "smtp" or "$" in expected.text:
            return None
        want, got = self.expected_status(expected), actual.status
        if want is None or got is None:
            return None
        return want, got

    def reply_goes_on(self, expected: ServerLine, actual: ActualLine) -> bool:
        """The transcript's reply ends here (``250 HELP``) and the server's
        goes on (``250-SMTPUTF8``): that line is one more of the same reply."""
        codes = self._reply_codes(expected, actual)
        return codes is not None and codes[1] == codes[0] + "-"

    def reply_ended(self, expected: ServerLine, actual: ActualLine) -> bool:
        """The transcript's reply goes on (``250-DSN``) where the server's
        ends (``250 HELP``): the server's reply is shorter, and that expected
        line has no counterpart."""
        codes = self._reply_codes(expected, actual)
        return codes is not None and codes[0] == codes[1] + "-"

    def found_after_elision(self, expected: ServerLine, actual: ActualLine) -> bool:
        """Is ``actual`` the line the elision was hiding the way to?"""
        want = self.expected_status(expected)
        pattern = compile_expected(expected.text)
        if self.strict or want is None or pattern.names:
            # A line that captures must also have the words to capture.
            return pattern.match(actual.raw) is not None
        return self._status_matches(want, actual)

    def payload(self, expected: Narration, actual: ActualPayload) -> Check:
        """A payload narration against a payload that arrived."""
        if self.strict and expected.octets is not None and expected.octets != actual.size:
            return Check(False, f"expected {expected.octets} octets, {actual.size} arrived")
        return Check(True)

    def status_text(self, status: str | None) -> str:
        return _show_status(status)


_FIELD_NAME = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):")


def _other_field(protocol: str, expected: str, actual: str) -> tuple[str, str] | None:
    """(expected name, actual name) when both are HTTP header lines of
    different names (RFC 9112 5: field-name ":" ...), else None."""
    if protocol not in ("http", "https"):
        return None
    want = _FIELD_NAME.match(expected)
    got = _FIELD_NAME.match(actual)
    if want is None or got is None or want.group(1).lower() == got.group(1).lower():
        return None
    return want.group(1), got.group(1)
