"""The mail store the SMTP, POP3 and IMAP servers share: one Maildir.

A thin helper over the stdlib's ``mailbox.Maildir``, keeping to the standard
on-disk format (https://cr.yp.to/proto/maildir.html) so that other programs
(mutt, Dovecot, the IMAP server's own UID-aware store) read the same folder:

- ``new/``, ``cur/``, ``tmp/``; a message is a file whose name is a unique
  key, optionally followed by ``:2,FLAGS`` (flags are IMAP's business;
  POP3 ignores them and keeps the file where it is);
- delivery writes the whole message to ``tmp/``, fsyncs it and only then
  links it into ``new/`` (``mailbox.Maildir.add``), so a reader never sees a
  half-written message and a crash or a client vanishing mid-DATA leaves at
  most a stray file in ``tmp/``;
- a message is stored exactly as SMTP received it (CRLF line ends, after
  SMTP's own dot-unstuffing); nothing is added, so what POP3 and IMAP give
  back is byte-identical to what the client sent.  (A real MTA would add
  ``Received:`` and ``Return-Path:``; a teaching server prefers the
  round trip.)  Files with LF line ends, dropped in by other tools, are
  served with CRLF (``proto.pop3_server.MessageEncoder``).

``messages()`` lists ``new/`` and ``cur/`` in a stable order, delivery
order, which is the order POP3 numbers them in: by the time written in the
unique name (``<seconds>.M<microseconds>P<pid>Q<count>.<host>``, the
stdlib's and Dovecot's form), else by the file's modification time (which
the kernel keeps in coarse ticks, so it cannot order fast deliveries alone),
then by key.
"""

from __future__ import annotations

import contextlib
import mailbox
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from ...proto.pop3_server import wire_size

__all__ = ["CHUNK", "MaildirStore", "StoredMessage"]

#: Bytes read from a message file at a time.
CHUNK: Final = 256 << 10
_SUBDIRS: Final = ("new", "cur")
_COLON: Final = ":"  # mailbox.Maildir.colon: key ":2," flags
_UNIQUE_NAME: Final = re.compile(
    r"([0-9]{1,12})\.(?:M([0-9]{1,6}))?(?:P[0-9]+)?(?:Q([0-9]{1,12}))?"
)


def _order(key: str, mtime_ns: int) -> tuple[int, int, str]:
    """Delivery order: the time in the unique name, else the file's."""
    m = _UNIQUE_NAME.match(key)
    if m is None:
        return (mtime_ns // 1000, 0, key)
    return (int(m[1]) * 1_000_000 + int(m[2] or 0), int(m[3] or 0), key)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message in the Maildir.

    ``key`` is the unique name (without ``:2,FLAGS``), ``path`` where the
    file was when listed, ``size`` its size on disk, ``wire_size`` its size
    with CRLF line ends (what POP3 LIST reports and RETR sends before
    byte-stuffing), ``mtime_ns`` its delivery time.
    """

    key: str
    path: Path
    size: int
    wire_size: int
    mtime_ns: int


class MaildirStore:
    """A Maildir folder: deliver, list, read and delete messages.

    Safe to use from several threads (delivery may run in a worker thread
    while the servers read in the event loop's).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        if create:
            # mailbox.Maildir makes new/ cur/ tmp/ only when the folder itself
            # is missing; an empty folder made by hand should work too.
            for sub in ("", "tmp", "new", "cur"):
                (self.path / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._box = mailbox.Maildir(str(self.path), factory=None, create=create)
        self._lock = threading.Lock()
        self._paths: dict[str, Path] = {}
        self._sizes: dict[str, tuple[int, int, int]] = {}  # key -> (size, mtime_ns, wire size)

    # -- writing ----------------------------------------------------------------

    def deliver(self, data: bytes) -> str:
        """Store one message atomically (tmp/ -> new/); returns its key.

        Raises OSError when the folder cannot be written (disk full,
        permissions); then nothing is in ``new/``.
        """
        with self._lock:
            key = self._box.add(bytes(data))
        return str(key)

    def delete(self, key: str) -> bool:
        """Remove message ``key``; True when it is gone (also when another
        session removed it first), False when it could not be removed."""
        path = self._find(key)
        if path is None:
            return True
        try:
            path.unlink()
        except FileNotFoundError:
            # Renamed in between (an IMAP client set a flag): look again.
            path = self._find(key, rescan=True)
            if path is None:
                return True
            try:
                path.unlink()
            except FileNotFoundError:
                return True
            except OSError:
                return False
        except OSError:
            return False
        with self._lock:
            self._paths.pop(key, None)
            self._sizes.pop(key, None)
        return True

    # -- reading ------------------------------------------------------------------

    def messages(self) -> list[StoredMessage]:
        """Every message in ``new/`` and ``cur/``, oldest delivery first, in
        an order that is stable while the folder does not change."""
        found = self._scan()
        out: list[StoredMessage] = []
        for key, (path, size, mtime_ns) in found.items():
            cached = self._sizes.get(key)
            if cached is not None and cached[:2] == (size, mtime_ns):
                wire = cached[2]
            else:
                try:
                    wire = self._measure(path)
                except OSError:
                    continue  # removed while we looked
                with self._lock:
                    self._sizes[key] = (size, mtime_ns, wire)
            out.append(StoredMessage(key, path, size, wire, mtime_ns))
        out.sort(key=lambda m: _order(m.key, m.mtime_ns))
        with self._lock:
            for gone in set(self._sizes) - set(found):
                del self._sizes[gone]
        return out

    def open(self, key: str) -> BinaryIO:
        """The message file, opened for reading in binary; KeyError if there
        is no such message (any more)."""
        path = self._find(key)
        if path is not None:
            try:
                return open(path, "rb")
            except FileNotFoundError:
                pass
        path = self._find(key, rescan=True)
        if path is None:
            raise KeyError(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise KeyError(key) from None

    def read(self, key: str) -> bytes:
        """The whole message (for tests and small messages; servers stream
        with ``open``/``chunks``)."""
        with self.open(key) as f:
            return f.read()

    def chunks(self, key: str) -> Iterator[bytes]:
        """The message in chunks of at most ``CHUNK`` bytes; KeyError if it
        does not exist."""
        f = self.open(key)
        with f:
            while chunk := f.read(CHUNK):
                yield chunk

    def __len__(self) -> int:
        return len(self._scan())

    def keys(self) -> list[str]:
        return [m.key for m in self.messages()]

    # -- internals ----------------------------------------------------------------

    def _scan(self) -> dict[str, tuple[Path, int, int]]:
        found: dict[str, tuple[Path, int, int]] = {}
        for sub in _SUBDIRS:
            directory = self.path / sub
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue  # not a message (maildir spec: skip dot files)
                with contextlib.suppress(OSError):
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    key = name.split(_COLON, 1)[0]
                    found.setdefault(key, (directory / name, st.st_size, st.st_mtime_ns))
        with self._lock:
            self._paths = {key: value[0] for key, value in found.items()}
        return found

    def _find(self, key: str, *, rescan: bool = False) -> Path | None:
        if not rescan:
            with self._lock:
                path = self._paths.get(key)
            if path is not None:
                return path
        return self._scan().get(key, (None, 0, 0))[0]

    @staticmethod
    def _measure(path: Path) -> int:
        with open(path, "rb") as f:
            return wire_size(iter(lambda: f.read(CHUNK), b""))
