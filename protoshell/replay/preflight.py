"""Static checks of a transcript, before any connection: what replay
cannot perform (unknown meta-commands, bad arguments, variables nothing
defines, redacted lines without a password) is refused as one line,
``file:line: what is wrong``, and exit status 2."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Final

from ..auth import AuthError, auth_dialogue
from ..target import SCHEMES
from ..transcript.escape import REDACTED
from ..transcript.model import ClientLine, Meta, ServerLine, Transcript

__all__ = [
    "MAX_SLEEP",
    "META_COMMANDS",
    "PASSWORD_VARIABLE",
    "ReplayUsageError",
    "check_transcript",
    "client_line_numbers",
    "guess_protocol",
    "transcript_protocol",
]

# The variable that fills a ``<redacted>`` in a C: line and gives :auth its password.
PASSWORD_VARIABLE = "password"
META_COMMANDS = ("starttls", "auth", "sleep", "set", "raw")
MAX_SLEEP = 60.0
_SMTP_REPLY: Final = re.compile(r"[2-5]\d\d(?:[ -]|$)")



class ReplayUsageError(ValueError):
    """The transcript cannot be replayed as written; ``str()`` is one line,
    ``file:line: what is wrong``."""


def transcript_protocol(transcript: Transcript) -> str | None:
    """The protocol the transcript's header names (``protocol:`` or the
    target's scheme), or None."""
    for value in (transcript.header.get("protocol"), transcript.target):
        if not value:
            continue
        scheme = value.split("://", 1)[0].strip().lower()
        if scheme in SCHEMES:
            return SCHEMES[scheme][0]
    return None


def guess_protocol(transcript: Transcript) -> str | None:
    """The protocol a transcript speaks: its header's, or a guess from the
    server's lines (HTTP status lines, POP3 ``+OK``, IMAP ``*``, SMTP codes)."""
    declared = transcript_protocol(transcript)
    if declared is not None:
        return declared
    servers = [s.decoded for s in transcript.steps if isinstance(s, ServerLine)]
    clients = [s.decoded for s in transcript.steps if isinstance(s, ClientLine)]
    if any(t.startswith("HTTP/") for t in servers) or any(re.match(r"[A-Z]+ \S+ HTTP/\d", t) for t in clients):
        return "http"
    if any(t.upper().startswith(("+OK", "-ERR")) for t in servers):
        return "pop3"
    if any(t.startswith("* ") for t in servers) or any(re.match(r"[A-Za-z]+\d+ [A-Za-z]+", t) for t in clients):
        return "imap"
    if any(_SMTP_REPLY.match(t) for t in servers):
        return "smtp"
    return None


def client_line_numbers(transcript: Transcript) -> tuple[int, ...]:
    return tuple(s.lineno for s in transcript.steps if isinstance(s, ClientLine))


def _valid_name(name: str) -> bool:
    return bool(name) and (name[0].isalpha() or name[0] == "_") and name.replace("_", "a").isalnum() and name.isascii()


def check_transcript(transcript: Transcript, protocol: str, variables: Mapping[str, str]) -> None:
    """Refuse, before connecting, what cannot work: unknown meta-commands,
    bad arguments, variables nothing defines, redacted lines without a
    password.  Raises ReplayUsageError (``file:line: ...``)."""
    src = transcript.source
    known = set(variables)
    sasl = False  # the client lines since an AUTH / AUTHENTICATE are SASL responses
    for step in transcript.steps:
        if isinstance(step, ClientLine):
            starts = _starts_sasl(step.text)
            sasl = starts or (sasl and _SASL_LINE.fullmatch(step.text.strip()) is not None)
            # A redacted response line, or a redacted initial response on the
            # AUTH line itself (``AUTH PLAIN <redacted>``, RFC 4954 4, 4959 3)
            # unless --set password= gives that response (base64) itself.
            initial = starts and step.text.rstrip().endswith(REDACTED)
            if sasl and (
                step.text.strip() == REDACTED
                or (initial and not _is_sasl_response(variables.get(PASSWORD_VARIABLE), step.text))
            ):
                raise ReplayUsageError(
                    f"{src}:{step.lineno}: this redacted line is a SASL response (base64 made of the "
                    "user and the password), which --set cannot rebuild: write ':auth plain USER' "
                    "(or login) in place of the AUTH line and its responses, and pass "
                    f"--set {PASSWORD_VARIABLE}=SECRET"
                )
        if isinstance(step, ServerLine):
            if "$" in step.text:
                known.update(step.variables)
        elif isinstance(step, Meta):
            _check_meta(step, protocol, known, f"{src}:{step.lineno}")
        elif isinstance(step, ClientLine) and ("$" in step.text or REDACTED in step.text):
            where = f"{src}:{step.lineno}"
            missing = [n for n in step.variables if n not in known]
            if missing:
                names = ", ".join(f"${n}" for n in missing)
                raise ReplayUsageError(
                    f"{where}: {names} is not captured by an earlier S: line nor set "
                    f"(capture it with S: ... ${missing[0]} ..., :set {missing[0]} VALUE, "
                    f"or pass --set {missing[0]}=VALUE)"
                )
            if step.redacted and protocol == "http" and _COOKIE_LINE.match(step.text):
                # A cookie's value is the server's (RFC 6265 4.2), never the user's
                # password: filled from --set password= it went to the web server.
                raise ReplayUsageError(
                    f"{where}: a cookie's value was redacted when it was recorded, and a password "
                    "does not belong there: write $name in its place, captured from an earlier "
                    "S: Set-Cookie line (S: Set-Cookie: session=$session; *) or given with "
                    "--set name=VALUE (or record with --no-redact)"
                )
            if step.redacted and PASSWORD_VARIABLE not in known:
                raise ReplayUsageError(
                    f"{where}: this line was redacted when it was recorded; pass "
                    f"--set {PASSWORD_VARIABLE}=SECRET to send the secret where it says "
                    f"{REDACTED} (or write $name there and pass --set name=...)"
                )


# An HTTP Cookie request header (RFC 6265 5.4), as the recorder redacts it.
_COOKIE_LINE: Final = re.compile(r"\s*cookie\s*:", re.IGNORECASE)

# A SASL response line: base64 (RFC 4648 4), "*" (cancel) or, recorded, <redacted>.
_SASL_LINE: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}|\*|" + re.escape(REDACTED))


def _is_sasl_response(value: str | None, auth_line: str) -> bool:
    """``value`` is base64 (RFC 4648 4), and for PLAIN ``authzid NUL user NUL
    password`` (RFC 4616 2): a response that can stand for the redacted one."""
    if not value or _SASL_LINE.fullmatch(value) is None or value == "*":
        return False
    try:
        decoded = base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return " PLAIN " not in f" {auth_line.upper()} " or decoded.count(b"\0") == 2


def _starts_sasl(text: str) -> bool:
    """``AUTH mech`` (SMTP, POP3) or ``tag AUTHENTICATE mech`` (IMAP), whose
    following client lines are SASL responses (RFC 4954 4, 5034 4, 3501 6.2.2)."""
    words = text.upper().split(None, 2)
    return bool(words) and (words[0] == "AUTH" or (len(words) > 1 and words[1] == "AUTHENTICATE"))


def _check_meta(step: Meta, protocol: str, known: set[str], where: str) -> None:
    name, args = step.command, step.args
    if name not in META_COMMANDS:
        raise ReplayUsageError(
            f"{where}: unknown meta-command :{name} (replay knows "
            + ", ".join(f":{m}" for m in META_COMMANDS)
            + ")"
        )
    if name == "sleep":
        try:
            seconds = float(args[0]) if len(args) == 1 else math.nan
        except ValueError:
            seconds = math.nan
        if not 0 <= seconds <= MAX_SLEEP:
            raise ReplayUsageError(f"{where}: usage :sleep SECONDS (0 to {MAX_SLEEP:g})")
    elif name == "set":
        var, _, _value = step.argtext.partition(" ")
        if not _valid_name(var):
            raise ReplayUsageError(f"{where}: usage :set NAME VALUE (NAME: letters, digits, _)")
        known.add(var)
    elif name == "starttls":
        if args:
            raise ReplayUsageError(f"{where}: :starttls takes no arguments")
        if protocol not in ("smtp", "pop3", "imap"):
            raise ReplayUsageError(f"{where}: {protocol.upper()} has no STARTTLS (use https://)")
    elif name == "auth":
        if len(args) != 2:
            raise ReplayUsageError(f"{where}: usage :auth plain|login USER (password from --set {PASSWORD_VARIABLE}=...)")
        try:
            auth_dialogue(protocol, args[0], args[1], "x")
        except AuthError as exc:
            raise ReplayUsageError(f"{where}: {exc}") from None
        if PASSWORD_VARIABLE not in known:
            raise ReplayUsageError(f"{where}: :auth needs the password: pass --set {PASSWORD_VARIABLE}=SECRET")
    elif name == "raw" and not step.argtext:
        raise ReplayUsageError(f"{where}: usage :raw TEXT (escapes \\r \\n \\t \\xHH; no CRLF added)")

