"""Texts for ``:help``, ``:explain`` and ``:last``: pure, from the vocabulary tables.

Nothing here is written twice: a command's syntax, meaning, RFC section and
the lecture's phase come from ``proto/<protocol>.py``'s ``VOCABULARY``; reply
codes too.  Only the generic meaning of a code's *class* (the first digit,
RFC 5321 4.2.1 / RFC 9110 15) is spelled here, as the fallback for codes a
table does not list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..proto.base import ResponseEnd, ServerLine
from ..proto.vocab import Command, Vocabulary
from ..session import Exchange

PHASES: dict[str, str] = {
    "identify": "identify yourself",
    "ask": "ask for information",
    "answer": "provide answers",
    "goodbye": "say goodbye",
}

_SMTP_FIRST = {
    "2": "positive completion: the action was done",
    "3": "positive intermediate: send more (the rest of the command)",
    "4": "transient negative: not done, try again later",
    "5": "permanent negative: not done, do not repeat as is",
}
_SMTP_SECOND = {
    "0": "syntax",
    "1": "information",
    "2": "connection",
    "5": "mail system",
}
_HTTP_FIRST = {
    "1": "informational: request received, continuing",
    "2": "successful: the request was received, understood and accepted",
    "3": "redirection: further action is needed (see Location)",
    "4": "client error: the request is wrong or cannot be fulfilled",
    "5": "server error: the server failed to fulfil a valid request",
}
# RFC 3463 enhanced status codes: class.subject.detail
_ENHANCED_SUBJECT = {
    "0": "other or undefined",
    "1": "addressing",
    "2": "mailbox",
    "3": "mail system",
    "4": "network and routing",
    "5": "mail delivery protocol",
    "6": "message content or media",
    "7": "security or policy",
}


def command_help(cmd: Command) -> list[str]:
    out = [
        f"{cmd.syntax}",
        f"  {cmd.meaning}",
        f"  {cmd.rfc}; the lecture's phase: {cmd.phase} ({PHASES.get(cmd.phase, cmd.phase)})",
    ]
    if cmd.safe is not None or cmd.idempotent is not None:
        safe = "safe" if cmd.safe else "unsafe (may change the server's state)"
        idem = "idempotent" if cmd.idempotent else "not idempotent"
        out.append(f"  {safe}, {idem} (RFC 9110 9.2.1, 9.2.2)")
    return out


def overview(vocab: Vocabulary | None, meta: Mapping[str, tuple[str, str]]) -> list[str]:
    """``:help`` without an argument: meta-commands, then the protocol's
    commands by the lecture's phases."""
    out = ["Lines you type go to the server as typed. Meta-commands start with ':'", ""]
    width = max((len(usage) for usage, _ in meta.values()), default=0)
    for usage, summary in meta.values():
        out.append(f"  {usage:<{width}}  {summary}")
    out.append("  ::text  sends a line that starts with ':'")
    if vocab is not None:
        out.append("")
        out.append(f"{vocab.protocol.upper()} commands (:help COMMAND for one):")
        for phase, label in PHASES.items():
            names = [c.name for c in vocab.commands.values() if c.phase == phase]
            if names:
                out.append(f"  {label}: {' '.join(names)}")
    return out


def help_text(
    vocab: Vocabulary | None, meta: Mapping[str, tuple[str, str]], topic: str
) -> list[str]:
    topic = topic.strip()
    if not topic:
        return overview(vocab, meta)
    name = topic.lstrip(":").lower()
    if not topic.startswith(":") and vocab is not None:
        cmd = vocab.command(topic.split()[0]) or vocab.commands.get(topic.split()[0])
        if cmd is not None:
            return command_help(cmd)
    if name in meta:
        usage, summary = meta[name]
        return [usage, f"  {summary}"]
    known = f" ({vocab.protocol.upper()} knows: {' '.join(vocab.commands)})" if vocab else ""
    return [f"no help for {topic!r}{known}"]


def _status_token(code: str) -> str:
    """'A0003 NO' -> 'NO'; '+ok' -> '+OK'; 'HTTP 404' -> '404'."""
    words = code.strip().split()
    if not words:
        return ""
    if len(words) > 1 and words[0].upper() == "HTTP":
        return words[1]
    if len(words) > 1 and words[0] not in ("*", "+"):
        return words[1].upper() if not words[0].isdigit() else words[0]
    if words[0] == "*" and len(words) > 1:
        return words[1].upper()
    return words[0].rstrip("-").upper()


def explain(vocab: Vocabulary | None, protocol: str, code: str) -> list[str]:
    token = _status_token(code)
    if not token:
        return ["usage: :explain CODE (e.g. 250, 354, +OK, NO, 404)"]
    if vocab is not None:
        reply = vocab.reply(token)
        if reply is not None:
            where = f" ({reply.rfc})" if reply.rfc else ""
            return [f"{reply.code}: {reply.meaning}{where}", f"  reads as: {reply.outcome}"]
    parts = token.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] in "245":
        cls = {"2": "success", "4": "persistent transient failure", "5": "permanent failure"}
        subject = _ENHANCED_SUBJECT.get(parts[1], "unknown subject")
        return [f"{token}: enhanced status code: {cls[parts[0]]}, {subject} (RFC 3463 3)"]
    if len(token) == 3 and token.isdigit():
        if protocol == "http" and token[0] in _HTTP_FIRST:
            return [f"{token}: {token[0]}xx {_HTTP_FIRST[token[0]]} (RFC 9110 section 15)"]
        if protocol == "smtp" and token[0] in _SMTP_FIRST:
            second = _SMTP_SECOND.get(token[1], "unspecified")
            first = _SMTP_FIRST[token[0]]
            return [f"{token}: {token[0]}xx {first}; x{token[1]}x: {second} (RFC 5321 4.2.1)"]
    return [f"{token}: not in the {protocol.upper()} table"]


def last_status(exchanges: Iterable[Exchange]) -> str | None:
    """The status of the last complete response among ``exchanges``."""
    status: str | None = None
    for ex in exchanges:
        event = ex.event
        final = isinstance(event, ResponseEnd) and bool(event.status)
        first = isinstance(event, ServerLine) and bool(event.status) and status is None
        if final or first:
            status = event.status  # type: ignore[union-attr]
    return status


def last_summary(
    exchanges: Sequence[Exchange], rtt: float | None, payload: int = 0, left_out: tuple[int, int] = (0, 0)
) -> list[str]:
    """``:last``: the last response, parsed: status, headers, size.

    ``exchanges`` are its lines (``Session.last_response``: payload chunks
    are not kept there, they stream); ``payload`` is the octets of body or
    literal the session counted (``Session.last_payload_size``);
    ``left_out``: (lines, octets) of the response that were counted but not
    kept (``Session.last_left_out``: past the first 1,000 lines)."""
    lines = [ex for ex in exchanges if ex.direction == "S"]
    if not lines:
        return ["no response yet"]
    end = next((ex.event for ex in reversed(lines) if isinstance(ex.event, ResponseEnd)), None)
    server_lines = [ex.event for ex in lines if isinstance(ex.event, ServerLine)]
    wire = sum(len(ex.raw) for ex in lines) + payload
    first = next((e for e in server_lines if e.status is not None), None)
    out: list[str] = []
    if end is not None:
        out.append(f"status: {end.status or '-'} ({end.outcome})")
    elif first is not None:
        out.append(f"status: {first.status} ({first.outcome}), incomplete")
    if first is not None:
        out.append(f"first line: {first.text}")
    headers = [
        (name, str(getattr(e, "value", "")))
        for e in server_lines
        if isinstance(name := getattr(e, "name", None), str)
    ]
    if headers:
        out.append("headers:")
        width = max(len(n) for n, _ in headers)
        out.extend(f"  {n + ':':<{width + 1}} {v.strip()}" for n, v in headers)
    out.append(
        f"lines: {len(server_lines) + left_out[0]}; payload: {payload} octets; on the wire: {wire + left_out[1]} octets"
    )
    if rtt is not None:
        out.append(f"round trip: {rtt * 1000:.1f} ms")
    return out
