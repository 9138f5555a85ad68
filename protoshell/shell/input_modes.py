"""What a typed line means, depending on where the conversation is.

Pure functions and small state holders, no I/O:

* ``classify``: ``:name args`` is a meta-command, ``::text`` sends ``:text``,
  anything else goes to the server exactly as typed (no magic letters).
* HTTP: a request is edited as one multi-line buffer; Enter on an empty line
  sends it (``http_request_complete``), or, when the head declares a
  ``Content-Length``, once that many octets of body have been typed.
* IMAP: a line ending in ``{n}`` announces a literal (RFC 9051 4.3); after the
  server's ``+`` the next typed lines are its n octets.  The IMAP framer
  alone applies that rule (``literal_remaining``, ``awaiting_continuation``);
  the shell only reads it, for the prompt.
* SMTP: after ``354`` the framer is in message mode; the framer dot-stuffs.
* ``:pipeline``: which protocols may have several commands in flight, and
  the reason why not, as the lecture asks ("would it work for POP3? Why not?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..proto.http import field_line_problem


@dataclass(frozen=True, slots=True)
class MetaLine:
    name: str
    arg: str


@dataclass(frozen=True, slots=True)
class ProtocolLine:
    text: str


def classify(text: str) -> MetaLine | ProtocolLine:
    """``:help EHLO`` -> MetaLine("help", "EHLO"); ``::x`` -> ProtocolLine(":x")."""
    if text.startswith("::"):
        return ProtocolLine(text[1:])
    if text.startswith(":"):
        name, _, arg = text[1:].partition(" ")
        return MetaLine(name.strip().lower(), arg)  # spaces may matter (:raw)
    return ProtocolLine(text)


# --------------------------------------------------------------------- HTTP

_CONTENT_LENGTH = re.compile(r"^\s*content-length\s*:\s*([0-9]+)\s*$", re.IGNORECASE)


def _head_and_body(lines: list[str]) -> tuple[list[str], list[str] | None]:
    """Split at the first empty line after the request line; leading empty
    lines are skipped (RFC 9112 2.2 lets a server ignore them)."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    head: list[str] = []
    for j in range(i, len(lines)):
        if lines[j] == "":
            return head, lines[j + 1 :]
        head.append(lines[j])
    return head, None


def declared_length(head: list[str]) -> int | None:
    for line in head[1:]:
        m = _CONTENT_LENGTH.match(line)
        if m is not None:
            return int(m.group(1))
    return None


def http_request_complete(text: str) -> bool:
    """Whether Enter (at the end of ``text``) should send the request."""
    if text.startswith(":") or not text.strip():
        return True
    head, body = _head_and_body(text.split("\n"))
    if body is None:
        return False
    want = declared_length(head) or 0
    if want == 0:
        return True
    return len("\r\n".join(body).encode("utf-8")) >= want


def http_request_hint(text: str) -> str | None:
    """What the toolbar says while a request is typed: that an empty line
    sends it (RFC 9112 2.1: the head ends with an empty line), or how much
    body is still to come; None when nothing is being typed."""
    if text.startswith(":") or not text.strip():
        return None
    # The last line is the one being typed: the head ends only once an empty
    # line is entered, while the body counts what is typed so far.
    typed = text[: text.rfind("\n")] if "\n" in text else text
    head, body = _head_and_body(typed.split("\n"))
    if body is None:
        for line in head[1:]:
            if field_line_problem(line.encode("utf-8", "surrogateescape")) is not None:
                # The lecture's "\\r\\n" typed as a line: it is text, not the end.
                return f"'{line.strip()}' is no header line; an empty line sends the request"
        return "an empty line sends the request"
    want = declared_length(head) or 0
    have = len("\r\n".join(_head_and_body(text.split("\n"))[1] or []).encode("utf-8"))
    return f"the body: {want - have} more octets" if want > have else None


def split_http_request(text: str) -> tuple[list[bytes], bytes]:
    """(head lines, body) of a typed request; the body is the lines after the
    empty line joined by CRLF, cut to the declared Content-Length."""
    head, body_lines = _head_and_body(text.split("\n"))
    body = "\r\n".join(body_lines or []).encode("utf-8")
    want = declared_length(head)
    if want is not None:
        body = body[:want]
    return [h.encode("utf-8") for h in head], body


# --------------------------------------------------------------------- IMAP

# ----------------------------------------------------------------- pipeline

POP3_REFUSAL = (
    "POP3 cannot pipeline here. The lecture asks: 'Stacking commands is more efficient, "
    "but would it work for POP3? Why not?' POP3 replies carry no tag (+OK/-ERR only), so "
    "a reply cannot say which command it answers, and RFC 1939 lets a server read one "
    "command at a time. Only a server whose CAPA reply lists PIPELINING promises to answer "
    "stacked commands in order (RFC 2449 section 6.6); send CAPA to ask."
)


def pipeline_refusal(protocol: str, framer: object) -> str | None:
    """None when several commands may be sent at once, else why not."""
    if protocol == "imap":
        return None  # tags name the command each reply answers (RFC 9051 2.2.1)
    if protocol == "http":
        return None  # RFC 9112 9.3.2: responses come back in request order
    if protocol == "pop3":
        if getattr(framer, "supports_pipelining", False):
            return None
        return POP3_REFUSAL
    if protocol == "smtp":
        keywords = getattr(framer, "ehlo_keywords", {}) or {}
        if "PIPELINING" in keywords:
            return None
        if not keywords:
            return (
                "SMTP pipelining needs the server's consent: say EHLO first and look for "
                "PIPELINING in the reply (RFC 2920 section 3)"
            )
        return (
            "this server's EHLO reply does not list PIPELINING, so it may read one command "
            "at a time and lose the rest (RFC 2920 section 3)"
        )
    return f"{protocol.upper()} pipelining is not supported"


def pipeline_note(protocol: str) -> str:
    return {
        "imap": "tags (A0001, A0002...) match each reply to its command (RFC 9051 5.5)",
        "smtp": "the server announced PIPELINING; replies come back in order (RFC 2920)",
        "pop3": "the server's CAPA lists PIPELINING; replies come back in order (RFC 2449 6.6)",
        "http": "responses come back in request order (RFC 9112 9.3.2)",
    }.get(protocol, "")


# ------------------------------------------------------------------ prompts


def prompt_text(
    protocol: str,
    *,
    message_mode: bool = False,
    literal_left: int | None = None,
    queued: int | None = None,
    closed: bool = False,
    waiting: bool = False,
    idling: bool = False,
    command_continues: bool = False,
) -> str:
    """The prompt string, which tells the user what Enter will do."""
    if closed:
        return "closed> "
    if waiting:
        return "… waiting (Ctrl-C stops waiting)> "
    if literal_left is not None:
        what = "chunk" if protocol == "smtp" else "literal"  # BDAT (RFC 3030), IMAP {n}
        return f"{what} ({literal_left} octets)> "
    if message_mode:
        return "data> "
    if idling:
        return "idle (DONE ends it)> "  # RFC 2177 3
    if command_continues:
        # After a literal that filled its octets: the command line goes on,
        # and the server waits for its CRLF.  "imap>" alone left the user
        # waiting for an answer that could not come.
        return "rest of the command (Enter ends it)> "
    if queued is not None:
        return f"{protocol} pipeline [{queued}]> "
    return f"{protocol}> "


# ---------------------------------------------------------------- Ctrl-D


def unfinished_message(framer: object) -> str | None:
    """What Ctrl-D would abandon, or None when nothing is half sent.

    Unix ``mail`` ends a message with Ctrl-D, so a newcomer in SMTP's DATA
    presses it to send: the shell left at once, silently, and the server
    never got the message (pipe mode calls the same end of input an input
    error).  The shell says this once; a second Ctrl-D leaves."""
    owed = getattr(framer, "literal_remaining", None)
    if isinstance(owed, int):
        return (
            f"Ctrl-D leaves with {owed} octet(s) of the literal or BDAT chunk still owed: "
            "nothing is delivered (Ctrl-D again leaves)"
        )
    if getattr(framer, "in_data", False) is True:
        return (
            "Ctrl-D does not end the message: a line holding only '.' does (RFC 5321 4.1.1.4); "
            "until then nothing is delivered (Ctrl-D again leaves without sending it)"
        )
    return None
