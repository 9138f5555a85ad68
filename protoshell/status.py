"""Exit codes, as DESIGN.md section 1 promises them."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    REFUSED = 1  # a replay mismatch, or the server refused (an error reply)
    USAGE = 2  # bad arguments or input
    NETWORK = 3  # refused, unknown host, timeout, reset, TLS failure, protocol violation


def exit_for(kind: str) -> ExitStatus:
    """Map a SessionError/TransportError kind to an exit code."""
    return ExitStatus.USAGE if kind == "usage" else ExitStatus.NETWORK
