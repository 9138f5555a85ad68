"""A UID-aware view of a Maildir folder tree, for the IMAP server.

Layout (Maildir++, as Dovecot and Courier use it, so their tools can read it):

- INBOX is the Maildir root (``cur/ new/ tmp/``); every other mailbox is a
  folder ``.Name`` beside them, hierarchy with ``.`` (``.Work.2024`` is the
  mailbox ``Work.2024``, a child of ``Work``);
- a message is a file named ``key`` (in ``new/``) or ``key:2,FLAGS`` (in
  ``cur/``), where the flag letters are ``D`` \\Draft, ``F`` \\Flagged,
  ``R`` \\Answered, ``S`` \\Seen, ``T`` \\Deleted (others, such as ``P``
  or keyword letters, are kept untouched when flags change);
- a message in ``new/`` has not been seen by any IMAP session: it is
  ``\\Recent`` for the session that selects the mailbox, which moves it to
  ``cur/`` (RFC 3501 2.3.2);
- IMAP needs what Maildir lacks: a UID per message that never changes and
  grows with arrival order, and a UIDVALIDITY per mailbox (RFC 3501 2.3.1.1).
  Each folder keeps them in a small text file, ``protoshell-uidlist``::

      protoshell-uidlist 1 <uidvalidity> <uidnext>
      <uid> <key>
      ...

  rewritten atomically (write, fsync, rename) under an ``flock`` so that two
  server processes on one Maildir never hand out a UID twice.

Messages are written the Maildir way: into ``tmp/``, then renamed into
``new/`` or ``cur/`` once complete, so an APPEND cut short leaves no partial
message, only a file in ``tmp/`` that is removed.  New mail delivered by
another process or thread (the SMTP server) is noticed by the next
``scan()``; the IMAP sessions rescan after every command and twice a second
while idling.

Content: files are served as they are when they use CRLF line ends (what
SMTP and APPEND store), so what was written is read back byte for byte.  A
file with bare LF line ends (dropped in by another tool) is converted to
CRLF in memory, up to ``MAX_CONVERT`` bytes, so that sizes and literals
agree.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Final

__all__ = [
    "DELIMITER",
    "UIDLIST_NAME",
    "AppendSpool",
    "Folder",
    "FolderSnapshot",
    "ImapStore",
    "MailboxError",
    "MessageContent",
    "MessageFacts",
    "MessageRecord",
]

DELIMITER: Final = "."
UIDLIST_NAME: Final = "protoshell-uidlist"
SUBSCRIPTIONS_NAME: Final = "protoshell-subscriptions"
_LOCK_NAME: Final = "protoshell-uidlist.lock"
_UIDLIST_MAGIC: Final = "protoshell-uidlist"
CHUNK: Final = 256 << 10
#: A file with bare LF line ends up to this size is served converted to CRLF.
MAX_CONVERT: Final = 32 << 20
#: Header bytes kept for ENVELOPE, HEADER.FIELDS and SEARCH.
MAX_HEADER: Final = 1 << 20

# Maildir flag letters (https://cr.yp.to/proto/maildir.html) <-> IMAP flags.
_LETTER_TO_FLAG: Final = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_FLAG_TO_LETTER: Final = {v: k for k, v in _LETTER_TO_FLAG.items()}
_INFO: Final = ":2,"


class MailboxError(Exception):
    """A mailbox operation the client asked for cannot be done.

    ``code`` is the RFC 5530 / RFC 3501 response code (NONEXISTENT,
    ALREADYEXISTS, TRYCREATE, CANNOT...) and the message says why.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message as a scan found it.

    ``flags`` are IMAP system flags (\\Recent is the session's business);
    ``extra`` the Maildir letters IMAP does not map, kept on renames.
    """

    uid: int
    key: str
    path: Path
    flags: frozenset[str]
    in_new: bool
    extra: str = ""


@dataclass(frozen=True, slots=True)
class FolderSnapshot:
    uidvalidity: int
    uidnext: int
    messages: tuple[MessageRecord, ...]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What never changes about a message file (Maildir files are not
    rewritten): sizes, where the header ends, whether it needs LF->CRLF."""

    size: int  # octets as served (CRLF)
    header_len: int  # octets of the header with its blank line, as served
    convert: bool  # bare LF line ends: served converted
    mtime: float  # the internal date (RFC 3501 2.3.3)


def _split_name(name: str) -> tuple[str, str]:
    """``key:2,FS`` -> (``key``, ``FS``); a name without info -> (name, "")."""
    key, sep, info = name.partition(":")
    if sep and info.startswith("2,"):
        return key, info[2:]
    return key, ""


def _flags_of(letters: str) -> tuple[frozenset[str], str]:
    flags = {_LETTER_TO_FLAG[c] for c in letters if c in _LETTER_TO_FLAG}
    extra = "".join(c for c in letters if c not in _LETTER_TO_FLAG)
    return frozenset(flags), extra


def _letters(flags: Iterable[str], extra: str) -> str:
    """Maildir info letters in ASCII order, as the spec asks."""
    letters = {_FLAG_TO_LETTER[f] for f in flags if f in _FLAG_TO_LETTER} | set(extra)
    return "".join(sorted(letters))


_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _unique_name() -> str:
    """A Maildir unique name: time, microseconds, pid, counter, host."""
    now = time.time()
    with _counter_lock:
        n = next(_counter)
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return f"{int(now)}.M{int((now % 1) * 1e6)}P{os.getpid()}Q{n}I.{host}"


# ---------------------------------------------------------------------------
# The store: the folder tree
# ---------------------------------------------------------------------------

_BAD_NAME_CHARS: Final = re.compile(r"[\x00-\x1f\x7f/\\]")


class ImapStore:
    """The mailboxes of one Maildir root.  Share one per server process; it
    caches what never changes (message sizes) and is safe across threads."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(root)
        if create:
            for sub in ("", "cur", "new", "tmp"):
                (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._facts: dict[tuple[str, int], MessageFacts] = {}  # (key, inode) -> facts
        self._folders: dict[str, Folder] = {}
        self._last_validity = 0

    # -- names ------------------------------------------------------------------
    def path_of(self, name: str) -> Path:
        """The directory of mailbox ``name``; MailboxError for names that
        cannot be folders (``..``, ``/``, empty parts)."""
        if name == "INBOX":
            return self.root
        if not name or len(name) > 200 or _BAD_NAME_CHARS.search(name):
            raise MailboxError("CANNOT", f"invalid mailbox name {name!r}")
        parts = name.split(DELIMITER)
        if any(not p for p in parts):
            raise MailboxError("CANNOT", f"invalid mailbox name {name!r} (empty part)")
        if parts[0].upper() == "INBOX" and parts[0] != "INBOX":
            parts[0] = "INBOX"
        return self.root / ("." + DELIMITER.join(parts))

    def _name_of_dir(self, dirname: str) -> str:
        return dirname[1:]

    def mailboxes(self) -> list[str]:
        """Every existing mailbox, INBOX first, then by name."""
        names = []
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.root):
                n = entry.name
                if (
                    n.startswith(".")
                    and n not in (".", "..")
                    and entry.is_dir(follow_symlinks=False)
                    and (Path(entry.path) / "cur").is_dir()
                ):
                    names.append(self._name_of_dir(n))
        return ["INBOX", *sorted(names)]

    def exists(self, name: str) -> bool:
        try:
            path = self.path_of(name)
        except MailboxError:
            return False
        return (path / "cur").is_dir() and (path / "new").is_dir()

    def folder(self, name: str) -> Folder:
        """The mailbox ``name``; MailboxError NONEXISTENT when it is missing."""
        if not self.exists(name):
            raise MailboxError("NONEXISTENT", f"mailbox {name} does not exist")
        path = self.path_of(name)
        with self._lock:
            folder = self._folders.get(name)
            if folder is None or folder.path != path:
                folder = self._folders[name] = Folder(self, name, path)
        return folder

    # -- mailbox operations (RFC 3501 6.3.3-6.3.7) ----------------------------
    def create(self, name: str) -> None:
        name = name.rstrip(DELIMITER) if name != DELIMITER else name
        if name == "INBOX" or self.exists(name):
            raise MailboxError("ALREADYEXISTS", f"mailbox {name} already exists")
        path = self.path_of(name)
        parts = name.split(DELIMITER)
        # RFC 3501 6.3.3: create the superior names the hierarchy needs.
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent != "INBOX" and not self.exists(parent):
                self._make_folder(self.path_of(parent))
        self._make_folder(path)

    def _make_folder(self, path: Path) -> None:
        for sub in ("", "cur", "new", "tmp"):
            (path / sub).mkdir(mode=0o700, exist_ok=True)
        (path / "maildirfolder").touch()  # Maildir++ marks subfolders so

    def delete(self, name: str) -> None:
        if name == "INBOX":
            raise MailboxError("CANNOT", "INBOX cannot be deleted")
        if not self.exists(name):
            raise MailboxError("NONEXISTENT", f"mailbox {name} does not exist")
        path = self.path_of(name)
        # Rename first so that readers never see a half-deleted folder.
        doomed = self.root / "tmp" / f".deleted-{_unique_name()}"
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        with self._lock:
            self._folders.pop(name, None)
        self.unsubscribe(name, missing_ok=True)

    def rename(self, old: str, new: str) -> None:
        if old == "INBOX":
            raise MailboxError("CANNOT", "renaming INBOX is not supported by this server")
        if not self.exists(old):
            raise MailboxError("NONEXISTENT", f"mailbox {old} does not exist")
        new = new.rstrip(DELIMITER)
        if new == "INBOX" or self.exists(new):
            raise MailboxError("ALREADYEXISTS", f"mailbox {new} already exists")
        if new.startswith(old + DELIMITER):
            raise MailboxError("CANNOT", "a mailbox cannot be moved below itself")
        new_path = self.path_of(new)
        parts = new.split(DELIMITER)
        for i in range(1, len(parts)):
            parent = DELIMITER.join(parts[:i])
            if parent != "INBOX" and not self.exists(parent):
                self._make_folder(self.path_of(parent))
        children = [m for m in self.mailboxes() if m.startswith(old + DELIMITER)]
        os.rename(self.path_of(old), new_path)
        for child in children:  # RFC 3501 6.3.5: inferior names move too
            os.rename(self.path_of(child), self.path_of(new + child[len(old) :]))
        with self._lock:
            self._folders.clear()

    # -- subscriptions (RFC 3501 6.3.6/6.3.7) ----------------------------------
    def subscriptions(self) -> list[str]:
        """Subscribed names; until the first SUBSCRIBE/UNSUBSCRIBE every
        existing mailbox counts as subscribed."""
        path = self.root / SUBSCRIPTIONS_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.mailboxes()
        return [line for line in text.splitlines() if line]

    def subscribe(self, name: str) -> None:
        if not self.exists(name):
            raise MailboxError("NONEXISTENT", f"mailbox {name} does not exist")
        subs = self.subscriptions()
        if name not in subs:
            subs.append(name)
        self._write_subscriptions(subs)

    def unsubscribe(self, name: str, *, missing_ok: bool = False) -> None:
        subs = self.subscriptions()
        if name not in subs:
            if missing_ok:
                return
            raise MailboxError("NONEXISTENT", f"{name} is not subscribed")
        self._write_subscriptions([s for s in subs if s != name])

    def _write_subscriptions(self, names: Sequence[str]) -> None:
        _atomic_write(self.root / SUBSCRIPTIONS_NAME, "".join(f"{n}\n" for n in names))

    # -- shared caches ----------------------------------------------------------
    def _new_validity(self) -> int:
        with self._lock:
            value = max(int(time.time()), self._last_validity + 1)
            self._last_validity = value
            return value

    def facts(self, path: Path, key: str) -> MessageFacts:
        """Sizes of a message file, measured once (OSError if it vanished)."""
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            cache_key = (key, st.st_ino)
            with self._lock:
                cached = self._facts.get(cache_key)
            if cached is not None:
                return cached
            facts = _measure(f, st.st_size, st.st_mtime)
        with self._lock:
            if len(self._facts) > 100_000:
                self._facts.clear()
            self._facts[cache_key] = facts
        return facts


_BARE_LF: Final = re.compile(rb"(?<!\r)\n")


def _measure(f: BinaryIO, size: int, mtime: float) -> MessageFacts:
    """Read a message once: does it use bare LF, where does the header end."""
    header_len: int | None = None
    bare_lf = False
    carry = b""
    offset = 0
    while True:
        chunk = f.read(CHUNK)
        if not chunk:
            break
        window = carry + chunk
        if not bare_lf and _BARE_LF.search(window, 1 if carry else 0):
            bare_lf = True
        if header_len is None:
            if offset == 0 and window.startswith(b"\r\n"):
                header_len = 2
            else:
                idx = window.find(b"\r\n\r\n")
                if idx >= 0:
                    header_len = offset - len(carry) + idx + 4
        offset += len(chunk)
        carry = window[-3:]
        if bare_lf and header_len is not None:
            break
    if bare_lf and size <= MAX_CONVERT:
        f.seek(0)
        data = _to_crlf(f.read())
        return MessageFacts(len(data), _header_end(data), True, mtime)
    return MessageFacts(size, size if header_len is None else header_len, False, mtime)


def _to_crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def _header_end(data: bytes) -> int:
    if data.startswith(b"\r\n"):
        return 2
    idx = data.find(b"\r\n\r\n")
    return len(data) if idx < 0 else idx + 4


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# One folder
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _UidList:
    validity: int
    next_uid: int
    uids: dict[str, int]  # key -> uid
    stamp: tuple[int, int, int] = (0, 0, 0)  # (inode, size, mtime_ns) of the file read


class Folder:
    """One mailbox: scan it (assigning UIDs), change flags, expunge, append,
    copy.  All methods may raise OSError for a folder removed meanwhile."""

    def __init__(self, store: ImapStore, name: str, path: Path) -> None:
        self.store = store
        self.name = name
        self.path = path
        self._uidlist: _UidList | None = None
        self._lock = threading.Lock()

    # -- the UID list ----------------------------------------------------------------
    @property
    def _uidlist_path(self) -> Path:
        return self.path / UIDLIST_NAME

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock, open(self.path / _LOCK_NAME, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _load(self) -> _UidList:
        """The UID list as on disk (cached while the file does not change)."""
        path = self._uidlist_path
        try:
            st = path.stat()
        except FileNotFoundError:
            cached = self._uidlist
            if cached is not None and cached.stamp == (0, 0, 0):
                return cached
            fresh = _UidList(self.store._new_validity(), 1, {})
            self._uidlist = fresh
            return fresh
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._uidlist
        if cached is not None and cached.stamp == stamp:
            return cached
        parsed = _parse_uidlist(path.read_text(encoding="utf-8", errors="replace"))
        if parsed is None:  # unreadable: start again with a new UIDVALIDITY
            parsed = _UidList(self.store._new_validity(), 1, {})
        parsed.stamp = stamp
        self._uidlist = parsed
        return parsed

    def _save(self, uidlist: _UidList) -> None:
        lines = [f"{_UIDLIST_MAGIC} 1 {uidlist.validity} {uidlist.next_uid}\n"]
        lines.extend(
            f"{uid} {key}\n" for key, uid in sorted(uidlist.uids.items(), key=lambda kv: kv[1])
        )
        _atomic_write(self._uidlist_path, "".join(lines))
        st = self._uidlist_path.stat()
        uidlist.stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        self._uidlist = uidlist

    # -- scanning ------------------------------------------------------------------
    def _list(self) -> dict[str, tuple[str, str]]:
        """key -> (subdir, file name).  new/ is listed before cur/: messages
        only move new -> cur, so a move between the two listings is seen
        twice rather than missed."""
        found: dict[str, tuple[str, str]] = {}
        for sub in ("new", "cur"):
            try:
                entries = os.listdir(self.path / sub)
            except FileNotFoundError:
                if sub == "cur" and not self.path.is_dir():
                    raise MailboxError("NONEXISTENT", f"mailbox {self.name} was deleted") from None
                continue
            for name in entries:
                if name.startswith("."):
                    continue  # the Maildir spec: not a message
                key, _ = _split_name(name)
                if sub == "cur" or key not in found:
                    found[key] = (sub, name)
        return found

    def scan(self) -> FolderSnapshot:
        """Every message, by UID; new files get the next UIDs, in delivery
        order.  MailboxError when the folder itself is gone."""
        found = self._list()
        uidlist = self._load()
        if any(key not in found for key in uidlist.uids):
            # A file can be missed by a listing that raced a rename; look
            # again before taking it as expunged.
            for key, where in self._list().items():
                found.setdefault(key, where)
        if any(key not in uidlist.uids for key in found) or len(uidlist.uids) > len(found):
            with self._locked():
                uidlist = self._load()  # another process may have assigned some
                unknown = [k for k in found if k not in uidlist.uids]
                unknown.sort(key=lambda k: (self._mtime(found[k]), k))
                uids = {k: u for k, u in uidlist.uids.items() if k in found}
                next_uid = uidlist.next_uid
                for key in unknown:
                    uids[key] = next_uid
                    next_uid += 1
                if unknown or len(uids) != len(uidlist.uids):
                    uidlist = _UidList(uidlist.validity, next_uid, uids)
                    self._save(uidlist)
        records = []
        for key, (sub, name) in found.items():
            uid = uidlist.uids.get(key)
            if uid is None:
                continue
            _, letters = _split_name(name)
            flags, extra = _flags_of(letters)
            records.append(
                MessageRecord(uid, key, self.path / sub / name, flags, sub == "new", extra)
            )
        records.sort(key=lambda r: r.uid)
        return FolderSnapshot(uidlist.validity, uidlist.next_uid, tuple(records))

    def _mtime(self, where: tuple[str, str]) -> float:
        try:
            return (self.path / where[0] / where[1]).stat().st_mtime
        except OSError:
            return 0.0

    def _locate(self, key: str) -> tuple[str, str] | None:
        return self._list().get(key)

    # -- changing messages -----------------------------------------------------------
    def set_flags(self, rec: MessageRecord, flags: Iterable[str]) -> MessageRecord | None:
        """Rename the file so its info carries ``flags`` (and move it to
        cur/); the new record, or None when the message is gone."""
        flags = frozenset(flags)
        name = f"{rec.key}{_INFO}{_letters(flags, rec.extra)}"
        target = self.path / "cur" / name
        path = rec.path
        for _ in range(3):
            if path == target:
                return replace(rec, flags=flags, in_new=False)
            try:
                os.rename(path, target)
            except FileNotFoundError:
                where = self._locate(rec.key)  # renamed by another session
                if where is None:
                    return None
                path = self.path / where[0] / where[1]
                extra = _flags_of(_split_name(where[1])[1])[1]
                if extra != rec.extra:
                    rec = replace(rec, extra=extra)
                    target = self.path / "cur" / f"{rec.key}{_INFO}{_letters(flags, extra)}"
                continue
            return replace(rec, path=target, flags=flags, in_new=False)
        return None

    def move_to_cur(self, rec: MessageRecord) -> MessageRecord | None:
        """A message seen by a session leaves new/ (RFC 3501 2.3.2 \\Recent)."""
        if not rec.in_new:
            return rec
        return self.set_flags(rec, rec.flags)

    def expunge(self, rec: MessageRecord) -> bool:
        """Remove the message file; True when it is gone."""
        path = rec.path
        for _ in range(3):
            try:
                path.unlink()
                return True
            except FileNotFoundError:
                where = self._locate(rec.key)
                if where is None:
                    return True
                path = self.path / where[0] / where[1]
        return False

    # -- reading ------------------------------------------------------------------
    def open(self, rec: MessageRecord) -> tuple[BinaryIO, Path]:
        """The message file, wherever a rename moved it; OSError if gone."""
        try:
            return open(rec.path, "rb"), rec.path
        except FileNotFoundError:
            where = self._locate(rec.key)
            if where is None:
                raise
            path = self.path / where[0] / where[1]
            return open(path, "rb"), path

    def content(self, rec: MessageRecord) -> MessageContent:
        """The message as served (CRLF), to read ranges from; OSError if gone."""
        f, path = self.open(rec)
        try:
            facts = self.store.facts(path, rec.key)
            if facts.convert:
                data = _to_crlf(f.read())
                f.close()
                return MessageContent(facts, None, data)
            return MessageContent(facts, f, None)
        except BaseException:
            f.close()
            raise

    # -- adding messages ------------------------------------------------------------
    def begin_append(self) -> AppendSpool:
        return AppendSpool(self)

    def _assign(self, keys: Sequence[str]) -> tuple[int, list[int]]:
        """Give UIDs to keys just added (APPEND, COPY): (uidvalidity, uids).
        Messages delivered earlier and not yet numbered are numbered first,
        so UIDs keep following arrival order (RFC 3501 2.3.1.1)."""
        with self._locked():
            found = self._list()
            uidlist = self._load()
            uids = dict(uidlist.uids)
            fresh = set(keys)
            earlier = [k for k in found if k not in uids and k not in fresh]
            earlier.sort(key=lambda k: (self._mtime(found[k]), k))
            next_uid = uidlist.next_uid
            for key in earlier:
                uids[key] = next_uid
                next_uid += 1
            out = []
            for key in keys:
                uids[key] = next_uid
                out.append(next_uid)
                next_uid += 1
            self._save(_UidList(uidlist.validity, next_uid, uids))
            return uidlist.validity, out

    def add_file(self, tmp: Path, key: str, flags: Iterable[str], mtime: float | None) -> Path:
        """Move a complete file from tmp/ into new/ (no flags) or cur/."""
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        flags = frozenset(flags)
        if flags:
            final = self.path / "cur" / f"{key}{_INFO}{_letters(flags, '')}"
        else:
            final = self.path / "new" / key
        os.rename(tmp, final)
        return final

    def copy_from(
        self, source: Folder, records: Sequence[MessageRecord]
    ) -> tuple[int, list[tuple[int, int]]]:
        """COPY (RFC 3501 6.4.7): flags and internal date kept; returns
        (uidvalidity, [(source uid, new uid)]) for COPYUID.  Messages gone
        from the source meanwhile are skipped."""
        added: list[tuple[int, str, Path]] = []
        try:
            for rec in records:
                try:
                    src, _ = source.open(rec)
                except FileNotFoundError:
                    continue
                key = _unique_name()
                tmp = self.path / "tmp" / key
                with src, open(tmp, "xb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                    dst.flush()
                    os.fsync(dst.fileno())
                    mtime = os.fstat(src.fileno()).st_mtime
                added.append((rec.uid, key, tmp))
                os.utime(tmp, (mtime, mtime))
                final = self.path / "cur" / f"{key}{_INFO}{_letters(rec.flags, rec.extra)}"
                os.rename(tmp, final)
                added[-1] = (rec.uid, key, final)
        except BaseException:
            for _, _, path in added:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        validity, uids = self._assign([key for _, key, _ in added])
        return validity, [(src_uid, uid) for (src_uid, _, _), uid in zip(added, uids)]


def _parse_uidlist(text: str) -> _UidList | None:
    lines = text.splitlines()
    if not lines:
        return None
    head = lines[0].split()
    if len(head) != 4 or head[0] != _UIDLIST_MAGIC or head[1] != "1":
        return None
    try:
        validity, next_uid = int(head[2]), int(head[3])
    except ValueError:
        return None
    uids: dict[str, int] = {}
    for line in lines[1:]:
        uid_text, _, key = line.partition(" ")
        if not uid_text.isdigit() or not key:
            continue
        uid = int(uid_text)
        uids[key] = uid
        next_uid = max(next_uid, uid + 1)
    if not 0 < validity <= 0xFFFFFFFF:
        return None
    return _UidList(validity, next_uid, uids)


class MessageContent:
    """A message as served: sizes, the header, and ranges of the octets."""

    def __init__(self, facts: MessageFacts, file: BinaryIO | None, data: bytes | None) -> None:
        self.facts = facts
        self._file = file
        self._data = data
        self._header: bytes | None = None

    @property
    def size(self) -> int:
        return self.facts.size

    @property
    def header_len(self) -> int:
        return self.facts.header_len

    def read(self, offset: int, length: int) -> bytes:
        """``length`` octets from ``offset`` (fewer at the end of the file)."""
        if self._data is not None:
            return self._data[offset : offset + length]
        assert self._file is not None
        self._file.seek(offset)
        return self._file.read(length)

    def header(self) -> bytes:
        """The header with its blank line (at most MAX_HEADER octets)."""
        if self._header is None:
            self._header = self.read(0, min(self.header_len, MAX_HEADER))
        return self._header

    def reopen(self) -> BinaryIO | None:
        """A second handle on the same file (for a span written later), or
        None for converted content."""
        if self._file is None:
            return None
        return os.fdopen(os.dup(self._file.fileno()), "rb")

    def contains(self, needle: bytes, start: int = 0) -> bool:
        """Case-insensitive (ASCII) substring search from ``start``, in chunks."""
        if not needle:
            return True
        lowered = needle.lower()
        keep = len(lowered) - 1
        offset = start
        carry = b""
        while offset < self.size:
            chunk = self.read(offset, CHUNK)
            if not chunk:
                return False
            window = carry + chunk.lower()
            if lowered in window:
                return True
            carry = window[-keep:] if keep else b""
            offset += len(chunk)
        return False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class AppendSpool:
    """APPEND's message on its way in: written to tmp/, moved into the
    mailbox by ``commit`` only once complete; ``abort`` removes it."""

    def __init__(self, folder: Folder) -> None:
        self.folder = folder
        self.key = _unique_name()
        self.tmp = folder.path / "tmp" / self.key
        self._file: BinaryIO | None = open(self.tmp, "xb")  # noqa: SIM115 - commit/abort close it
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("the spool is closed")
        self._file.write(data)
        self.size += len(data)

    def commit(self, flags: Iterable[str], date: float | None) -> tuple[int, int]:
        """Close, fsync and move the message in; returns (uidvalidity, uid)."""
        f = self._file
        if f is None:
            raise ValueError("the spool is closed")
        self._file = None
        try:
            f.flush()
            os.fsync(f.fileno())
        finally:
            f.close()
        try:
            self.folder.add_file(self.tmp, self.key, flags, date)
        except OSError:
            with contextlib.suppress(OSError):
                self.tmp.unlink()
            raise
        validity, uids = self.folder._assign([self.key])
        return validity, uids[0]

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        try:
            self.tmp.unlink()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
