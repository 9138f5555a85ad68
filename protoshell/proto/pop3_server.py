"""POP3, server role: a sans-IO state machine (bytes in, actions out).

RFC 1939 (POP3), RFC 2449 (CAPA, response codes, pipelining), RFC 2595
section 4 (STLS).  APOP and SASL AUTH are not offered (the teaching server
logs in with USER and PASS) and are refused with a reason.

The machine never touches a socket, a file or a clock.  The driver
(``protoshell/server/mail/pop3.py``) feeds it what the client sent and asks
what to do next::

    server.receive_data(data)          # b"" is EOF
    action = server.next_action()      # an action below, or NEED_DATA

Actions, all frozen dataclasses:

``Send(data)``
    Write these bytes.
``OpenMaildrop(user)``
    PASS was right: lock and list the user's maildrop, then answer with
    ``maildrop_opened(messages)`` or ``maildrop_failed(reason)`` before
    asking for the next action.  (RFC 1939 4: the server acquires an
    exclusive-access lock on the maildrop here.)
``SendMessage(number, key, top, status, error)``
    RETR or TOP: open message ``key``; if that works write ``status``, the
    message through a ``MessageEncoder(top)`` (CRLF line ends, dot-stuffing,
    the ``.`` line), else write ``error``.  The machine cannot know whether a
    file is still there, so both answers are ready-made.
``StartTls()``
    The ``+OK`` to STLS has been sent: do the TLS handshake as the server,
    then call ``tls_started()``; close on failure.  Whatever the client sent
    after STLS and before the handshake has been thrown away (RFC 2595 4, the
    same attack RFC 3207 4.2 describes for SMTP).
``Update(user, delete)``
    QUIT in the TRANSACTION state: remove these messages (RFC 1939 6, the
    UPDATE state), then call ``update_done(failed)``.  Deletions happen only
    here: a client that drops the connection without QUIT deletes nothing.
``Close(reason)``
    Close the connection once the writes are done.

Memory is bounded: one command line is buffered at most (``max_line``); a
longer line is skipped up to its LF and answered ``-ERR``.  The driver stops
reading while ``buffered`` is large (a client pipelining without reading).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from .base import NEED_DATA, LineBuffer, RemoteProtocolError, _NeedData

__all__ = [
    "CRLF",
    "DEFAULT_MAX_LINE",
    "MAX_AUTH_FAILURES",
    "RULES",
    "Close",
    "MessageEncoder",
    "OpenMaildrop",
    "Pop3Action",
    "Pop3Message",
    "Pop3Server",
    "Send",
    "SendMessage",
    "StartTls",
    "State",
    "Update",
    "encode_message",
    "unique_id",
    "wire_size",
]

CRLF: Final = b"\r\n"
#: RFC 2449 4 allows 255 octets per command line; we are lenient up to this.
DEFAULT_MAX_LINE: Final = 1024
#: Wrong passwords before the server hangs up (slows down guessing).
MAX_AUTH_FAILURES: Final = 3

State = Literal["authorization", "transaction", "update", "closed"]


# ---------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Bytes to write to the client."""

    data: bytes


@dataclass(frozen=True, slots=True)
class OpenMaildrop:
    """Open (and lock) ``user``'s maildrop; answer with ``maildrop_opened``
    or ``maildrop_failed``."""

    user: str


@dataclass(frozen=True, slots=True)
class SendMessage:
    """RETR/TOP: write ``status`` then the encoded message, or ``error`` if
    message ``key`` cannot be read any more.  ``top`` is TOP's line count
    (None for RETR)."""

    number: int
    key: str
    top: int | None
    status: bytes
    error: bytes


@dataclass(frozen=True, slots=True)
class StartTls:
    """Upgrade the connection to TLS (server side), then ``tls_started()``."""


@dataclass(frozen=True, slots=True)
class Update:
    """RFC 1939 6: remove these messages; then ``update_done(failed)``."""

    user: str
    delete: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection after writing what was sent."""

    reason: str


Pop3Action = Send | OpenMaildrop | SendMessage | StartTls | Update | Close


@dataclass(frozen=True, slots=True)
class Pop3Message:
    """One message of a maildrop as the driver lists it: ``key`` names it for
    the driver, ``size`` is its size in octets as RETR sends it (CRLF line
    ends, before dot-stuffing; see ``wire_size``), ``uid`` its UIDL id
    (``unique_id(key)`` when empty)."""

    key: str
    size: int
    uid: str = ""


# ---------------------------------------------------------------------------
# Commands: which state accepts what (RFC 1939 3-7, RFC 2449 5, RFC 2595 4)
# ---------------------------------------------------------------------------

_AUTH: Final = frozenset({"authorization"})
_TRANS: Final = frozenset({"transaction"})
_BOTH: Final = _AUTH | _TRANS
_REST: Final = -1  # the rest of the line is one argument (PASS: spaces allowed)


@dataclass(frozen=True, slots=True)
class _Rule:
    states: frozenset[str]
    min_args: int
    max_args: int  # _REST: everything after the first space
    rfc: str


#: The command table, as data: a command is handled by the ``_cmd_<NAME>``
#: method only in the states listed here, with this many arguments.
RULES: Final[Mapping[str, _Rule]] = {
    "USER": _Rule(_AUTH, 1, 1, "RFC 1939 7"),
    "PASS": _Rule(_AUTH, 1, _REST, "RFC 1939 7"),
    "STLS": _Rule(_AUTH, 0, 0, "RFC 2595 4"),
    "CAPA": _Rule(_BOTH, 0, 0, "RFC 2449 5"),
    "QUIT": _Rule(_BOTH, 0, 0, "RFC 1939 6"),
    "STAT": _Rule(_TRANS, 0, 0, "RFC 1939 5"),
    "LIST": _Rule(_TRANS, 0, 1, "RFC 1939 5"),
    "RETR": _Rule(_TRANS, 1, 1, "RFC 1939 5"),
    "DELE": _Rule(_TRANS, 1, 1, "RFC 1939 5"),
    "NOOP": _Rule(_TRANS, 0, 0, "RFC 1939 5"),
    "RSET": _Rule(_TRANS, 0, 0, "RFC 1939 5"),
    "TOP": _Rule(_TRANS, 2, 2, "RFC 1939 7"),
    "UIDL": _Rule(_TRANS, 0, 1, "RFC 1939 7"),
}

#: Known commands this server does not offer, with the reason it gives.
UNSUPPORTED: Final[Mapping[str, str]] = {
    "APOP": "APOP is not offered here: log in with USER and PASS",
    "AUTH": "SASL AUTH is not offered here: log in with USER and PASS",
}

_STATE_NAMES: Final = {
    "authorization": "before login (AUTHORIZATION state)",
    "transaction": "after login (TRANSACTION state)",
}

_COMMAND_WORD: Final = re.compile(rb"[A-Za-z]{1,16}")
_NUMBER: Final = re.compile(r"[0-9]{1,9}")
# RFC 1939 7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
_UID_OK: Final = re.compile(r"[\x21-\x7e]{1,70}")


def unique_id(key: str) -> str:
    """The UIDL id of a message named ``key``: the key itself when it fits
    RFC 1939 7 (1-70 printable characters), else a SHA-1 of it (stable, 40
    characters)."""
    if _UID_OK.fullmatch(key):
        return key
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()


def _safe(data: bytes, limit: int = 40) -> str:
    """Client bytes quoted in an -ERR reply: printable ASCII only, short."""
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in data[:limit])
    return text + ("..." if len(data) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------
# Message encoding: CRLF line ends and dot-stuffing (RFC 1939 3)
# ---------------------------------------------------------------------------


class MessageEncoder:
    """Turns a stored message, fed in chunks, into the lines of a multi-line
    POP3 response, in linear time and bounded memory.

    - line ends become CRLF (a Maildir file may use LF, the wire needs CRLF);
      a CR not followed by LF is message content and stays;
    - RFC 1939 3: a line starting with ``.`` gets another ``.`` (byte-stuffing);
    - the last line gets a CRLF if it had none, then ``finish()`` adds the
      ``.`` line that ends the response;
    - ``top=n`` (RFC 1939 7, TOP): the header, the blank line, then at most n
      lines of the body; ``done`` becomes true when nothing more is wanted.
    """

    __slots__ = ("_at_start", "_body_lines", "_cr", "_in_header", "_line_len", "done", "top")

    def __init__(self, top: int | None = None) -> None:
        if top is not None and top < 0:
            raise ValueError("top must be 0 or more")
        self.top = top
        self.done = False
        self._at_start = True  # nothing of the current line written yet
        self._cr = False  # a CR ended the last chunk: is it part of CRLF?
        self._in_header = True
        self._line_len = 0
        self._body_lines = 0

    def feed(self, chunk: bytes) -> bytes:
        """The encoded bytes for ``chunk`` (possibly empty)."""
        if self.done or not chunk:
            return b""
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        out: list[bytes] = []
        pos = 0
        end = len(chunk)
        while pos < end and not self.done:
            nl = chunk.find(b"\n", pos)
            if nl < 0:
                piece = chunk[pos:]
                if piece.endswith(b"\r"):
                    piece = piece[:-1]
                    self._cr = True
                self._content(piece, out)
                break
            stop = nl - 1 if nl > pos and chunk[nl - 1] == 0x0D else nl
            self._content(chunk[pos:stop], out)
            self._end_line(out)
            pos = nl + 1
        return b"".join(out)

    def finish(self) -> bytes:
        """The rest of the response: a CRLF for an unterminated last line and
        the ``.`` line."""
        out: list[bytes] = []
        if not self.done:
            if self._cr:
                self._content(b"\r", out)
                self._cr = False
            if not self._at_start:
                self._end_line(out)
        self.done = True
        out.append(b"." + CRLF)
        return b"".join(out)

    def _content(self, piece: bytes, out: list[bytes]) -> None:
        if not piece:
            return
        if self._at_start and piece[:1] == b".":
            out.append(b".")  # RFC 1939 3: byte-stuff a leading "."
        self._at_start = False
        self._line_len += len(piece)
        out.append(piece)

    def _end_line(self, out: list[bytes]) -> None:
        out.append(CRLF)
        if self._in_header:
            if self._line_len == 0:
                self._in_header = False  # the blank line ends the header
                if self.top == 0:
                    self.done = True
        else:
            self._body_lines += 1
            if self.top is not None and self._body_lines >= self.top:
                self.done = True
        self._at_start = True
        self._line_len = 0


def encode_message(data: bytes, top: int | None = None) -> bytes:
    """The whole multi-line body for a message held in memory (tests, small
    messages): ``MessageEncoder`` fed once, with its ``.`` line."""
    encoder = MessageEncoder(top)
    return encoder.feed(data) + encoder.finish()


def wire_size(chunks: Iterable[bytes] | bytes) -> int:
    """The size RETR reports (RFC 1939 5, LIST/STAT): octets of the message
    with CRLF line ends, before byte-stuffing.  A file that already uses CRLF
    is its own size; a bare LF counts two; a missing final line end counts
    two.  Accepts the message or its chunks (in order)."""
    if isinstance(chunks, bytes):
        chunks = [chunks]
    size = 0
    previous = b""
    last = b""
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk) + chunk.count(b"\n") - chunk.count(b"\r\n")
        if previous == b"\r" and chunk[:1] == b"\n":
            size -= 1  # a CRLF split across two chunks was counted as bare LF
        previous = chunk[-1:]
        last = chunk[-1:]
    if last and last != b"\n":
        size += 2  # the encoder ends the last line (even one ending in a bare CR)
    return size


# ---------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------


class Pop3Server:
    """One POP3 session, server side; see the module docstring.

    ``accounts`` maps user names to passwords (or pass ``check`` to decide
    yourself).  ``tls_available``: STLS is offered (a certificate is
    loaded); ``tls_active``: the connection is already TLS.
    ``plaintext_login``: USER/PASS allowed without TLS (the teaching server
    allows it on loopback, and says so in its greeting).
    """

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        check: Callable[[str, bytes], bool] | None = None,
        server_name: str = "protoshell",
        greeting: str | None = None,
        tls_available: bool = False,
        tls_active: bool = False,
        plaintext_login: bool = True,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        if max_line < 8:
            raise ValueError("max_line must be at least 8 octets")
        self._accounts = dict(accounts or {})
        self._check = check
        self.server_name = server_name
        self.tls_available = tls_available
        self.tls_active = tls_active
        self.plaintext_login = plaintext_login
        self.max_line = max_line
        self._buf = LineBuffer(max_line)
        self._skipping = False  # discarding an over-long line up to its LF
        self._eof = False
        self._out: deque[Pop3Action] = deque()
        self._state: State = "authorization"
        self._waiting: str | None = None  # "maildrop" / "update" / "tls"
        self._user: str | None = None  # from USER
        self._pending_user: str | None = None  # PASS was right; maildrop opening
        self._failures = 0
        self._messages: list[Pop3Message] = []
        self._deleted: set[int] = set()  # 1-based message numbers
        self.commands = 0  # commands answered, for tests and statistics
        if greeting is None:
            greeting = f"{server_name} POP3 server ready"
        self._out.append(Send(b"+OK " + greeting.encode("utf-8") + CRLF))

    # -- public state ---------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def user(self) -> str | None:
        """The logged-in user (TRANSACTION state), else None."""
        return self._user if self._state in ("transaction", "update") else None

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handled (the driver pauses reading
        while this is large)."""
        return len(self._buf)

    @property
    def waiting(self) -> bool:
        """True while an action needs its answer (maildrop_opened,
        update_done, tls_started) before the session can go on."""
        return self._waiting is not None

    def capabilities(self) -> list[str]:
        """RFC 2449 6: the CAPA list for the current state."""
        caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]
        if self._state == "authorization":
            if self._login_allowed():
                caps.append("USER")  # RFC 2449 6.8
            if self.tls_available and not self.tls_active:
                caps.append("STLS")  # RFC 2595 4
        caps.append(f"IMPLEMENTATION {self.server_name} teaching server")
        return caps

    # -- input ----------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed what the client sent; ``b""`` is EOF."""
        if self._eof or self._state == "closed":
            return
        if not data:
            self._eof = True
            return
        if self._waiting == "tls":
            return  # RFC 2595 4: plaintext after STLS is never trusted
        if self._skipping:
            nl = data.find(b"\n")
            if nl < 0:
                return
            self._skipping = False
            self._too_long()
            data = data[nl + 1 :]
            if not data:
                return
        self._buf.feed(data)

    def next_action(self) -> Pop3Action | _NeedData:
        """The next thing to do, or NEED_DATA."""
        if self._out:
            return self._out.popleft()
        if self._waiting is not None:
            raise RuntimeError(f"answer the {self._waiting} action first")
        if self._state == "closed":
            return NEED_DATA
        while not self._out:
            line = self._readline()
            if line is None:
                if self._out:
                    break  # the -ERR for an over-long line
                if self._eof:
                    partial = len(self._buf) > 0 or self._skipping
                    self._close(
                        "client closed the connection in the middle of a line"
                        if partial
                        else "client closed the connection without QUIT"
                    )
                    break
                return NEED_DATA
            self._handle(line)
        return self._out.popleft()

    def _readline(self) -> bytes | None:
        try:
            return self._buf.readline()
        except RemoteProtocolError:
            # Over max_line: drop it, up to and including its LF; a server
            # can answer -ERR and go on (the client framer, by contrast,
            # must give up: it cannot know where the next reply starts).
            rest = self._buf.take_all()
            nl = rest.find(b"\n")
            if nl < 0:
                self._skipping = True  # receive_data drops the rest
                return None
            self._too_long()
            if nl + 1 < len(rest):
                self._buf.feed(rest[nl + 1 :])
            return None

    def _too_long(self) -> None:
        self._err(
            f"line too long (more than {self.max_line} octets; RFC 2449 4 allows 255 for a command)"
        )

    # -- answers from the driver ------------------------------------------------

    def maildrop_opened(self, messages: Sequence[Pop3Message]) -> None:
        """The answer to OpenMaildrop: the maildrop's messages, in order
        (their numbers are fixed for the session, RFC 1939 5)."""
        self._expect("maildrop")
        self._messages = [
            m if m.uid else Pop3Message(m.key, m.size, unique_id(m.key)) for m in messages
        ]
        self._deleted.clear()
        self._user = self._pending_user
        self._pending_user = None
        self._state = "transaction"
        count, octets = self._totals()
        self._ok(f"{self._user}'s maildrop has {_plural(count, 'message')} ({octets} octets)")

    def maildrop_failed(self, reason: str) -> None:
        """The answer to OpenMaildrop when it cannot be opened (``reason``
        may start with a response code: ``[IN-USE] maildrop already locked``)."""
        self._expect("maildrop")
        self._pending_user = None
        self._user = None
        self._err(reason)

    def update_done(self, failed: int = 0) -> None:
        """The answer to Update: how many deletions failed."""
        self._expect("update")
        self._state = "update"
        if failed:
            # RFC 1939 6: -ERR if some deleted messages were not removed.
            self._err(f"[SYS/TEMP] {_plural(failed, 'deleted message')} not removed")
        else:
            left = len(self._messages) - len(self._deleted)
            what = "maildrop empty" if left == 0 else f"{_plural(left, 'message')} left"
            self._ok(f"{self.server_name} POP3 server signing off ({what})")
        self._close("QUIT")

    def tls_started(self) -> None:
        """The TLS handshake after STLS succeeded: parse again, afresh."""
        self._expect("tls")
        self.tls_active = True
        self._buf = LineBuffer(self.max_line)
        self._skipping = False

    def timeout_reply(self) -> bytes:
        """RFC 1939 3: the autologout message for an idle client; the session
        ends without entering the UPDATE state (nothing is deleted)."""
        self._state = "closed"
        self._out.clear()
        return b"-ERR autologout: idle for too long" + CRLF

    def _expect(self, what: str) -> None:
        if self._waiting != what:
            raise RuntimeError(f"not waiting for {what} (waiting for {self._waiting})")
        self._waiting = None

    # -- replies ----------------------------------------------------------------

    def _ok(self, text: str = "") -> None:
        line = b"+OK" + (b" " + text.encode("utf-8") if text else b"") + CRLF
        self._out.append(Send(line))

    def _err(self, text: str) -> None:
        self._out.append(Send(b"-ERR " + text.encode("utf-8") + CRLF))

    def _multi(self, first: str, lines: Sequence[str]) -> None:
        body = b"".join(
            (b"." if line.startswith(".") else b"") + line.encode("utf-8") + CRLF for line in lines
        )
        self._out.append(Send(b"+OK " + first.encode("utf-8") + CRLF + body + b"." + CRLF))

    def _close(self, reason: str) -> None:
        self._state = "closed"
        self._out.append(Close(reason))

    def _login_allowed(self) -> bool:
        return self.plaintext_login or self.tls_active

    def _totals(self) -> tuple[int, int]:
        live = [m for i, m in enumerate(self._messages, 1) if i not in self._deleted]
        return len(live), sum(m.size for m in live)

    # -- dispatch -----------------------------------------------------------------

    def _handle(self, line: bytes) -> None:
        self.commands += 1
        body = line[:-1]
        if body.endswith(b"\r"):
            body = body[:-1]
        word, _, rest = body.partition(b" ")
        if not body.strip():
            self._err("empty command line")
            return
        if not _COMMAND_WORD.fullmatch(word):
            self._err(f"not a POP3 command: '{_safe(word)}'")
            return
        name = word.decode("ascii").upper()
        rule = RULES.get(name)
        if rule is None:
            reason = UNSUPPORTED.get(name)
            self._err(reason or f"unknown command '{_safe(word)}'")
            return
        if self._state not in rule.states:
            where = " or ".join(_STATE_NAMES[s] for s in sorted(rule.states))
            self._err(f"{name} is only valid {where}, {rule.rfc}")
            return
        if rule.max_args == _REST:
            args = [rest] if rest else []
        else:
            args = rest.split(b" ") if rest else []
            if any(not a for a in args):
                self._err(f"{name}: arguments are separated by one space ({rule.rfc})")
                return
        if not rule.min_args <= len(args) <= (rule.max_args if rule.max_args >= 0 else 1):
            self._err(f"{name}: wrong number of arguments ({rule.rfc}: {_SYNTAX[name]})")
            return
        handler = getattr(self, f"_cmd_{name}")
        handler(args)

    def _number(self, arg: bytes, *, allow_deleted: bool = False) -> int | None:
        """A message number argument, or None after an -ERR (RFC 1939 5)."""
        text = arg.decode("ascii", "replace")
        if not _NUMBER.fullmatch(text):
            self._err(f"not a message number: '{_safe(arg)}'")
            return None
        n = int(text)
        if not 1 <= n <= len(self._messages):
            self._err(
                f"no such message: {n} (the maildrop has {_plural(len(self._messages), 'message')})"
            )
            return None
        if n in self._deleted and not allow_deleted:
            self._err(f"message {n} already deleted")
            return None
        return n

    # -- AUTHORIZATION (RFC 1939 4, 7) ----------------------------------------------

    def _cmd_USER(self, args: list[bytes]) -> None:
        if not self._login_allowed():
            self._err("[AUTH] USER/PASS need TLS on this address: send STLS first (RFC 2595)")
            return
        self._user = args[0].decode("utf-8", "replace")
        self._ok(self._user)  # the lecture's "+OK bob": no hint whether it exists

    def _cmd_PASS(self, args: list[bytes]) -> None:
        if not self._login_allowed():
            self._err("[AUTH] USER/PASS need TLS on this address: send STLS first (RFC 2595)")
            return
        if self._user is None:
            self._err("send USER first (RFC 1939 7)")
            return
        user, self._user = self._user, None
        if not self._password_ok(user, args[0]):
            self._failures += 1
            if self._failures >= MAX_AUTH_FAILURES:
                self._err("[AUTH] invalid user name or password; too many failures, goodbye")
                self._close("too many failed logins")
            else:
                self._err("[AUTH] invalid user name or password")
            return
        self._pending_user = user
        self._waiting = "maildrop"
        self._out.append(OpenMaildrop(user))

    def _password_ok(self, user: str, password: bytes) -> bool:
        if self._check is not None:
            return self._check(user, password)
        expected = self._accounts.get(user)
        # compare_digest: the time taken does not tell how much was right.
        return expected is not None and hmac.compare_digest(expected.encode("utf-8"), password)

    def _cmd_STLS(self, args: list[bytes]) -> None:
        if self.tls_active:
            self._err("TLS is already active on this connection")
            return
        if not self.tls_available:
            self._err("STLS is not available: the server has no certificate")
            return
        self._ok("Begin TLS negotiation")
        # RFC 2595 4: anything the client pipelined after STLS is discarded.
        self._buf = LineBuffer(self.max_line)
        self._skipping = False
        self._waiting = "tls"
        self._out.append(StartTls())

    def _cmd_CAPA(self, args: list[bytes]) -> None:
        self._multi("Capability list follows", self.capabilities())

    def _cmd_QUIT(self, args: list[bytes]) -> None:
        if self._state == "authorization":
            # RFC 1939 4: QUIT before login ends the session, no UPDATE.
            self._ok(f"{self.server_name} POP3 server signing off")
            self._close("QUIT")
            return
        # RFC 1939 6: QUIT in TRANSACTION enters the UPDATE state.
        keys = tuple(self._messages[n - 1].key for n in sorted(self._deleted))
        self._waiting = "update"
        self._out.append(Update(self._user or "", keys))

    # -- TRANSACTION (RFC 1939 5, 7) ---------------------------------------------------

    def _cmd_STAT(self, args: list[bytes]) -> None:
        count, octets = self._totals()
        self._ok(f"{count} {octets}")

    def _cmd_LIST(self, args: list[bytes]) -> None:
        if args:
            n = self._number(args[0])
            if n is not None:
                self._ok(f"{n} {self._messages[n - 1].size}")
            return
        count, octets = self._totals()
        self._multi(
            f"{_plural(count, 'message')} ({octets} octets)",
            [f"{n} {m.size}" for n, m in enumerate(self._messages, 1) if n not in self._deleted],
        )

    def _cmd_UIDL(self, args: list[bytes]) -> None:
        if args:
            n = self._number(args[0])
            if n is not None:
                self._ok(f"{n} {self._messages[n - 1].uid}")
            return
        self._multi(
            "unique-id listing follows",
            [f"{n} {m.uid}" for n, m in enumerate(self._messages, 1) if n not in self._deleted],
        )

    def _cmd_RETR(self, args: list[bytes]) -> None:
        n = self._number(args[0])
        if n is not None:
            self._send_message(n, None, f"{self._messages[n - 1].size} octets")

    def _cmd_TOP(self, args: list[bytes]) -> None:
        n = self._number(args[0])
        if n is None:
            return
        text = args[1].decode("ascii", "replace")
        if not _NUMBER.fullmatch(text):
            self._err(f"TOP: the line count must be a number 0 or more, not '{_safe(args[1])}'")
            return
        self._send_message(n, int(text), f"top of message {n} follows")

    def _send_message(self, n: int, top: int | None, status: str) -> None:
        message = self._messages[n - 1]
        self._out.append(
            SendMessage(
                number=n,
                key=message.key,
                top=top,
                status=b"+OK " + status.encode("utf-8") + CRLF,
                error=b"-ERR [SYS/TEMP] message " + str(n).encode() + b" cannot be read "
                b"any more (removed by another session?)" + CRLF,
            )
        )

    def _cmd_DELE(self, args: list[bytes]) -> None:
        n = self._number(args[0])
        if n is not None:
            self._deleted.add(n)  # RFC 1939 5: only marked; removed at QUIT
            self._ok(f"message {n} deleted")

    def _cmd_NOOP(self, args: list[bytes]) -> None:
        self._ok()

    def _cmd_RSET(self, args: list[bytes]) -> None:
        self._deleted.clear()
        count, octets = self._totals()
        self._ok(f"maildrop has {_plural(count, 'message')} ({octets} octets)")


_SYNTAX: Final = {
    "USER": "USER name",
    "PASS": "PASS string",
    "STLS": "STLS",
    "CAPA": "CAPA",
    "QUIT": "QUIT",
    "STAT": "STAT",
    "LIST": "LIST [msg]",
    "RETR": "RETR msg",
    "DELE": "DELE msg",
    "NOOP": "NOOP",
    "RSET": "RSET",
    "TOP": "TOP msg n",
    "UIDL": "UIDL [msg]",
}
