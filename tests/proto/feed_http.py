"""Feeding helpers for the HTTP framer tests (client and server role).

``feed`` gives a framer its peer's bytes whole, one byte at a time, or whole
plus the start of a further message (``TRAILING_*``), draining events after
every piece; ``summary`` turns events into comparable tuples, merging adjacent
``Payload`` chunks so that one expected table serves every split.
"""

from __future__ import annotations

from typing import Any

from protoshell.proto.base import (
    ConnectionClosed,
    Event,
    Payload,
    ResponseEnd,
)
from protoshell.proto.http import (
    HttpChunkLine,
    HttpFragment,
    HttpHeaderEnd,
    HttpHeaderLine,
    HttpRequest,
    HttpRequestEnd,
    HttpResponseHead,
    HttpStatusLine,
)
from tests.proto.feed import Receiver, drain, pieces

SPLITS = ("whole", "bytewise", "trailing")
# The start of a further message, short of a line end: it must stay buffered
# and cause no event and no error.
TRAILING_RESPONSE = b"HTTP/1.1 200 O"  # no line end yet
TRAILING_REQUEST = b"GET /next HTT"  # no line end yet


def feed(framer: Receiver, data: bytes, split: str = "whole", eof: bool = False) -> list[Event]:
    """Feed ``data`` split as asked (and EOF if ``eof``); all events."""
    events: list[Event] = []
    for piece in pieces(data, split):
        framer.receive_data(piece)
        events += drain(framer)
    if eof:
        framer.receive_data(b"")
        events += drain(framer)
    return events


def summary(events: list[Event]) -> list[tuple[Any, ...]]:
    """Comparable descriptions; adjacent payload chunks merged."""
    out: list[tuple[Any, ...]] = []
    for ev in events:
        if isinstance(ev, Payload):
            if out and out[-1][0] == "payload":
                out[-1] = ("payload", out[-1][1] + ev.raw)
            else:
                out.append(("payload", ev.raw))
        elif isinstance(ev, HttpStatusLine):
            out.append(("status", ev.code, ev.reason, ev.status, ev.outcome))
        elif isinstance(ev, HttpHeaderLine):
            out.append(("header", ev.name, ev.value) + (("fold",) if ev.continuation else ()))
        elif isinstance(ev, HttpHeaderEnd):
            out.append(("header-end",))
        elif isinstance(ev, HttpResponseHead):
            out.append(("head", ev.code, ev.framing, ev.keep_alive))
        elif isinstance(ev, HttpChunkLine):
            out.append(("chunk", ev.kind, ev.raw))
        elif isinstance(ev, HttpFragment):
            out.append(("fragment", ev.raw))
        elif isinstance(ev, ResponseEnd):
            out.append(("end", ev.status, ev.outcome))
        elif isinstance(ev, ConnectionClosed):
            out.append(("closed", ev.clean))
        elif isinstance(ev, HttpRequest):
            out.append(("request", ev.method, ev.target, ev.version))
        elif isinstance(ev, HttpRequestEnd):
            out.append(("request-end",))
        else:
            out.append((type(ev).__name__, ev.raw))
    return out


def wire_of(events: list[Event]) -> bytes:
    """The bytes the events account for, in order."""
    return b"".join(ev.raw for ev in events)


def check_offsets(events: list[Event]) -> None:
    """Payload offsets run on without gaps within each body."""
    expected = 0
    for ev in events:
        if isinstance(ev, Payload):
            if ev.offset == 0:
                expected = 0
            assert ev.offset == expected, (ev.offset, expected)
            expected += len(ev.raw)
