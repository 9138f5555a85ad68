"""Input history, one file per protocol, in the user's data folder (XDG).

``$XDG_DATA_HOME/protoshell/history-smtp`` (or ``~/.local/share/...``):
SMTP lines are useless at an IMAP prompt, so each protocol keeps its own.
Ctrl-R searches it (prompt_toolkit's reverse incremental search, on by
default in emacs mode).  Lines that carry a password (``PASS``, IMAP
``LOGIN``, ``AUTH PLAIN <base64>``, HTTP ``Authorization``) are never written
to the file: a shell history is not a place for secrets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from prompt_toolkit.history import FileHistory, History, InMemoryHistory

# A line (or a line of an HTTP request) that must not be kept.
_SECRET = re.compile(
    r"""^\s*(?:[A-Za-z0-9.]+\s+)?          # an IMAP tag, maybe
        (?:PASS\s|APOP\s|LOGIN\s+\S+\s+\S|AUTH(?:ENTICATE)?\s+\S+\s+\S)
      | ^\s*(?:Authorization|Proxy-Authorization|Cookie)\s*:""",
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)


def is_secret(entry: str) -> bool:
    """Whether a history entry holds a password, token or cookie."""
    return _SECRET.search(entry) is not None


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME", "").strip()
    root = (
        Path(base)
        if base and os.path.isabs(base)
        else Path(env.get("HOME", "~")).expanduser() / ".local" / "share"
    )
    return root / "protoshell"


def history_path(protocol: str, environ: Mapping[str, str] | None = None) -> Path:
    return data_dir(environ) / f"history-{protocol}"


class RedactingFileHistory(FileHistory):
    """A FileHistory that keeps secret lines in memory only (Up still finds
    them in this session) and creates its file private to the user."""

    def store_string(self, string: str) -> None:
        if is_secret(string):
            return
        path = Path(os.fsdecode(self.filename))
        try:
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            super().store_string(string)
        except OSError:
            pass  # a full or read-only disk must not end the session


def open_history(protocol: str, environ: Mapping[str, str] | None = None) -> History:
    """The protocol's history; in memory only if the folder cannot be made."""
    path = history_path(protocol, environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            return InMemoryHistory()
    except OSError:
        return InMemoryHistory()
    return RedactingFileHistory(str(path))
