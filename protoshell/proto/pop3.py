"""POP3, client role: frame the server's responses, follow the client's commands.

RFC 1939 (POP3), RFC 2449 (CAPA, pipelining), RFC 2595 section 4 (STLS),
RFC 5034 (SASL AUTH).

What the framer knows about the conversation, and why:

* Every command gets one response starting ``+OK`` or ``-ERR`` (RFC 1939 3);
  the greeting counts as one at connect (RFC 1939 4).  Commands are kept in a
  FIFO, so pipelined commands (RFC 2449 6.6) are matched in order.
* Whether a ``+OK`` is followed by a multi-line body depends on the command
  *and* its argument: ``LIST`` has one, ``LIST 1`` has not.  That rule is
  data, read from ``VOCABULARY`` (``Command.multiline``).  A ``-ERR`` never
  has a body.
* A body is streamed line by line as ``Pop3DataLine`` events, bounded by
  ``Limits.max_line`` and never accumulated.  A line starting with ``.`` is
  byte-stuffed: ``data`` has the dot removed, ``raw`` keeps it.  The line
  ``.`` ends the body (``Pop3DataEnd``) (RFC 1939 3).
* ``AUTH`` (RFC 5034 4): a ``+ challenge`` line is a turn end with outcome
  "continue"; the client's next line is a SASL response, not a command.
* ``STLS`` answered ``+OK`` (RFC 2595 4): everything received afterwards is
  kept in ``trailing_data`` unparsed until ``tls_started()``, and the learned
  capabilities are forgotten then.
* POP3 has no unsolicited responses, but a status line that arrives with
  nothing pending (a server's "-ERR autologout" before it closes) is still
  framed and emitted, followed by a ResponseEnd.

Status indicators are matched case-insensitively and reported upper case
(RFC 1939 3 says servers MUST send them upper case; a debugger should show a
sloppy server rather than die on it).  Bare LF line endings are accepted too.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    BodyEnd,
    BodyLine,
    ConnectionClosed,
    Event,
    Limits,
    Outcome,
    ResponseEnd,
    Role,
    ServerLine,
    one_line,
    strip_eol,
)
from .line_framer import LineReplyFramer
from .vocab import Command, ReplyCode, Vocabulary, replies, table

__all__ = [
    "MAX_CAPABILITIES",
    "MAX_MESSAGE_NUMBERS",
    "PIPELINING_NOTE",
    "VOCABULARY",
    "Pop3Continuation",
    "Pop3DataEnd",
    "Pop3DataLine",
    "Pop3Framer",
    "Pop3StatusLine",
    "line_status",
]

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

VOCABULARY: Final = Vocabulary(
    protocol="pop3",
    commands=table(
        Command(
            "USER",
            "USER name",
            "RFC 1939 section 7",
            "give the mailbox name (then PASS)",
            "identify",
        ),
        Command(
            "PASS",
            "PASS string",
            "RFC 1939 section 7",
            "give the password after USER; +OK opens the maildrop",
            "identify",
        ),
        Command(
            "APOP",
            "APOP name digest",
            "RFC 1939 section 7",
            "log in with MD5(greeting timestamp + secret) instead of a password",
            "identify",
        ),
        Command(
            "AUTH",
            "AUTH mechanism [initial-response]",
            "RFC 5034 section 4",
            "log in with a SASL mechanism; '+ ' asks for the next base64 line",
            "identify",
            args=("auth-mechanism",),
            # Without a mechanism, servers in the RFC 1734 tradition (Dovecot,
            # what Outlook sends) list their mechanisms as a multi-line +OK.
            multiline="no-arg",
        ),
        Command(
            "CAPA",
            "CAPA",
            "RFC 2449 section 5",
            "ask which capabilities (TOP, UIDL, PIPELINING, STLS...) the server has",
            "identify",
            multiline="yes",
        ),
        Command(
            "STLS",
            "STLS",
            "RFC 2595 section 4",
            "switch this connection to TLS (then CAPA again)",
            "identify",
        ),
        Command(
            "STAT",
            "STAT",
            "RFC 1939 section 5",
            "ask how many messages the maildrop holds and their total size",
            "ask",
        ),
        Command(
            "LIST",
            "LIST [msg]",
            "RFC 1939 section 5",
            "list message numbers and sizes (multi-line without an argument)",
            "ask",
            args=("message",),
            multiline="no-arg",
        ),
        Command(
            "RETR",
            "RETR msg",
            "RFC 1939 section 5",
            "fetch a whole message (multi-line, ends with '.')",
            "ask",
            args=("message",),
            multiline="yes",
            message=True,
        ),
        Command(
            "TOP",
            "TOP msg n",
            "RFC 1939 section 7",
            "fetch the headers and the first n body lines of a message (multi-line)",
            "ask",
            args=("message",),
            multiline="yes",
            message=True,
        ),
        Command(
            "UIDL",
            "UIDL [msg]",
            "RFC 1939 section 7",
            "unique ids of messages (multi-line without an argument)",
            "ask",
            args=("message",),
            multiline="no-arg",
        ),
        Command(
            "DELE",
            "DELE msg",
            "RFC 1939 section 5",
            "mark a message deleted (removed when QUIT ends the session)",
            "ask",
            args=("message",),
        ),
        Command(
            "NOOP",
            "NOOP",
            "RFC 1939 section 5",
            "do nothing; the server answers +OK",
            "ask",
        ),
        Command(
            "RSET",
            "RSET",
            "RFC 1939 section 5",
            "unmark all messages marked deleted",
            "ask",
        ),
        Command(
            "QUIT",
            "QUIT",
            "RFC 1939 section 6",
            "say goodbye; deleted messages are removed (UPDATE state) and the server closes",
            "goodbye",
        ),
    ),
    replies=replies(
        ReplyCode("+OK", "positive: the command succeeded", "ok", "RFC 1939 3"),
        ReplyCode("-ERR", "negative: the command failed", "error", "RFC 1939 3"),
        ReplyCode(
            "+",
            "SASL challenge: send the next base64 line (or '*' to cancel)",
            "continue",
            "RFC 5034 4",
        ),
        ReplyCode(".", "end of a multi-line response", "data", "RFC 1939 3"),
    ),
    words={
        # CAPA tags (RFC 2449 6, RFC 2595 4).
        "capability": (
            "EXPIRE",
            "IMPLEMENTATION",
            "LOGIN-DELAY",
            "PIPELINING",
            "RESP-CODES",
            "SASL",
            "STLS",
            "TOP",
            "UIDL",
            "USER",
        ),
        # Extended response codes in brackets after +OK/-ERR (RFC 2449 8, RFC 3206).
        "resp-code": ("AUTH", "IN-USE", "LOGIN-DELAY", "SYS/PERM", "SYS/TEMP"),
        "auth-mechanism": (
            "PLAIN",
            "LOGIN",
            "CRAM-MD5",
            "XOAUTH2",
            "OAUTHBEARER",
            "SCRAM-SHA-256",
        ),
    },
)

# What the shell says when the user asks for pipelining (:pipeline).
PIPELINING_NOTE: Final = (
    "POP3 only pipelines if the server's CAPA response lists PIPELINING "
    "(RFC 2449 section 6.6); otherwise send one command and wait for its response."
)

# Bounds on what the framer learns for completion, whatever the server sends.
MAX_CAPABILITIES: Final = 64
MAX_MESSAGE_NUMBERS: Final = 10_000
_MAX_PARAM_CHARS: Final = 1000


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pop3StatusLine(ServerLine):
    """A ``+OK ...`` (``ok=True``) or ``-ERR ...`` line; status "+OK"/"-ERR"."""

    ok: bool


@dataclass(frozen=True, slots=True)
class Pop3Continuation(ServerLine):
    """A SASL challenge ``+ base64`` (RFC 5034 4); status "+", outcome
    "continue".  ``challenge`` is the base64 text (possibly empty)."""

    challenge: bytes


@dataclass(frozen=True, slots=True)
class Pop3DataLine(BodyLine):
    """One line of a multi-line body; status None, outcome "data".

    ``data`` is the line with the byte-stuffing dot removed (RFC 1939 3) and
    its terminator kept, so joining the ``data`` of a RETR gives the message
    exactly; ``raw`` is what was on the wire; ``message`` is true for the
    body of RETR and TOP (``Command.message``).
    """


@dataclass(frozen=True, slots=True)
class Pop3DataEnd(BodyEnd):
    """The ``.`` line that ends a multi-line body; status ".", outcome "data"."""


# ---------------------------------------------------------------------------
# Line syntax, shared by the framer and the replay checker
# ---------------------------------------------------------------------------

_STATUS_RE: Final = re.compile(rb"(\+OK|-ERR)(?:[ \t](.*))?", re.DOTALL | re.IGNORECASE)
_CONTINUE_RE: Final = re.compile(rb"\+(?: (.*))?", re.DOTALL)


_OUTCOMES: Final[dict[str, Outcome]] = {"+OK": "ok", "-ERR": "error", "+": "continue"}


def _status_of(body: bytes) -> str | None:
    """``"+OK"``, ``"-ERR"``, ``"+"`` or None for a line without terminator."""
    m = _STATUS_RE.fullmatch(body)
    if m is not None:
        return m[1].decode("ascii").upper()
    if _CONTINUE_RE.fullmatch(body) is not None:
        return "+"
    return None


def line_status(text: str) -> str | None:
    """The status token of a server line: "+OK", "-ERR", "+" (SASL
    challenge), "." (end of a multi-line body) or None (other lines)."""
    body = strip_eol(text.encode("utf-8", "replace"))
    if body == b".":
        return "."
    return _status_of(body)


def _short(data: bytes, limit: int = 60) -> str:
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"




# ---------------------------------------------------------------------------
# The framer
# ---------------------------------------------------------------------------

_Mode = Literal["command", "auth"]
_Kind = Literal["greeting", "command", "sasl"]
_KEEP: Final = 80


@dataclass(slots=True)
class _Sent:
    """A line on its way to the server (or the greeting we wait for)."""

    head: bytes  # the first _KEEP bytes as sent, to classify it again
    kind: _Kind
    verb: str  # upper-case command word for kind "command", else ""
    has_arg: bool
    multiline: bool  # would +OK start a multi-line body?
    message: bool  # is that body a message (RETR, TOP)?
    before: _Mode  # how the server reads this line (predicted)
    after: _Mode  # how it will read the next one (predicted)


def _classify(line: bytes, mode: _Mode) -> _Sent:
    head = line[:_KEEP]
    if mode == "auth":
        # RFC 5034 4: after "+ " the client sends base64 (or "*" to cancel).
        return _Sent(head, "sasl", "", False, False, False, mode, "command")
    words = line.split(None, 2)
    verb = words[0].decode("ascii", "replace").upper() if words else ""
    has_arg = len(words) > 1
    command = VOCABULARY.command(verb)
    rule = command.multiline if command is not None else "no"
    multiline = rule == "yes" or (rule == "no-arg" and not has_arg)
    message = multiline and command is not None and command.message
    # Predicted: AUTH with a mechanism and no initial response gets "+ ".
    after: _Mode = "auth" if verb == "AUTH" and len(words) == 2 else "command"
    return _Sent(head, "command", verb, has_arg, multiline, message, mode, after)


_GREETING: Final = _Sent(b"", "greeting", "", False, False, False, "command", "command")
# RFC 1939 7 (APOP): the greeting's timestamp looks like <process-ID.clock@hostname>.
_TIMESTAMP_RE: Final = re.compile(rb"<[^<>\s]*@[^<>\s]*>")


class Pop3Framer(LineReplyFramer):
    """Sans-IO POP3 client: feed server bytes, read events, send commands.

    Public state for the shell: ``pending``, ``state`` ("authorization",
    "transaction", "update", "tls-pending", "closed"), ``capabilities``,
    ``supports_pipelining``, ``auth_mechanisms``, ``message_numbers``,
    ``greeting_timestamp``, ``trailing_data``.
    """

    protocol = "pop3"
    role = Role.CLIENT
    STARTTLS_WORD = "STLS"
    STARTTLS_RFC = "RFC 2595 4"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        self._queue: deque[_Sent] = deque([_GREETING])  # RFC 1939 4: greeting first
        self._mode: _Mode = "command"  # how the server reads a line when _queue is empty
        self._in_body = False  # reading the multi-line body for _queue[0]
        self._session: str = "authorization"  # RFC 1939 4-6 state names
        self._capa: dict[str, str] = {}
        self._capa_new: dict[str, str] = {}
        self._numbers: list[int] = []
        self._numbers_new: list[int] = []
        self._timestamp: bytes | None = None
        self._said_goodbye = False  # +OK to QUIT: the server closes next

    # -- public state ------------------------------------------------------

    @property
    def pending(self) -> int:
        """Responses still owed by the server (the greeting counts at connect)."""
        return len(self._queue)

    @property
    def state(self) -> str:
        if self._eof:
            return "closed"
        if self._tls_pending:
            return "tls-pending"
        return self._session

    @property
    def capabilities(self) -> dict[str, str]:
        """From the last CAPA response: tag -> parameters (``{"SASL": "PLAIN
        LOGIN", "PIPELINING": ""}``).  Emptied by tls_started() (RFC 2595 4)."""
        return dict(self._capa)

    @property
    def supports_pipelining(self) -> bool:
        """RFC 2449 6.6: the client may pipeline only if CAPA lists PIPELINING."""
        return "PIPELINING" in self._capa

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms from the CAPA SASL tag (RFC 2449 6.3, RFC 5034 3)."""
        return tuple(self._capa.get("SASL", "").upper().split())

    @property
    def message_numbers(self) -> tuple[int, ...]:
        """Message numbers from the last LIST or UIDL listing, minus those
        deleted since (at most MAX_MESSAGE_NUMBERS of them)."""
        return tuple(self._numbers)

    @property
    def greeting_timestamp(self) -> bytes | None:
        """The ``<...@...>`` timestamp from the greeting, which APOP digests."""
        return self._timestamp

    def _on_line(self, line: bytes) -> Event:
        body = strip_eol(line)
        if self._in_body:
            return self._on_body_line(line, body)
        status = _status_of(body)
        head = self._queue[0] if self._queue else None
        if status == "+":
            if head is None or not (head.kind == "sasl" or head.verb == "AUTH"):
                self._fail(
                    f"SASL challenge {_short(line)} but no AUTH exchange is in progress "
                    "(RFC 5034 4)"
                )
            m = _CONTINUE_RE.fullmatch(body)
            challenge = (m[1] or b"") if m is not None else b""
            self._ready.append(self._resolve("+"))
            return Pop3Continuation(raw=line, status="+", outcome="continue", challenge=challenge)
        if status is None:
            self._fail(
                f"expected a POP3 status line (+OK or -ERR), got {_short(line)} (RFC 1939 3)"
            )
        ok = status == "+OK"
        event = Pop3StatusLine(raw=line, status=status, outcome="ok" if ok else "error", ok=ok)
        if head is not None and head.kind == "greeting" and ok:
            m2 = _TIMESTAMP_RE.search(body)
            self._timestamp = m2[0] if m2 is not None else None
        if ok and head is not None and head.multiline:
            # RFC 1939 3: a multi-line response follows this +OK line.
            self._in_body = True
            self._capa_new = {}
            self._numbers_new = []
        else:
            self._ready.append(self._resolve(status))
        return event

    def _on_body_line(self, line: bytes, body: bytes) -> Event:
        if body == b".":
            # RFC 1939 3: CRLF.CRLF ends the multi-line response.
            self._in_body = False
            message = self._queue[0].message
            self._ready.append(self._resolve("+OK"))
            return Pop3DataEnd(raw=line, status=".", outcome="data", message=message)
        # RFC 1939 3: a line starting with "." was byte-stuffed.
        data = line[1:] if line.startswith(b".") else line
        head = self._queue[0]
        if head.verb == "CAPA":
            self._learn_capability(strip_eol(data))
        elif head.verb in ("LIST", "UIDL") and len(self._numbers_new) < MAX_MESSAGE_NUMBERS:
            number = strip_eol(data).split(None, 1)[:1]
            if number and number[0].isdigit() and len(number[0]) < 10:
                self._numbers_new.append(int(number[0]))
        return Pop3DataLine(raw=line, status=None, outcome="data", data=data, message=head.message)

    def _learn_capability(self, text: bytes) -> None:
        # RFC 2449 5: capability = capa-tag *(SP param)
        words = text.decode("utf-8", "replace").split(None, 1)
        if not words or len(self._capa_new) >= MAX_CAPABILITIES:
            return
        tag = words[0].upper()[:_MAX_PARAM_CHARS]
        self._capa_new.setdefault(
            tag, words[1].strip()[:_MAX_PARAM_CHARS] if len(words) > 1 else ""
        )

    def _resolve(self, status: str) -> ResponseEnd:
        """The response to the oldest line is complete: learn from it and
        decide how the server reads the lines queued after it."""
        end = ResponseEnd(raw=b"", status=status, outcome=_OUTCOMES[status])
        if not self._queue:
            return end  # unsolicited
        entry = self._queue.popleft()
        ok = status == "+OK"
        mode: _Mode = "auth" if status == "+" else "command"
        starttls = False
        if entry.kind == "sasl":
            if ok:
                self._session = "transaction"  # RFC 5034 4: authenticated
        elif entry.kind == "command" and ok:
            verb = entry.verb
            if verb in ("PASS", "APOP") or (verb == "AUTH" and entry.has_arg):
                self._session = "transaction"  # RFC 1939 4: maildrop opened
            elif verb == "QUIT":
                # RFC 1939 6: from TRANSACTION, QUIT enters UPDATE; from
                # AUTHORIZATION the session just ends (RFC 1939 4).
                self._session = "update" if self._session == "transaction" else "closed"
                self._said_goodbye = True
            elif verb == "STLS":
                starttls = True
            elif verb == "CAPA" and entry.multiline:
                self._capa = self._capa_new
            elif verb in ("LIST", "UIDL") and entry.multiline:
                self._numbers = self._numbers_new
            elif verb == "DELE" and entry.has_arg:
                number = entry.head.split(None, 2)[1:2]
                if number and number[0].isdigit() and int(number[0]) in self._numbers:
                    self._numbers.remove(int(number[0]))
        self._capa_new = {}
        self._numbers_new = []
        if starttls or self._said_goodbye:
            # RFC 2595 4 / RFC 1939 6: nothing pipelined after STLS or QUIT
            # gets an answer (the server discards it, or closes).
            self._queue.clear()
        if starttls:
            self._tls_pending = True
            self._keep_trailing(self._buf.take_all())
            end = ResponseEnd(raw=b"", status=status, outcome="ok", starttls=True)
        self._mode = mode
        if self._queue and self._queue[0].before != mode:
            old = list(self._queue)
            self._queue.clear()
            for e in old:
                self._push(e.head)
        return end

    def _closed(self) -> ConnectionClosed:
        self._closed_sent = True
        partial = self._buf.take_all()
        if partial:
            clean, reason = False, "connection closed in the middle of a line"
        elif self._in_body:
            what = self._queue[0].head.decode("utf-8", "replace")
            clean = False
            reason = (
                f"connection closed before the '.' line that ends the multi-line "
                f"response to {what} (RFC 1939 3)"
            )
        elif self._said_goodbye:
            clean, reason = True, "server closed the connection after QUIT"
        elif self._tls_pending:
            clean, reason = False, "connection closed before the TLS handshake"
        elif self._queue:
            n = len(self._queue)
            owed = "1 response" if n == 1 else f"{n} responses"
            clean, reason = False, f"connection closed with {owed} outstanding"
        else:
            clean, reason = True, "server closed the connection"
        self._session = "closed"
        return ConnectionClosed(raw=partial, clean=clean, reason=reason)

    # -- sending -----------------------------------------------------------

    def _tail_mode(self) -> _Mode:
        return self._queue[-1].after if self._queue else self._mode

    def _push(self, line: bytes) -> None:
        self._queue.append(_classify(line, self._tail_mode()))

    def send(self, line: bytes) -> bytes:
        """Wire bytes for one command (or SASL response) line."""
        self._check_can_send()
        line = one_line(line)
        seen = self._raw_partial + line
        self._raw_partial = b""
        self._push(seen)
        return line + b"\r\n"

    def tls_started(self) -> None:
        """TLS is up after an accepted STLS: drop the plaintext buffers and the
        capabilities (RFC 2595 4: the client MUST discard them), parse again."""
        self._reset_after_tls()
        self._capa = {}
        self._mode = "command"
