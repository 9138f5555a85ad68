"""protoshell: talk HTTP, SMTP, POP3 and IMAP by hand, record it, replay it.

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
