"""Feeding primitives every framer test uses (feed_http.py and feed_mail.py
build their protocol-specific players on these)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from protoshell.proto.base import NEED_DATA, Event, _NeedData


class Receiver(Protocol):
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Event | _NeedData: ...


def drain(framer: Receiver, limit: int = 1_000_000) -> list[Event]:
    """All events available now (stops at NEED_DATA)."""
    out: list[Event] = []
    for _ in range(limit):
        ev = framer.next_event()
        if ev is NEED_DATA:
            return out
        assert isinstance(ev, Event)
        out.append(ev)
    raise AssertionError("framer never returned NEED_DATA")


def pieces(data: bytes, split: str) -> Iterable[bytes]:
    """``data`` whole, or one byte at a time (``split == "bytewise"``)."""
    if split == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    return [data] if data else []
