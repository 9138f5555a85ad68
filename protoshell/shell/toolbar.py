"""The bottom toolbar: where we are connected, how, in what state, how much moved.

Pure: ``toolbar_fragments(ToolbarInfo)`` returns prompt_toolkit fragments and
``framer_state(framer)`` reads the state the framers publish (SMTP ``state`` /
``in_data``, IMAP ``state`` / ``selected`` / ``idling``, POP3 ``state``), so
the toolbar is tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompt_toolkit.formatted_text import StyleAndTextTuples

from ..transport import TlsInfo


@dataclass(frozen=True)
class ToolbarInfo:
    target: str
    protocol: str
    tls: TlsInfo | None
    state: str
    bytes_in: int
    bytes_out: int
    rtt: float | None
    flags: tuple[str, ...] = ()
    closed: bool = False


def human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            if unit == "B":
                return f"{n} B"
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_rtt(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def _attr(obj: object, name: str) -> object:
    try:
        return getattr(obj, name, None)
    except (AttributeError, TypeError, ValueError):  # never break the toolbar
        return None


def framer_state(framer: object) -> str:
    """A few words on the conversation's state, from what the framer publishes."""
    parts: list[str] = []
    state = _attr(framer, "state")
    if _attr(framer, "protocol") == "http":
        # HttpClientFramer: "status" means between responses.
        state = "ready" if state == "status" else f"reading {state}"
        sending = _attr(framer, "send_state")
        if isinstance(sending, str) and sending != "request-line":
            parts.append(f"sending {sending}")
    if isinstance(state, str) and state:
        parts.insert(0, state)
    if _attr(framer, "in_data") is True and "data" not in parts:
        parts.append("in DATA")
    selected = _attr(framer, "selected")
    if isinstance(selected, str) and selected:
        parts.append(f"[{selected}]")
    if _attr(framer, "idling") is True and state != "idle":
        parts.append("idle")
    pending = _attr(framer, "pending")
    if isinstance(pending, int) and pending > 0:
        parts.append(f"awaiting {pending}")
    return " ".join(parts) or "-"


def tls_text(tls: TlsInfo | None) -> str:
    if tls is None:
        return "plaintext"
    check = "verified" if tls.verified else "NOT verified"
    return f"{tls.version} {tls.cipher} {check}"


def tls_short(tls: TlsInfo | None) -> str:
    """The TLS part where the cipher does not fit: the version and whether it
    was verified (an unverified connection must stay visible)."""
    if tls is None:
        return "plaintext"
    return f"{tls.version} {'verified' if tls.verified else 'NOT verified'}"


def _width(fragments: StyleAndTextTuples) -> int:
    return sum(len(t) for _, t, *_ in fragments)


def toolbar_fragments(info: ToolbarInfo, width: int | None = None) -> StyleAndTextTuples:
    """The toolbar, fitted to ``width`` columns when given.

    A terminal cuts a toolbar that is too long at its right end, and the
    right end is where the flags are: the hint that an empty line sends an
    HTTP request, ``rec FILE``, the pipeline count. At 60 columns (or with
    a TLS cipher name) a newcomer saw none of them. So what matters least
    while typing goes first: the byte counts and round-trip time, then the
    cipher's name, then the target's URL (the prompt names the protocol);
    the flags and the state stay.
    """
    tls_style = (
        "class:toolbar.plain"
        if info.tls is None
        else ("class:toolbar.tls" if info.tls.verified else "class:toolbar.insecure")
    )
    if info.closed:
        state: tuple[str, str] = ("class:toolbar.closed", " closed: :reconnect or :quit ")
    else:
        state = ("class:toolbar.state", f" {info.state} ")
    moved = f" in {human_bytes(info.bytes_in)} · out {human_bytes(info.bytes_out)}"
    flags: StyleAndTextTuples = [("class:toolbar.flag", f" {flag} ") for flag in info.flags]
    target = ("class:toolbar.target", f" {info.target} ")
    protocol = ("class:toolbar", f" {info.protocol.upper()} ")
    full: StyleAndTextTuples = [
        target,
        protocol,
        (tls_style, f" {tls_text(info.tls)} "),
        state,
        ("class:toolbar", f"{moved} · rtt {human_rtt(info.rtt)} "),
        *flags,
    ]
    if width is None or _width(full) <= width:
        return full
    fallbacks: list[StyleAndTextTuples] = [
        [target, protocol, (tls_style, f" {tls_text(info.tls)} "), state, *flags],
        [target, protocol, (tls_style, f" {tls_short(info.tls)} "), state, *flags],
        [protocol, (tls_style, f" {tls_short(info.tls)} "), state, *flags],
    ]
    for candidate in fallbacks:
        if _width(candidate) <= width:
            return candidate
    return fallbacks[-1]
