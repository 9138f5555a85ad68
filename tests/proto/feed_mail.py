"""Feeding helpers shared by the SMTP and POP3 framer tests.

A conversation is a list of steps, as in a transcript: ``("C", b"EHLO x")``
sends a line through the framer, ``("S", b"250 ok\\r\\n")`` feeds server
bytes, ``("EOF", b"")`` feeds EOF.  ``run`` plays it with the server bytes
split one of three ways (whole, one byte at a time, or whole plus the start
of a further reply appended to the last server step) and returns what was
sent and a summary of every event, so one expected table serves all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from hypothesis import strategies as st

from protoshell.proto.base import (
    ConnectionClosed,
    Event,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    ResponseEnd,
    ServerLine,
    _NeedData,
)
from tests.proto.feed import drain, pieces

SPLITS = ("whole", "bytewise", "trailing")


class MailFramer(Protocol):
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Event | _NeedData: ...
    def send(self, line: bytes) -> bytes: ...


def summary(ev: Event) -> tuple[Any, ...]:
    """A comparable description of an event."""
    if isinstance(ev, ResponseEnd):
        return ("end", ev.status, ev.outcome) + (("starttls",) if ev.starttls else ())
    if isinstance(ev, ConnectionClosed):
        return ("closed", ev.clean)
    if isinstance(ev, ServerLine):
        return (type(ev).__name__, ev.status, ev.raw)
    if isinstance(ev, Payload):
        return ("payload", ev.raw)
    return (type(ev).__name__, ev.raw)


def run(
    framer: MailFramer,
    steps: Sequence[tuple[str, bytes]],
    split: str,
    trailing: bytes = b"",
) -> tuple[bytes, list[Event]]:
    """Play ``steps``; return (bytes sent, events).  With split="trailing",
    ``trailing`` (an unfinished next reply) is appended to the last server
    step: it must produce no event and no error."""
    sent = b""
    events: list[Event] = []
    last_s = max((i for i, (kind, _) in enumerate(steps) if kind == "S"), default=-1)
    for i, (kind, data) in enumerate(steps):
        if kind == "C":
            sent += framer.send(data)
        elif kind == "S":
            if split == "trailing" and i == last_s:
                data += trailing
            for piece in pieces(data, split):
                framer.receive_data(piece)
                events += drain(framer)
        elif kind == "EOF":
            framer.receive_data(b"")
            events += drain(framer)
        else:
            raise ValueError(kind)
    return sent, events


def steps_from_transcript(
    text: str, substitute: dict[str, bytes] | None = None
) -> list[tuple[str, bytes]]:
    """Steps from the lecture's notation: ``C: line`` / ``S: line``.

    Consecutive S: lines become one server step (CRLF after each).  A line
    whose text is a key of ``substitute`` (a narration like ``<the POP3
    server sends the text of message 1>``) is replaced by those raw bytes;
    ``C: <client connects...>`` is skipped and ``C: <client hangs up>``
    becomes EOF (the server closes in turn).
    """
    substitute = substitute or {}
    steps: list[tuple[str, bytes]] = []
    for raw_line in text.strip().splitlines():
        line = raw_line.strip()
        if not line:
            continue
        who, _, rest = line.partition(": ")
        if rest in substitute:
            data = substitute[rest]
        elif rest.startswith("<client connects"):
            continue
        elif rest.startswith("<client hangs up"):
            steps.append(("EOF", b""))
            continue
        else:
            data = rest.encode()
        if who == "C":
            steps.append(("C", data))
        elif who == "S":
            data = data if rest in substitute else data + b"\r\n"
            if steps and steps[-1][0] == "S":
                steps[-1] = ("S", steps[-1][1] + data)
            else:
                steps.append(("S", data))
        else:
            raise ValueError(f"not a transcript line: {raw_line!r}")
    return steps


def server_lines(steps: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """Every CRLF line of the server steps, in order."""
    out: list[bytes] = []
    for kind, data in steps:
        if kind == "S":
            out += data.splitlines(keepends=True)
    return out


def lossless_ops(pieces: Sequence[bytes], sends: Sequence[bytes]) -> st.SearchStrategy[list[tuple[str, bytes]]]:
    """Random conversations for ``play_lossless``: arbitrary bytes and the
    protocol's typical ``pieces`` received, its ``sends`` sent, TLS upgrades."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("recv"), st.binary(max_size=20)),
            st.tuples(st.just("recv"), st.sampled_from(list(pieces))),
            st.tuples(st.just("send"), st.sampled_from(list(sends))),
            st.tuples(st.just("tls"), st.just(b"")),
        ),
        max_size=40,
    )


def play_lossless(framer: Any, ops: Sequence[tuple[str, bytes]]) -> None:
    """Play random sends, receives and TLS upgrades (``("send"|"recv"|"tls",
    bytes)``) then EOF: the framer may only raise RemoteProtocolError, and
    every byte received must come back in an event's raw or in
    trailing_data: nothing the server sent is lost."""
    received = b""  # every byte fed before EOF
    accounted = b""  # raw of every event, plus trailing data dropped at tls_started()
    eof = False
    try:
        for op, data in [*ops, ("recv", b"")]:
            if op == "send":
                try:
                    framer.send(data)
                except LocalProtocolError:
                    assert framer.state in ("tls-pending", "closed")
            elif op == "tls":
                if framer.state == "tls-pending":
                    accounted += framer.trailing_data
                    framer.tls_started()
            else:
                if not eof:
                    received += data
                eof = eof or not data
                framer.receive_data(data)
            for event in drain(framer):
                assert isinstance(event, (ServerLine, ResponseEnd, ConnectionClosed))
                accounted += event.raw
            assert framer.pending >= 0
    except RemoteProtocolError:
        return
    assert accounted + framer.trailing_data == received
