"""Feeding helpers for the tests of the IMAP server role (proto/imap_server.py
and the grammars it runs, proto/imap_grammar.py).

Every scripted case runs three ways (h11's habit): client bytes fed whole,
one byte at a time (events drained after each byte), and whole followed by
the start of a further command (which must change nothing).  ``Responder``
answers events the way a server would (accept literals, OK every command),
so a case is: bytes in -> what the server saw and said (``run``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from protoshell.proto.base import NEED_DATA, ConnectionClosed, Event, Payload
from protoshell.proto.imap_server import (
    CommandError,
    ContinuationLine,
    ImapCommand,
    ImapServerConnection,
    ImapServerLimits,
    LiteralRequest,
)

MODES = ("whole", "bytes", "trailing")
TRAILING = b"Z9 NOO"  # the start of a further command: must produce nothing


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@dataclass
class Responder:
    """Answers events like a server: literals accepted, commands OK."""

    conn: ImapServerConnection
    sent: bytearray
    seen: list[tuple[Any, ...]]
    on_command: Callable[[ImapServerConnection, ImapCommand], bytes] | None = None

    def drain(self) -> None:
        for _ in range(100_000):
            ev = self.conn.next_event()
            if ev is NEED_DATA:
                return
            assert isinstance(ev, Event)
            self.handle(ev)
        raise AssertionError("next_event never returned NEED_DATA")

    def handle(self, ev: Event) -> None:
        conn = self.conn
        if isinstance(ev, LiteralRequest):
            self.seen.append(("literal", ev.tag, ev.size, ev.synchronizing, ev.stream))
            self.sent += conn.accept_literal()
        elif isinstance(ev, Payload):
            if self.seen and self.seen[-1][0] == "payload":
                self.seen[-1] = ("payload", self.seen[-1][1] + ev.raw)
            else:
                self.seen.append(("payload", ev.raw))
        elif isinstance(ev, ImapCommand):
            self.seen.append(("command", ev.tag, ev.name, ev.uid, ev.args))
            if self.on_command is not None:
                self.sent += self.on_command(conn, ev)
            else:
                self.sent += conn.send_tagged(ev.tag, "OK", "done")
        elif isinstance(ev, CommandError):
            self.seen.append(("error", ev.tag, ev.fatal))
            self.sent += conn.send_error(ev)
        elif isinstance(ev, ContinuationLine):
            self.seen.append(("continuation", ev.line))
            assert conn.current is not None
            self.sent += conn.send_tagged(conn.current.tag, "OK", "done")
        elif isinstance(ev, ConnectionClosed):
            self.seen.append(("closed", ev.clean))
        else:  # pragma: no cover
            pytest.fail(f"unexpected event {ev!r}")


def connection(
    state: str = "not-authenticated", limits: ImapServerLimits | None = None
) -> ImapServerConnection:
    conn = ImapServerConnection(limits) if limits is not None else ImapServerConnection()
    steps = {
        "authenticated": [b"p1 LOGIN u p\r\n"],
        "selected": [b"p1 LOGIN u p\r\n", b"p2 SELECT INBOX\r\n"],
    }
    for line in steps.get(state, []):
        conn.receive_data(line)
        ev = conn.next_event()
        assert isinstance(ev, ImapCommand), ev
        conn.send_tagged(ev.tag, "OK", "ok")
    assert conn.state == state
    return conn


def run(
    data: bytes,
    mode: str = "whole",
    state: str = "not-authenticated",
    limits: ImapServerLimits | None = None,
    eof: bool = False,
) -> tuple[list[tuple[Any, ...]], bytes]:
    conn = connection(state, limits)
    r = Responder(conn, bytearray(), [])
    if mode == "bytes":
        for i in range(len(data)):
            conn.receive_data(data[i : i + 1])
            r.drain()
    else:
        conn.receive_data(data)
        r.drain()
        if mode == "trailing":
            before = (list(r.seen), bytes(r.sent))
            conn.receive_data(TRAILING)
            r.drain()
            assert (r.seen, bytes(r.sent)) == before
    if eof:
        conn.receive_data(b"")
        r.drain()
    return r.seen, bytes(r.sent)


def cmd(tag: str, name: str, args: Any = None, uid: bool = False) -> tuple[Any, ...]:
    return ("command", tag, name, uid, args)
