"""One IMAP session: the protocol (``proto/imap_server.py``) and the Maildir
(``imap_store.py``) together, without sockets or an event loop.

The asyncio driver (``imap.py``) only moves bytes and keeps time:

    session = ImapSession(store, user=..., password=..., plaintext_login=True,
                          starttls_available=ssl_context is not None)
    write(session.greeting())
    session.receive_data(data)            # b"" is EOF
    while (out := session.step()) is not None:
        for piece in out:                 # bytes, or a FileSpan to copy from a file
            write(piece)
        if session.tls_pending: ...       # STARTTLS accepted: handshake, then tls_started()
        if session.closed: ...            # close the connection
    session.poll()                        # while idling: new mail as "* n EXISTS"

``step`` handles one event (a command, a literal decision, a chunk of an
APPEND) and returns its output lazily: FETCH yields message by message, so
``FETCH 1:* RFC822`` on a big mailbox never sits in memory, and large
message sections come as ``FileSpan`` objects (an open file, an offset and a
length) that the driver copies in chunks.

Mailbox views (RFC 3501 2.3.1.2, 5.2, 7.4.1): the selected mailbox is a
list of UIDs, numbered 1..n, which changes only when the session tells the
client: after each command the folder is rescanned, new messages are
announced with ``* n EXISTS`` (and ``RECENT``), flags changed by others with
``* n FETCH (FLAGS ...)``, and messages removed by others with ``* n
EXPUNGE``, except during FETCH, STORE and SEARCH, where numbers must not
shift (a vanished message then stays a "ghost" until the next chance).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hmac
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Final, cast

from ...proto.base import NEED_DATA, ConnectionClosed, Payload
from ...proto.imap_args import (
    AppendArgs,
    AuthenticateArgs,
    CopyArgs,
    FetchArgs,
    FetchItem,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    RenameArgs,
    SearchArgs,
    StatusArgs,
    StoreArgs,
)
from ...proto.imap_grammar import SYSTEM_FLAGS
from ...proto.imap_message import (
    envelope,
    header_fields,
    header_values,
    partial_bytes,
    search_matches,
    section_span,
)
from ...proto.imap_response import fetch_response, flag_list, string
from ...proto.imap_server import (
    CommandError,
    ContinuationLine,
    ImapCommand,
    ImapServerConnection,
    ImapServerLimits,
    LiteralRequest,
)
from ...proto.imap_syntax import SequenceSet, format_internaldate
from .imap_store import (
    DELIMITER,
    AppendSpool,
    Folder,
    FolderSnapshot,
    ImapStore,
    MailboxError,
    MessageContent,
    MessageRecord,
)

__all__ = ["FileSpan", "ImapSession", "Output"]

SERVER_NAME: Final = "protoshell"
#: Sections up to this size are read into memory; larger ones become FileSpans.
INLINE_SECTION: Final = 64 << 10
#: Failed logins before the server hangs up.
MAX_LOGIN_FAILURES: Final = 5
_SEARCH_CHARSETS: Final = ("US-ASCII", "UTF-8")


@dataclass(slots=True)
class FileSpan:
    """``size`` octets of an open file from ``offset``: the body of a server
    literal.  The writer copies them and closes the file."""

    file: BinaryIO
    offset: int
    size: int


Output = bytes | FileSpan


@dataclass(slots=True)
class _Selected:
    """The session's view of the selected mailbox."""

    folder: Folder
    read_only: bool
    uidvalidity: int
    uids: list[int] = field(default_factory=list)  # seq - 1 -> uid
    records: dict[int, MessageRecord] = field(default_factory=dict)  # ghosts have none
    flags: dict[int, frozenset[str]] = field(default_factory=dict)  # as last told the client
    recent: set[int] = field(default_factory=set)
    recent_told: int = 0

    def seq_of(self, uid: int) -> int:
        # uids are sorted: binary search
        lo, hi = 0, len(self.uids)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.uids[mid] < uid:
                lo = mid + 1
            else:
                hi = mid
        return lo + 1

    def flags_of(self, uid: int) -> frozenset[str]:
        rec = self.records.get(uid)
        flags = rec.flags if rec is not None else self.flags.get(uid, frozenset())
        return flags | {"\\Recent"} if uid in self.recent else flags


def _flag_text(flags: Iterable[str]) -> bytes:
    order = {f: i for i, f in enumerate(("\\Recent", *SYSTEM_FLAGS))}
    return flag_list(sorted(flags, key=lambda f: (order.get(f, 99), f)))


def _uid_set(uids: Iterable[int]) -> str:
    """Compact UID set for COPYUID: ``1:3,7``."""
    out: list[str] = []
    start = prev = -2
    for u in uids:
        if u == prev + 1:
            prev = u
            continue
        if start >= 0:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = u
    if start >= 0:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)


def _match_pattern(pattern: str) -> re.Pattern[str]:
    """LIST wildcards (RFC 3501 6.3.8): ``*`` anything, ``%`` anything but
    the hierarchy delimiter; INBOX is case-insensitive."""
    parts = []
    for c in pattern:
        if c == "*":
            parts.append(".*")
        elif c == "%":
            parts.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            parts.append(re.escape(c))
    body = "".join(parts)
    if pattern[:5].upper() == "INBOX":
        body = "(?i:INBOX)" + "".join(parts[5:])
    return re.compile(body + r"\Z", re.DOTALL)


class _Subject:
    """A message as SEARCH sees it (proto.imap_message.SearchSubject)."""

    def __init__(self, session: ImapSession, sel: _Selected, seq: int, uid: int) -> None:
        self._session = session
        self._sel = sel
        self.seq = seq
        self.uid = uid
        self.flags = sel.flags_of(uid)
        self._content: MessageContent | None = None
        self._missing = False

    def _open(self) -> MessageContent | None:
        if self._content is None and not self._missing:
            rec = self._sel.records.get(self.uid)
            if rec is None:
                self._missing = True
                return None
            try:
                self._content = self._sel.folder.content(rec)
            except OSError:
                self._missing = True
        return self._content

    @property
    def size(self) -> int:
        content = self._open()
        return content.size if content is not None else 0

    @property
    def internal_date(self) -> _dt.date:
        content = self._open()
        ts = content.facts.mtime if content is not None else 0.0
        return _dt.datetime.fromtimestamp(ts, _dt.UTC).date()

    def header(self, name: str) -> list[bytes]:
        content = self._open()
        return header_values(content.header(), name) if content is not None else []

    def sent_date(self) -> _dt.date | None:
        values = self.header("date")
        if not values:
            return None
        try:
            return parsedate_to_datetime(values[0].decode("ascii", "replace")).date()
        except (TypeError, ValueError, IndexError):
            return None

    def body_contains(self, needle: bytes) -> bool:
        content = self._open()
        return content is not None and content.contains(needle, content.header_len)

    def text_contains(self, needle: bytes) -> bool:
        content = self._open()
        return content is not None and content.contains(needle, 0)

    def close(self) -> None:
        if self._content is not None:
            self._content.close()


class ImapSession:
    """One client connection's IMAP session; see the module docstring."""

    def __init__(
        self,
        store: ImapStore,
        *,
        user: str,
        password: str,
        plaintext_login: bool,
        starttls_available: bool,
        tls_active: bool = False,
        limits: ImapServerLimits | None = None,
    ) -> None:
        self.store = store
        self.conn = ImapServerConnection(limits) if limits is not None else ImapServerConnection()
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")
        self.plaintext_login = plaintext_login
        self.starttls_available = starttls_available
        self._tls = tls_active
        self.selected: _Selected | None = None
        self.spool: AppendSpool | None = None
        self._append_folder: Folder | None = None
        self.closed = False
        self.idling = False
        self._login_failures = 0

    # -- what the driver asks ------------------------------------------------
    @property
    def tls_pending(self) -> bool:
        return self.conn.tls_pending

    @property
    def tls_active(self) -> bool:
        return self._tls or self.conn.tls_active

    @property
    def state(self) -> str:
        return self.conn.state

    def capabilities(self) -> list[str]:
        """What this server implements (RFC 3501 7.2.1), for this state."""
        caps = ["IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE", "UIDPLUS", "UNSELECT", "NAMESPACE"]
        if self.conn.state == "not-authenticated":
            if self.starttls_available and not self.tls_active:
                caps.append("STARTTLS")
            if self._login_allowed():
                caps.append("AUTH=PLAIN")
            else:
                caps.append("LOGINDISABLED")  # RFC 3501 6.2.3
        return caps

    def greeting(self) -> bytes:
        if self._login_allowed() and not self.tls_active:
            how = "plain LOGIN is allowed on loopback without TLS, for teaching"
        elif self._login_allowed():
            how = "log in with LOGIN or AUTHENTICATE PLAIN"
        else:
            how = "use STARTTLS before logging in"
        text = f"{SERVER_NAME} IMAP4rev1 teaching server ready ({how})"
        return self.conn.greeting(text, self.capabilities())

    def receive_data(self, data: bytes) -> None:
        self.conn.receive_data(data)

    def tls_started(self) -> None:
        self.conn.tls_started()

    def step(self) -> Iterator[Output] | None:
        """Handle the next event; its output (possibly empty), or None when
        more bytes are needed (or the session is over)."""
        if self.closed:
            return None
        conn = self.conn
        event = conn.next_event()
        if event is NEED_DATA:
            return None
        if isinstance(event, ImapCommand):
            return self._command(event)
        if isinstance(event, LiteralRequest):
            return iter([self._literal(event)])
        if isinstance(event, Payload):
            if self.spool is not None:
                try:
                    self.spool.write(event.raw)
                except OSError:
                    self._abort_spool()  # the tagged NO comes with the command
            return iter(())
        if isinstance(event, ContinuationLine):
            return iter(self._continuation(event))
        if isinstance(event, CommandError):
            return iter(self._command_error(event))
        if isinstance(event, ConnectionClosed):
            self.close()
            return iter(())
        return iter(())  # pragma: no cover - every event type is handled above

    def poll(self) -> list[bytes]:
        """While idling: what changed in the mailbox (RFC 2177)."""
        if not self.idling or self.closed:
            return []
        return self._updates(allow_expunge=True)

    def autologout(self) -> bytes:
        """The client was silent too long (RFC 3501 5.4)."""
        self.close()
        return self.conn.send_bye("Autologout; idle for too long")

    def shutdown(self) -> bytes:
        self.close()
        return self.conn.send_bye("Server shutting down")

    def close(self) -> None:
        """The connection is over: drop an unfinished APPEND (tmp/ only)."""
        self.closed = True
        self._abort_spool()

    # -- events ------------------------------------------------------------------
    def _command_error(self, error: CommandError) -> list[bytes]:
        self._abort_spool()
        out = [self.conn.send_error(error)]
        if error.fatal:
            out.append(self.conn.send_bye("Too many errors; closing the connection"))
            self.close()
        return out

    def _literal(self, req: LiteralRequest) -> bytes:
        conn = self.conn
        if not req.stream:
            return conn.accept_literal()
        args = req.append
        assert args is not None
        try:
            folder = self.store.folder(args.mailbox)
        except MailboxError as exc:
            code = "TRYCREATE" if exc.code == "NONEXISTENT" else exc.code
            return conn.refuse_literal("NO", str(exc), code)
        keywords = [f for f in args.flags if not f.startswith("\\")]
        if keywords:
            return conn.refuse_literal("NO", _NO_KEYWORDS, "CANNOT")
        try:
            self.spool = folder.begin_append()
        except OSError as exc:
            return conn.refuse_literal("NO", f"cannot store the message: {exc.strerror}")
        self._append_folder = folder
        return conn.accept_literal()

    def _abort_spool(self) -> None:
        spool, self.spool = self.spool, None
        if spool is not None:
            spool.abort()

    def _continuation(self, event: ContinuationLine) -> list[Output]:
        command = self.conn.current
        assert command is not None
        if command.name == "IDLE":
            self.idling = False
            if event.line.strip().upper() == b"DONE":
                return [*self._updates(True), self._ok(command, "IDLE terminated")]
            return [self.conn.send_tagged(command.tag, "BAD", "expected DONE to end IDLE")]
        # AUTHENTICATE PLAIN: the client's response to "+ "
        return self._auth_plain(command, event.line.strip())

    # -- dispatch ------------------------------------------------------------------
    def _command(self, command: ImapCommand) -> Iterator[Output]:
        handler = getattr(self, "_cmd_" + command.name.lower(), None)
        if handler is None:  # pragma: no cover - the proto table and this class agree
            return iter([self.conn.send_tagged(command.tag, "BAD", "not implemented")])
        return self._guarded(command, handler)

    def _guarded(
        self, command: ImapCommand, handler: Callable[[ImapCommand], Iterable[Output]]
    ) -> Iterator[Output]:
        """Run a handler; a store failure costs the command a NO, not the
        connection (unless it happens in the middle of a literal)."""
        try:
            yield from handler(command)
        except MailboxError as exc:
            if self.conn.current is command:
                yield self._no(command, str(exc), exc.code)
        except OSError as exc:
            if self.conn.current is command:
                yield self._no(
                    command, f"the mail store failed: {exc.strerror or exc}", "SERVERBUG"
                )

    def _ok(self, command: ImapCommand, text: str, code: str | None = None) -> bytes:
        return self.conn.send_tagged(command.tag, "OK", text, code)

    def _no(self, command: ImapCommand, text: str, code: str | None = None) -> bytes:
        return self.conn.send_tagged(command.tag, "NO", text, code)

    def _bad(self, command: ImapCommand, text: str, code: str | None = None) -> bytes:
        return self.conn.send_tagged(command.tag, "BAD", text, code)

    def _done(
        self, command: ImapCommand, text: str, *, expunge: bool = True, code: str | None = None
    ) -> list[Output]:
        """Mailbox news (RFC 3501 5.2), then the tagged OK."""
        return [*self._updates(expunge), self._ok(command, text, code)]

    # -- any state (RFC 3501 6.1) ---------------------------------------------
    def _cmd_capability(self, c: ImapCommand) -> list[Output]:
        line = self.conn.send_untagged("CAPABILITY " + " ".join(self.capabilities()))
        return [line, *self._updates(True), self._ok(c, "CAPABILITY completed")]

    def _cmd_noop(self, c: ImapCommand) -> list[Output]:
        return self._done(c, "NOOP completed")

    def _cmd_logout(self, c: ImapCommand) -> list[Output]:
        bye = self.conn.send_bye(f"{SERVER_NAME} IMAP4rev1 server terminating connection")
        ok = self._ok(c, "LOGOUT completed")
        self.close()
        return [bye, ok]

    # -- not authenticated (RFC 3501 6.2) ----------------------------------------
    def _login_allowed(self) -> bool:
        return self.plaintext_login or self.tls_active

    def _cmd_starttls(self, c: ImapCommand) -> list[Output]:
        if self.tls_active:
            return [self._bad(c, "TLS is already active")]
        if not self.starttls_available:
            return [self._bad(c, "STARTTLS is not available on this server (no certificate)")]
        return [self._ok(c, "Begin TLS negotiation now")]

    def _check_login(self, c: ImapCommand, user: bytes, password: bytes) -> list[Output]:
        ok = hmac.compare_digest(user, self._user) & hmac.compare_digest(password, self._password)
        if ok:
            self._login_failures = 0
            return [self._ok(c, "Logged in", "CAPABILITY " + " ".join(self._auth_caps()))]
        self._login_failures += 1
        out: list[Output] = [self._no(c, "Authentication failed.", "AUTHENTICATIONFAILED")]
        if self._login_failures >= MAX_LOGIN_FAILURES:
            out.append(self.conn.send_bye("Too many failed logins"))
            self.close()
        return out

    def _auth_caps(self) -> list[str]:
        return ["IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE", "UIDPLUS", "UNSELECT", "NAMESPACE"]

    def _cmd_login(self, c: ImapCommand) -> list[Output]:
        if not self._login_allowed():
            return [
                self._no(c, "plain-text login needs TLS here: STARTTLS first", "PRIVACYREQUIRED")
            ]
        args = c.args
        assert isinstance(args, LoginArgs)
        return self._check_login(c, args.user, args.password)

    def _cmd_authenticate(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, AuthenticateArgs)
        if args.mechanism != "PLAIN":
            return [
                self._no(
                    c, f"unsupported mechanism {args.mechanism}; this server has PLAIN", "CANNOT"
                )
            ]
        if not self._login_allowed():
            return [
                self._no(c, "plain-text login needs TLS here: STARTTLS first", "PRIVACYREQUIRED")
            ]
        if args.initial is not None:  # RFC 4959 SASL-IR
            return self._auth_plain(c, b"" if args.initial == b"=" else args.initial)
        return [self.conn.send_continuation("")]

    def _auth_plain(self, c: ImapCommand, response: bytes) -> list[Output]:
        """RFC 4616: base64 of authzid NUL authcid NUL password."""
        if response == b"*":  # RFC 3501 6.2.2: the client cancels
            return [self._bad(c, "AUTHENTICATE cancelled")]
        try:
            decoded = base64.b64decode(response, validate=True)
        except (binascii.Error, ValueError):
            return [self._bad(c, "the SASL response is not valid base64")]
        parts = decoded.split(b"\0")
        if len(parts) != 3:
            return [self._bad(c, "PLAIN needs authzid NUL user NUL password")]
        authz, user, password = parts
        if authz and authz != user:
            return [self._no(c, "cannot act as another user", "AUTHORIZATIONFAILED")]
        return self._check_login(c, user, password)

    # -- authenticated (RFC 3501 6.3) ---------------------------------------------
    def _cmd_select(self, c: ImapCommand) -> list[Output]:
        return self._select(c, read_only=False)

    def _cmd_examine(self, c: ImapCommand) -> list[Output]:
        return self._select(c, read_only=True)

    def _select(self, c: ImapCommand, read_only: bool) -> list[Output]:
        args = c.args
        assert isinstance(args, MailboxArgs)
        self.selected = None  # RFC 3501 6.3.1: the current mailbox is closed first
        try:
            folder = self.store.folder(args.mailbox)
            snap = folder.scan()
        except MailboxError as exc:
            return [self._no(c, str(exc), exc.code)]
        sel = _Selected(folder, read_only, snap.uidvalidity)
        self._absorb(sel, snap)
        self.selected = sel
        unseen = next(
            (i for i, u in enumerate(sel.uids, 1) if "\\Seen" not in sel.flags_of(u)), None
        )
        send = self.conn.send_untagged
        ok = self.conn.send_ok
        flags = _flag_text(SYSTEM_FLAGS)
        out: list[Output] = [
            send(b"FLAGS " + flags),
            ok("Flags permitted.", "PERMANENTFLAGS " + (flags.decode() if not read_only else "()")),
            send(f"{len(sel.uids)} EXISTS"),
            send(f"{len(sel.recent)} RECENT"),
        ]
        sel.recent_told = len(sel.recent)
        if unseen is not None:
            out.append(ok("First unseen.", f"UNSEEN {unseen}"))
        out.append(ok("UIDs valid", f"UIDVALIDITY {snap.uidvalidity}"))
        out.append(ok("Predicted next UID", f"UIDNEXT {snap.uidnext}"))
        code = "READ-ONLY" if read_only else "READ-WRITE"
        out.append(self._ok(c, f"{'EXAMINE' if read_only else 'SELECT'} completed", code))
        return out

    def _absorb(self, sel: _Selected, snap: FolderSnapshot) -> list[int]:
        """Add the snapshot's messages that are newer than the view; a
        read-write session moves new/ messages to cur/ and keeps them as
        \\Recent.  Returns the UIDs added."""
        last = sel.uids[-1] if sel.uids else 0
        added = []
        for rec in snap.messages:
            if rec.uid <= last:
                continue
            if rec.in_new:
                sel.recent.add(rec.uid)
                if not sel.read_only:
                    rec = sel.folder.move_to_cur(rec) or rec
            sel.uids.append(rec.uid)
            sel.records[rec.uid] = rec
            sel.flags[rec.uid] = rec.flags
            added.append(rec.uid)
        return added

    def _updates(self, allow_expunge: bool) -> list[bytes]:
        """Rescan the selected mailbox and tell what changed (RFC 3501 5.2)."""
        sel = self.selected
        if sel is None:
            return []
        try:
            snap = sel.folder.scan()
        except MailboxError:
            snap = FolderSnapshot(sel.uidvalidity, 0, ())
        except OSError:
            return []
        if snap.uidvalidity != sel.uidvalidity:
            # RFC 3501 2.3.1.1: UIDs are no longer valid; the client must start over.
            self.close()
            return [self.conn.send_bye("The mailbox's UIDVALIDITY changed; please reconnect")]
        out: list[bytes] = []
        current = {rec.uid: rec for rec in snap.messages}
        if allow_expunge:
            kept: list[int] = []
            for uid in sel.uids:
                if uid in current:
                    kept.append(uid)
                    continue
                out.append(self.conn.send_untagged(f"{len(kept) + 1} EXPUNGE"))
                sel.records.pop(uid, None)
                sel.flags.pop(uid, None)
                sel.recent.discard(uid)
            sel.uids = kept
        for seq, uid in enumerate(sel.uids, 1):
            rec = current.get(uid)
            if rec is None:
                sel.records.pop(uid, None)  # a ghost until EXPUNGE may be told
                continue
            sel.records[uid] = rec
            if rec.flags != sel.flags.get(uid):
                sel.flags[uid] = rec.flags
                out.append(
                    self.conn.send_untagged(
                        b"%d FETCH (FLAGS %s)" % (seq, _flag_text(sel.flags_of(uid)))
                    )
                )
        if self._absorb(sel, snap):
            out.append(self.conn.send_untagged(f"{len(sel.uids)} EXISTS"))
        if len(sel.recent) != sel.recent_told:
            sel.recent_told = len(sel.recent)
            out.append(self.conn.send_untagged(f"{len(sel.recent)} RECENT"))
        return out

    def _cmd_create(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, MailboxArgs)
        self.store.create(args.mailbox)
        return self._done(c, "CREATE completed")

    def _cmd_delete(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, MailboxArgs)
        if self.selected is not None and self.selected.folder.name == args.mailbox:
            return [self._no(c, "the mailbox is selected; CLOSE it first", "INUSE")]
        self.store.delete(args.mailbox)
        return self._done(c, "DELETE completed")

    def _cmd_rename(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, RenameArgs)
        if self.selected is not None and self.selected.folder.name == args.old:
            return [self._no(c, "the mailbox is selected; CLOSE it first", "INUSE")]
        self.store.rename(args.old, args.new)
        return self._done(c, "RENAME completed")

    def _cmd_subscribe(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, MailboxArgs)
        self.store.subscribe(args.mailbox)
        return self._done(c, "SUBSCRIBE completed")

    def _cmd_unsubscribe(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, MailboxArgs)
        self.store.unsubscribe(args.mailbox)
        return self._done(c, "UNSUBSCRIBE completed")

    def _cmd_list(self, c: ImapCommand) -> list[Output]:
        return self._list(c, "LIST", self.store.mailboxes())

    def _cmd_lsub(self, c: ImapCommand) -> list[Output]:
        return self._list(c, "LSUB", self.store.subscriptions())

    def _list(self, c: ImapCommand, word: str, names: list[str]) -> list[Output]:
        args = c.args
        assert isinstance(args, ListArgs)
        delim = string(DELIMITER.encode())
        if not args.pattern:  # RFC 3501 6.3.8: the delimiter and root
            line = f"{word} (\\Noselect) ".encode() + delim + b' ""'
            return [
                self.conn.send_untagged(line),
                *self._updates(True),
                self._ok(c, f"{word} completed"),
            ]
        pattern = args.reference + args.pattern
        existing = set(self.store.mailboxes())
        listed = set(names)
        if word == "LIST":
            # Parents that only exist through their children (Maildir++
            # ".A.B" without ".A") are listed as \Noselect.
            for name in list(listed):
                parts = name.split(DELIMITER)
                for i in range(1, len(parts)):
                    listed.add(DELIMITER.join(parts[:i]))
        regex = _match_pattern(pattern)
        out: list[Output] = []
        for name in sorted(listed, key=lambda n: (n != "INBOX", n)):
            if not regex.match(name):
                continue
            attrs = []
            if name not in existing:
                attrs.append("\\Noselect")
            has_children = any(o.startswith(name + DELIMITER) for o in existing)
            attrs.append("\\HasChildren" if has_children else "\\HasNoChildren")
            line = f"{word} ({' '.join(attrs)}) ".encode() + delim + b" " + string(name.encode())
            out.append(self.conn.send_untagged(line))
        return [*out, *self._updates(True), self._ok(c, f"{word} completed")]

    def _cmd_namespace(self, c: ImapCommand) -> list[Output]:
        line = self.conn.send_untagged(b'NAMESPACE (("" "' + DELIMITER.encode() + b'")) NIL NIL')
        return [line, *self._updates(True), self._ok(c, "NAMESPACE completed")]

    def _cmd_status(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, StatusArgs)
        snap = self.store.folder(args.mailbox).scan()
        values = {
            "MESSAGES": len(snap.messages),
            "RECENT": sum(1 for r in snap.messages if r.in_new),
            "UIDNEXT": snap.uidnext,
            "UIDVALIDITY": snap.uidvalidity,
            "UNSEEN": sum(1 for r in snap.messages if "\\Seen" not in r.flags),
        }
        sel = self.selected
        if sel is not None and sel.folder.name == args.mailbox:
            values["RECENT"] = len(sel.recent)
        items = " ".join(f"{item} {values[item]}" for item in args.items)
        line = b"STATUS " + string(args.mailbox.encode()) + f" ({items})".encode()
        return [
            self.conn.send_untagged(line),
            *self._updates(True),
            self._ok(c, "STATUS completed"),
        ]

    def _cmd_append(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, AppendArgs)
        spool, self.spool = self.spool, None
        if spool is None:  # the write failed, or the literal was inline
            return [self._no(c, "the message could not be stored")]
        if spool.size != args.size:
            spool.abort()
            return [self._no(c, "the message could not be stored completely")]
        try:
            validity, uid = spool.commit(args.flags, args.date)
        except OSError as exc:
            return [self._no(c, f"the message could not be stored: {exc.strerror}", "SERVERBUG")]
        return self._done(c, "APPEND completed", code=f"APPENDUID {validity} {uid}")

    def _cmd_idle(self, c: ImapCommand) -> list[Output]:
        self.idling = True
        return [self.conn.send_continuation("idling"), *self._updates(True)]

    # -- selected (RFC 3501 6.4) -------------------------------------------------
    def _sel(self) -> _Selected:
        assert self.selected is not None
        return self.selected

    def _cmd_check(self, c: ImapCommand) -> list[Output]:
        return self._done(c, "CHECK completed")

    def _cmd_close(self, c: ImapCommand) -> list[Output]:
        sel = self._sel()
        if not sel.read_only:
            self._expunge(sel, None, tell=False)  # RFC 3501 6.4.2: silently
        self.selected = None
        return [self._ok(c, "CLOSE completed")]

    def _cmd_unselect(self, c: ImapCommand) -> list[Output]:
        self.selected = None
        return [self._ok(c, "UNSELECT completed")]

    def _cmd_expunge(self, c: ImapCommand) -> list[Output]:
        sel = self._sel()
        if sel.read_only:
            return [self._no(c, "the mailbox is read-only (EXAMINE)", "READ-ONLY")]
        uids: set[int] | None = None
        if c.uid:  # RFC 4315 2.1 UID EXPUNGE
            assert isinstance(c.args, SequenceSet)
            uids = set(self._uids(sel, c.args))
        out = self._expunge(sel, uids, tell=True)
        return [*out, *self._done(c, "EXPUNGE completed")]

    def _expunge(self, sel: _Selected, only: set[int] | None, *, tell: bool) -> list[Output]:
        out: list[Output] = []
        kept: list[int] = []
        for uid in sel.uids:
            rec = sel.records.get(uid)
            doomed = rec is not None and "\\Deleted" in rec.flags and (only is None or uid in only)
            if doomed and rec is not None and sel.folder.expunge(rec):
                if tell:
                    out.append(self.conn.send_untagged(f"{len(kept) + 1} EXPUNGE"))
                sel.records.pop(uid, None)
                sel.flags.pop(uid, None)
                sel.recent.discard(uid)
                continue
            kept.append(uid)
        sel.uids = kept
        return out

    def _uids(self, sel: _Selected, seqset: SequenceSet) -> list[int]:
        star = sel.uids[-1] if sel.uids else 0
        return seqset.select(sel.uids, star)

    def _targets(self, c: ImapCommand, seqset: SequenceSet) -> list[tuple[int, int]] | bytes:
        """(seq, uid) pairs a command addresses, or the BAD line for message
        numbers that do not exist (RFC 9051 6.4.5: including * when empty)."""
        sel = self._sel()
        if c.uid:
            uids = self._uids(sel, seqset)
            return [(sel.seq_of(u), u) for u in uids]
        n = len(sel.uids)
        if seqset.max_number() > n or (seqset.uses_star and n == 0):
            return self._bad(
                c,
                f"invalid message number in {seqset.text} "
                f"(the mailbox has {n} message{'s' if n != 1 else ''})",
            )
        seqs = seqset.select(range(1, n + 1), n)
        return [(s, sel.uids[s - 1]) for s in seqs]

    def _cmd_search(self, c: ImapCommand) -> Iterator[Output]:
        args = c.args
        assert isinstance(args, SearchArgs)
        if args.charset is not None and args.charset not in _SEARCH_CHARSETS:
            yield self._no(
                c,
                f"unsupported charset {args.charset}",
                "BADCHARSET (" + " ".join(_SEARCH_CHARSETS) + ")",
            )
            return
        sel = self._sel()
        star_uid = sel.uids[-1] if sel.uids else 0
        hits: list[int] = []
        for seq, uid in enumerate(list(sel.uids), 1):
            subject = _Subject(self, sel, seq, uid)
            try:
                if search_matches(args.key, subject, len(sel.uids), star_uid):
                    hits.append(uid if c.uid else seq)
            finally:
                subject.close()
        yield self.conn.send_untagged(" ".join(["SEARCH", *map(str, hits)]))
        yield from self._done(c, "SEARCH completed", expunge=c.uid)

    def _cmd_fetch(self, c: ImapCommand) -> Iterator[Output]:
        args = c.args
        assert isinstance(args, FetchArgs)
        targets = self._targets(c, args.seqset)
        if isinstance(targets, bytes):
            yield targets
            return
        sel = self._sel()
        items = list(args.items)
        if c.uid and not any(i.name == "UID" for i in items):
            items.insert(0, FetchItem("UID"))  # RFC 3501 6.4.8
        sets_seen = not sel.read_only and any(i.sets_seen for i in items)
        wants_flags = any(i.name == "FLAGS" for i in items)
        needs_content = any(i.name not in ("UID", "FLAGS") for i in items)
        missing = 0
        for seq, uid in targets:
            rec = sel.records.get(uid)
            if rec is None:
                missing += 1
                continue
            seen_now = False
            if sets_seen and "\\Seen" not in rec.flags:
                new = sel.folder.set_flags(rec, rec.flags | {"\\Seen"})
                if new is not None:
                    sel.records[uid] = rec = new
                    sel.flags[uid] = new.flags
                    seen_now = True
            content: MessageContent | None = None
            if needs_content:
                try:
                    content = sel.folder.content(rec)
                except OSError:
                    missing += 1
                    continue
            # RFC 3501 6.4.5: a \Seen set by this FETCH is reported in its
            # response; like Dovecot, FLAGS comes first, so one transcript
            # replays against both servers.
            shown = [FetchItem("FLAGS"), *items] if seen_now and not wants_flags else items
            try:
                values = [(i.response_name, self._fetch_value(i, uid, content)) for i in shown]
            finally:
                if content is not None:
                    content.close()
            yield from cast(list[Output], fetch_response(seq, values))
        if missing:
            yield from self._updates(c.uid)
            yield self._no(c, "some messages were expunged meanwhile", "EXPUNGEISSUED")
            return
        yield from self._done(c, "FETCH completed", expunge=c.uid)

    def _fetch_value(
        self, item: FetchItem, uid: int, content: MessageContent | None
    ) -> bytes | FileSpan:
        sel = self._sel()
        name = item.name
        if name == "UID":
            return b"%d" % uid
        if name == "FLAGS":
            return _flag_text(sel.flags_of(uid))
        assert content is not None
        if name == "INTERNALDATE":
            return format_internaldate(content.facts.mtime)
        if name == "RFC822.SIZE":
            return b"%d" % content.size
        if name == "ENVELOPE":
            return envelope(content.header())
        if item.fields:
            data = header_fields(content.header(), item.fields, item.section.endswith(".NOT"))
            data = partial_bytes(item, data)
            return b"{%d}\r\n" % len(data) + data
        offset, length = section_span(item, content.size, content.header_len)
        if length > INLINE_SECTION:
            handle = content.reopen()
            if handle is not None:
                return FileSpan(handle, offset, length)
        data = content.read(offset, length)
        return b"{%d}\r\n" % len(data) + data

    def _cmd_store(self, c: ImapCommand) -> Iterator[Output]:
        args = c.args
        assert isinstance(args, StoreArgs)
        sel = self._sel()
        if sel.read_only:
            yield self._no(c, "the mailbox is read-only (EXAMINE)", "READ-ONLY")
            return
        if any(not f.startswith("\\") for f in args.flags):
            yield self._no(c, _NO_KEYWORDS, "CANNOT")
            return
        targets = self._targets(c, args.seqset)
        if isinstance(targets, bytes):
            yield targets
            return
        change = frozenset(args.flags)
        missing = 0
        for seq, uid in targets:
            rec = sel.records.get(uid)
            if rec is None:
                missing += 1
                continue
            if args.mode == "set":
                flags = change
            elif args.mode == "add":
                flags = rec.flags | change
            else:
                flags = rec.flags - change
            if flags != rec.flags:
                new = sel.folder.set_flags(rec, flags)
                if new is None:
                    missing += 1
                    continue
                sel.records[uid] = new
            sel.flags[uid] = flags
            if not args.silent:
                uid_part = b"UID %d " % uid if c.uid else b""
                yield self.conn.send_untagged(
                    b"%d FETCH (%sFLAGS %s)" % (seq, uid_part, _flag_text(sel.flags_of(uid)))
                )
        if missing:
            yield from self._updates(c.uid)
            yield self._no(c, "some messages were expunged meanwhile", "EXPUNGEISSUED")
            return
        yield from self._done(c, "STORE completed", expunge=c.uid)

    def _cmd_copy(self, c: ImapCommand) -> list[Output]:
        args = c.args
        assert isinstance(args, CopyArgs)
        sel = self._sel()
        targets = self._targets(c, args.seqset)
        if isinstance(targets, bytes):
            return [targets]
        try:
            dest = self.store.folder(args.mailbox)
        except MailboxError as exc:
            why = "TRYCREATE" if exc.code == "NONEXISTENT" else exc.code
            return [self._no(c, str(exc), why)]
        records = [sel.records[u] for _, u in targets if u in sel.records]
        if not records:
            return self._done(c, "COPY completed (nothing to copy)")
        validity, pairs = dest.copy_from(sel.folder, records)
        code: str | None = None
        if pairs:
            code = (
                f"COPYUID {validity} {_uid_set(p[0] for p in pairs)} "
                f"{_uid_set(p[1] for p in pairs)}"
            )
        return self._done(c, "COPY completed", code=code)


_NO_KEYWORDS: Final = (
    "keywords are not supported by this server; only \\Seen \\Answered \\Flagged \\Deleted \\Draft"
)
