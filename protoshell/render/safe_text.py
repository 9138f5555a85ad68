"""Server text made safe to print on a terminal, and nothing more.

A server may send ANSI escapes, bell characters, bidi overrides or bytes
that are not UTF-8; printed raw they would drive the user's terminal.  Here
every such character is shown as a visible escape (``\\x1b``, ``\\r``).
Unlike the transcript notation (transcript/escape.py) this is display only:
no backslash doubling, no disambiguation of lines that look like narration,
so ``<!DOCTYPE html>`` reads as ``<!DOCTYPE html>``.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[\x20-\x7e]*")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def display_line(raw: bytes) -> str:
    """One line's bytes (terminator already removed) as printable text."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
    else:
        if _PLAIN.fullmatch(text):
            return text
    out: list[str] = []
    for ch in text:
        if "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in _NAMED:
            out.append(_NAMED[ch])
        elif ch.isprintable():
            out.append(ch)
        else:  # controls, separators, format characters (bidi overrides)
            out.append("".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)
