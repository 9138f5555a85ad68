"""Sans-IO framers and vocabularies, one module per protocol (stdlib only).

``framer_for`` and ``vocabulary_for`` import the protocol module on demand,
which keeps ``protoshell --version`` from loading all four.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Framer
    from .vocab import Vocabulary

PROTOCOLS: tuple[str, ...] = ("http", "smtp", "pop3", "imap")

_CLIENT_FRAMERS = {
    "http": "HttpClientFramer",
    "smtp": "SmtpFramer",
    "pop3": "Pop3Framer",
    "imap": "ImapFramer",
}


def module_for(protocol: str) -> ModuleType:
    if protocol not in _CLIENT_FRAMERS:
        raise ValueError(f"unknown protocol {protocol!r}")
    return importlib.import_module(f"{__name__}.{protocol}")


def framer_for(protocol: str) -> Framer:
    """A fresh client-role framer for the protocol."""
    cls = getattr(module_for(protocol), _CLIENT_FRAMERS[protocol])
    framer: Framer = cls()
    return framer


def vocabulary_for(protocol: str) -> Vocabulary:
    vocab: Vocabulary = module_for(protocol).VOCABULARY
    return vocab


def line_status_for(protocol: str) -> Callable[[str], str | None]:
    """The function that tells the status token of a server line's text."""
    fn: Callable[[str], str | None] = module_for(protocol).line_status
    return fn
