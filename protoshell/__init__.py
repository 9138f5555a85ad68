"""protoshell: talk HTTP, SMTP, POP3 and IMAP by hand, record it, replay it.

From Python (``help(protoshell.connect)``, ``help(protoshell.Response)``)::

    import protoshell
    with protoshell.connect("imap://127.0.0.1:1143", timeout=10) as c:
        r = c.send("LOGIN bob redqueen")     # tagged A0001, framed by the protocol's rules
        r.ok, r.status, r.lines, r.raw       # True, 'A0001 OK', ('A0001 OK ...',), b'A0001 OK ...'
        c.send("SELECT INBOX")
        c.send("FETCH 1 RFC822").payloads    # each literal's bytes
    c.transcript()                           # what happened, for ``protoshell replay``

Errors are ``protoshell.Error``: ``NetworkError``, ``ProtocolError``,
``UsageError``, ``RefusedError``.

The Python API (``protoshell.connect``, ``Response`` and the errors, from
``protoshell.api``) is loaded on first use, not by ``import protoshell``:
``protoshell --version`` imports this file and must answer at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "Connection",
    "Error",
    "NetworkError",
    "ProtocolError",
    "RefusedError",
    "Response",
    "UsageError",
    "__version__",
    "connect",
]

if TYPE_CHECKING:  # for type checkers; at run time __getattr__ loads them
    from .api import (
        Connection,
        Error,
        NetworkError,
        ProtocolError,
        RefusedError,
        Response,
        UsageError,
        connect,
    )


def __getattr__(name: str) -> object:
    """PEP 562: the API's names, imported when first asked for."""
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'protoshell' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
