"""IMAP4rev1 in the client role, sans-IO: tags, untagged data, ``+``, literals.

RFC 3501 (IMAP4rev1) and RFC 9051 (IMAP4rev2) for the grammar, RFC 7888 for
LITERAL+ (``{n+}``), RFC 2177 for IDLE, RFC 3501 6.2.1 / RFC 2595 for
STARTTLS.

Server side (what ``receive_data`` / ``next_event`` do)
--------------------------------------------------------
Every line becomes an ``ImapLine``.  Its ``status`` is what the replay checker
compares (``line_status`` computes the same thing from a text):

=======================  ===============  ===========  =====================
line                     status           kind         outcome
=======================  ===============  ===========  =====================
``A0001 OK done``        ``"A0001 OK"``   ``OK``       ok (NO temporary,
                                                       BAD error)
``* OK [UNSEEN 1] x``    ``"* OK"``       ``OK``       info (code UNSEEN)
``* 3 EXISTS``           ``"* EXISTS"``   ``EXISTS``   info (number 3)
``+ Ready``              ``"+"``          ``+``        continue
``)`` after a literal    ``None``         (response)   data (continued)
=======================  ===============  ===========  =====================

Untagged ``NO`` is a warning (RFC 3501 7.1.2: "temporary"), untagged ``BAD``
an error nobody asked for (7.1.3: "error").  Untagged ``BYE`` (7.1.5) is
"info" when we sent LOGOUT and "error" otherwise: a server hanging up on its
own is something a person must notice.

Literals (RFC 3501 4.3): an untagged *data* response (FETCH, LIST, STATUS...)
whose line ends in ``{n}`` outside a quoted string is followed by exactly n
octets.  The framer emits the line up to ``{n}\\r\\n`` (``literal=n``), then
``Payload`` chunks of at most ``limits.chunk_size`` bytes as they arrive, then
the rest of the response as ``ImapLine(continued=True, status=None)`` events,
each of which may end in another literal.  Literal bytes are never parsed, so
a literal holding ``A1 OK`` completes nothing, and nothing is accumulated, so
``{9999999999}`` costs no memory.  Status responses (tagged, untagged
OK/NO/BAD/PREAUTH/BYE, ``+``) carry resp-text (RFC 3501 section 9: ``text``),
which cannot hold a literal, so a ``{5}`` at their end is just text.  A
malformed size at the end of a data response (``{-1}``, ``{x}``, more than 19
digits, above 2**63-1) is a ``RemoteProtocolError``: the framing is lost.

Turn ends (``ResponseEnd``) and ``pending``
-------------------------------------------
``pending`` counts the turn ends the client can wait for *without sending
anything more*: the greeting (``* OK`` / ``* PREAUTH`` / ``* BYE``), one per
outstanding tagged command, and one for a command that waits for the server's
``+``.  A tagged OK/NO/BAD of an outstanding tag ends that command (in any
order: pipelining, the lecture's "re-ordered" exchange).  A tagged line whose
tag is not outstanding is still an ``ImapLine`` but ends nothing.  A ``+``
ends a turn only when a command is waiting for it (synchronizing literal,
IDLE, AUTHENTICATE); an unexpected ``+`` is shown and ends nothing.  A line
without a usable tag (empty, ``* x``) gets an untagged ``* BAD`` from servers
such as Dovecot, and that ``* BAD`` ends its turn.

Client side (``send``)
----------------------
* A line that does not begin with a tag of the user's own
  (``imap_vocab.typed_tag``: its first word is a command, or an unknown word
  of letters such as the lecture's ``USER``) gets the next tag, ``A0001``,
  ``A0002``... as in the lecture; ``next_tag()`` peeks at it and
  ``last_tag`` is the tag of the last command.  A line whose second word is a
  command, or whose first word is not all letters, is taken as already
  tagged (``A0001 USER ...``); a typed tag
  of the form prefix + digits moves the counter past it, so it is never
  reused.
* Client literals (RFC 3501 4.3, 7.5).  A command line ending in ``{n}`` makes
  the command wait for ``+`` (one pending turn end; ``send`` refuses data
  before it with ``LocalProtocolError``; a tagged NO/BAD instead ends the
  command).  After the ``+`` (at once for LITERAL+ ``{n+}``), the following
  ``send(line)`` calls are the literal's n octets, written the way a person
  or a pipe supplies them, one line at a time:

  - a line that exactly fills what is left of the literal is sent as is,
    without CRLF;
  - a shorter line is sent with its CRLF, and both count towards n;
  - a line that does not fit (longer than what is left, or one byte short of
    room for its CRLF) is refused with ``LocalProtocolError``.

  Once n octets are sent, the next ``send(line)`` is the rest of the command
  line (often empty: just the CRLF that ends the command; it may end in
  another ``{m}``).  So ``A0003 APPEND INBOX {11}``, ``hello world``, ``""``
  sends ``A0003 APPEND INBOX {11}\\r\\n``, ``hello world``, ``\\r\\n``; and a
  message typed line by line works as long as n counts its CRLFs.  The rest
  of a line after a literal starts with a space or ``)`` (RFC 3501 9); any
  other line is the next command, sent after the CRLF that ends this one.  While the
  client is sending the literal or the rest of the command, that command adds
  nothing to ``pending`` (it is the client's turn), and CR/LF inside the data
  are allowed (they are literal octets).
* IDLE (RFC 2177): ``+ idling`` is a turn end and ``idling`` becomes true;
  untagged data then arrive whenever the server likes.  The next line sent is
  the IDLE's continuation and is never tagged: ``DONE`` ends the IDLE (any
  other line makes the server end it with BAD); then the tagged OK is awaited.
* AUTHENTICATE (RFC 3501 6.2.2): each ``+ challenge`` is a turn end; the next
  line sent is the SASL response (or ``*`` to cancel), never tagged.
* STARTTLS: a tagged OK to STARTTLS gives ``ResponseEnd(starttls=True)``;
  every byte after it is kept in ``trailing_data`` unparsed (RFC 3501 6.2.1,
  RFC 2595 3.1: it may be an attacker's injection); ``tls_started()`` drops
  it, resets the capabilities (the client MUST discard them) and resumes.
* ``send_raw`` returns its bytes unchanged and learns from them without
  enforcing anything (data sent before a ``+`` is taken as if the ``+`` had
  come).

``mid_command`` tells whether the next line continues a command (literal,
rest of line, DONE, SASL response) rather than starting one;
``literal_remaining`` how many literal octets are still owed.

What the shell may complete from: ``capabilities``, ``auth_mechanisms``,
``mailboxes`` (LIST/LSUB/STATUS responses, CREATE/DELETE/RENAME), ``flags``,
``selected``, ``exists`` and ``state`` (``not-authenticated``,
``authenticated``, ``selected``, ``logout``, ``tls-pending``, ``idle``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    NEED_DATA,
    ConnectionClosed,
    Event,
    Limits,
    LineBuffer,
    LocalProtocolError,
    Outcome,
    Payload,
    RemoteProtocolError,
    ResponseEnd,
    Role,
    ServerLine,
    _NeedData,
    chop_eol,
    counted_piece,
    strip_eol,
)
from .imap_vocab import VOCABULARY, typed_tag

__all__ = ["VOCABULARY", "ImapFramer", "ImapLine", "line_status"]

ImapState = Literal[
    "not-authenticated", "authenticated", "selected", "logout", "tls-pending", "idle"
]


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImapLine(ServerLine):
    """One line (or one segment of a line split by literals) from the server.

    ``tag`` is ``"*"`` (untagged), ``"+"`` (continuation request), the tag
    of a tagged response, or ``None`` (a ``continued`` segment, or a line that
    is not IMAP at all).  ``kind`` is the status word (OK/NO/BAD/PREAUTH/BYE),
    the data keyword (EXISTS, FETCH, LIST...) or ``"+"``; continued segments
    keep the kind of the response they belong to.  ``number`` is the message
    number or count in ``* 3 EXISTS``.  ``code`` is the response code atom
    (``READ-WRITE`` in ``A1 OK [READ-WRITE] ...``).  ``literal`` is n when the
    line ends in ``{n}`` and n octets of ``Payload`` follow.  ``continued`` is
    true for what follows a literal (status None, outcome "data").
    """

    tag: str | None = None
    kind: str = ""
    number: int | None = None
    code: str | None = None
    literal: int | None = None
    continued: bool = False


# ---------------------------------------------------------------------------
# Line shapes: shared by the framer and line_status, so they never disagree
# ---------------------------------------------------------------------------

# RFC 3501 7.1: the status words of resp-cond-state / resp-cond-bye / greeting.
_STATUS_WORDS: Final = frozenset({"OK", "NO", "BAD", "PREAUTH", "BYE"})
_TAGGED_OUTCOME: Final[dict[str, Outcome]] = {"OK": "ok", "NO": "temporary", "BAD": "error"}

# RFC 3501 9: tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR is a CHAR
# that is not an atom-special ("(" ")" "{" SP CTL "%" "*" DQUOTE "\"), "]" allowed.
_TAG_RE: Final = re.compile(rb'[^\x00-\x20\x7f-\xff(){%*"\\+]+\Z')
# RFC 3501 9: literal = "{" number "}" CRLF; RFC 7888: "{" number "+}";
# RFC 9051: number64 (at most 2**63-1, so at most 19 digits).
_LITERAL_SIZE_RE: Final = re.compile(rb"(\d{1,19})(\+?)\Z")
_MAX_LITERAL: Final = (1 << 63) - 1
_QUOTE_OR_BACKSLASH: Final = re.compile(rb'["\\]')

# Small literals holding a mailbox name are kept to learn the name.
_CAPTURE_MAX: Final = 1024


@dataclass(frozen=True, slots=True)
class _Shape:
    tag: str | None
    kind: str
    number: int | None
    status: str | None
    code: str | None
    rest: bytes  # what follows the kind word


def _split_word(data: bytes) -> tuple[bytes, bytes]:
    word, _, rest = data.partition(b" ")
    return word, rest


def _response_code(rest: bytes) -> str | None:
    """The atom of ``[CODE ...]`` at the start of resp-text (RFC 3501 7.1)."""
    if not rest.startswith(b"["):
        return None
    m = re.match(rb"\[([^\] ]*)", rest)
    if m is None or not m.group(1):
        return None
    return m.group(1).decode("ascii", "replace").upper()


def _shape(content: bytes) -> _Shape:
    """Classify a line (without its terminator) read at the start of a response."""
    if content.startswith(b"+"):
        return _Shape("+", "+", None, "+", None, content[2:])
    if content.startswith(b"*"):
        rest = content[1:]
        if rest.startswith(b" "):
            rest = rest[1:]
        word, rest = _split_word(rest)
        number: int | None = None
        if word.isdigit():  # "* 3 EXISTS": message-data / mailbox-data with a number
            if len(word) <= 19:
                number = int(word)
            word, rest = _split_word(rest)
        kind = word.decode("utf-8", "replace").upper()
        code = _response_code(rest) if kind in _STATUS_WORDS else None
        return _Shape("*", kind, number, f"* {kind}" if kind else "*", code, rest)
    word, rest = _split_word(content)
    if not _TAG_RE.match(word):
        return _Shape(None, "", None, None, None, content)
    tag = word.decode("ascii")
    word, rest = _split_word(rest)
    if not word:
        return _Shape(tag, "", None, None, None, rest)
    kind = word.decode("utf-8", "replace").upper()
    code = _response_code(rest) if kind in _STATUS_WORDS else None
    return _Shape(tag, kind, None, f"{tag} {kind}", code, rest)


def line_status(text: str) -> str | None:
    """The status token of a server line, as ``ImapLine.status`` has it.

    ``"A0001 OK"`` for a tagged response, ``"* OK"`` / ``"* EXISTS"`` for an
    untagged one, ``"+"`` for a continuation request, None for anything
    else.  Segments that follow a literal (``)``) always have status None in
    the framer; their text usually classifies as None here too.
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return _shape(strip_eol(raw)).status


def _inside_quotes(data: bytes, end: int) -> bool:
    """Whether position ``end`` of ``data`` lies inside a quoted string.

    RFC 3501 9: quoted = DQUOTE *QUOTED-CHAR DQUOTE, with ``\\"`` and ``\\\\``
    escapes inside; outside quotes a backslash is just a flag prefix.  Linear:
    only quotes and backslashes are visited.
    """
    if data.find(b'"', 0, end) < 0:
        return False
    if data.find(b"\\", 0, end) < 0:
        return data.count(b'"', 0, end) % 2 == 1
    inside = False
    skip = -1
    for m in _QUOTE_OR_BACKSLASH.finditer(data, 0, end):
        pos = m.start()
        if pos == skip:
            continue
        if data[pos] == 0x22:
            inside = not inside
        elif inside:
            skip = pos + 1
    return inside


def _literal_suffix(content: bytes) -> tuple[int, bool, bytes] | None:
    """``(n, non_synchronizing, inner)`` if ``content`` ends in a literal marker.

    Returns None when the line does not end in ``{...}`` outside a quoted
    string.  When it does, ``inner`` is what the braces hold and ``n`` is -1 if
    that is not a valid size (the caller decides how bad that is).
    """
    if not content.endswith(b"}"):
        return None
    start = content.rfind(b"{")
    if start < 0 or _inside_quotes(content, start):
        return None
    inner = content[start + 1 : -1]
    m = _LITERAL_SIZE_RE.match(inner)
    if m is None:
        return -1, False, inner
    size = int(m.group(1))
    if size > _MAX_LITERAL:
        return -1, False, inner
    return size, bool(m.group(2)), inner


def _tokens(data: bytes) -> list[bytes]:
    """Top-level IMAP tokens: atoms, quoted strings (unescaped), and
    parenthesized lists (kept whole).  Only used on short lines."""
    out: list[bytes] = []
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x20:
            i += 1
        elif c == 0x22:  # quoted string
            buf = bytearray()
            i += 1
            while i < n:
                c = data[i]
                if c == 0x5C and i + 1 < n:
                    buf.append(data[i + 1])
                    i += 2
                    continue
                i += 1
                if c == 0x22:
                    break
                buf.append(c)
            out.append(bytes(buf))
        elif c == 0x28:  # parenthesized list
            start, depth, quoted = i, 0, False
            while i < n:
                c = data[i]
                i += 1
                if quoted:
                    if c == 0x5C:
                        i += 1
                    elif c == 0x22:
                        quoted = False
                elif c == 0x22:
                    quoted = True
                elif c == 0x28:
                    depth += 1
                elif c == 0x29:
                    depth -= 1
                    if depth == 0:
                        break
            out.append(data[start:i])
        else:
            j = data.find(b" ", i)
            j = n if j < 0 else j
            out.append(data[i:j])
            i = j
    return out


def _text(data: bytes | bytearray) -> str:
    return data.decode("utf-8", "replace")


def _list_words(data: bytes) -> tuple[str, ...]:
    """The words of a parenthesized list such as ``(\\Seen \\Draft)``."""
    return tuple(_text(w) for w in data.strip(b"() ").split())


# ---------------------------------------------------------------------------
# The framer
# ---------------------------------------------------------------------------

# What the client sends next (see the module docstring).
_Mode = Literal["command", "wait-plus", "literal", "rest", "idle", "sasl"]
# Modes in which it is the client's turn within a command already started.
_CLIENT_TURN: Final = frozenset({"literal", "rest", "idle", "sasl"})
# Commands whose arguments the framer keeps, to learn mailbox names.
_ARG_COMMANDS: Final = frozenset({"SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME"})


@dataclass(eq=False, slots=True)
class _Command:
    """An outstanding tagged command."""

    tag: str
    name: str
    args: list[str] = field(default_factory=list)
    after_plus: _Mode = "command"  # what the client sends once "+" arrives
    capture: bytearray | None = None  # a small literal argument being sent


class ImapFramer:
    """Client-role IMAP framer; see the module docstring for the contract."""

    protocol = "imap"
    role = Role.CLIENT

    def __init__(self, limits: Limits = DEFAULT_LIMITS, tag_prefix: str = "A") -> None:
        if not _TAG_RE.match(tag_prefix.encode("ascii", "replace") + b"0"):
            raise ValueError(f"tag prefix {tag_prefix!r} cannot start an IMAP tag")
        self.limits = limits
        self.tag_prefix = tag_prefix
        self._buf = LineBuffer(limits.max_line)
        self._events: deque[Event] = deque()
        self._error: RemoteProtocolError | None = None
        self._closed = False
        # Turn accounting.
        self._greeting_pending = True
        self._commands: list[_Command] = []  # outstanding, oldest first
        self._bad_owed = 0  # lines sent without a usable tag: each earns a "* BAD"
        # Client side.
        self._counter = 1
        self._last_tag: str | None = None
        self._mode: _Mode = "command"
        self._current: _Command | None = None  # the command the client is in the middle of
        self._out_remaining = 0  # literal octets the client still owes
        self._raw_partial = bytearray()  # send_raw bytes after the last LF
        # Server side: literal in progress.
        self._lit_total = 0
        self._lit_offset = 0
        self._lit_remaining = 0
        self._after_literal = False
        self._resp_kind = ""
        self._capture: bytearray | None = None  # a mailbox name arriving as a literal
        # STARTTLS.
        self._tls_pending = False
        self._trailing = bytearray()
        # Learned facts.
        self._state: ImapState = "not-authenticated"
        self._saw_bye = False
        self._capabilities: tuple[str, ...] = ()
        self._mailboxes: dict[str, None] = {}  # ordered set
        self._flags: tuple[str, ...] = ()
        self._selected: str | None = None
        self._exists: int | None = None

    # -- public properties --------------------------------------------------
    @property
    def pending(self) -> int:
        """Turn ends the client can wait for without sending anything more."""
        n = int(self._greeting_pending) + len(self._commands) + self._bad_owed
        if self._mode in _CLIENT_TURN and self._current in self._commands:
            n -= 1
        return n

    @property
    def trailing_data(self) -> bytes:
        return bytes(self._trailing)

    @property
    def state(self) -> ImapState:
        if self._tls_pending:
            return "tls-pending"
        if self.idling:
            return "idle"
        return self._state

    @property
    def idling(self) -> bool:
        """True between the server's ``+`` to IDLE and the client's DONE."""
        return self._mode == "idle"

    @property
    def command_continues(self) -> bool:
        """True once a literal's octets are all sent and the rest of its
        command line is due (RFC 3501 7.5: the line goes on after the
        literal, and only its CRLF ends the command): the server says
        nothing until then."""
        return self._mode == "rest"

    @property
    def mid_command(self) -> bool:
        """True while the next line belongs to a command already started
        (literal octets, the rest of the command line, IDLE's DONE, a SASL
        response): it is never tagged, and an empty line there is meaningful
        (it ends an APPEND), whereas elsewhere it earns a ``* BAD``."""
        return self._mode in _CLIENT_TURN

    @property
    def awaiting_continuation(self) -> bool:
        """A synchronizing literal was announced and the server's ``+`` has
        not come yet (RFC 9051 4.3): nothing may be sent until it does."""
        return self._mode == "wait-plus"

    @property
    def literal_remaining(self) -> int | None:
        """Octets of a client literal still owed (the next ``send`` is literal
        data), else None; lets a prompt show the count the framer enforces."""
        return self._out_remaining if self._mode == "literal" else None

    @property
    def last_tag(self) -> str | None:
        return self._last_tag

    def next_tag(self) -> str:
        """The tag the next auto-tagged command will get (does not use it)."""
        return f"{self.tag_prefix}{self._counter:04d}"

    @property
    def outstanding(self) -> tuple[str, ...]:
        """Tags of the commands still awaiting their tagged completion."""
        return tuple(c.tag for c in self._commands)

    @property
    def capabilities(self) -> tuple[str, ...]:
        """As the server spelled them, from the last CAPABILITY response or
        ``[CAPABILITY ...]`` code (compare case-insensitively)."""
        return self._capabilities

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        return tuple(c[5:] for c in self._capabilities if c.upper().startswith("AUTH="))

    @property
    def mailboxes(self) -> tuple[str, ...]:
        return tuple(self._mailboxes)

    @property
    def flags(self) -> tuple[str, ...]:
        """From the last ``* FLAGS`` response (RFC 3501 7.2.6)."""
        return self._flags

    @property
    def selected(self) -> str | None:
        return self._selected

    @property
    def exists(self) -> int | None:
        """Message count of the selected mailbox (EXISTS, minus EXPUNGEs)."""
        return self._exists

    # -- receiving ------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` is EOF."""
        if self._buf.eof and data:
            raise LocalProtocolError("data received after EOF")
        if self._tls_pending and data:
            # RFC 3501 6.2.1 / RFC 2595 3.1: nothing before the handshake is trusted.
            self._keep_trailing(data)
            return
        self._buf.feed(data)

    def _keep_trailing(self, data: bytes) -> None:
        """Keep at most ``max_line`` bytes of post-STARTTLS plaintext; more is
        an error (raised by the next ``next_event``), never a memory cost."""
        room = self.limits.max_line - len(self._trailing)
        if len(data) > room:
            data = data[: max(room, 0)]
            if self._error is None:
                self._error = RemoteProtocolError(
                    f"the server sent more than {self.limits.max_line} bytes of plaintext "
                    "after accepting STARTTLS (RFC 3501 6.2.1)"
                )
        self._trailing += data

    def next_event(self) -> Event | _NeedData:
        if self._error is not None:
            raise self._error
        try:
            return self._next_event()
        except RemoteProtocolError as exc:
            self._error = exc
            raise

    def _next_event(self) -> Event | _NeedData:
        if self._events:
            return self._events.popleft()
        if self._closed:
            return NEED_DATA
        if self._tls_pending:
            if self._buf.eof:
                return self._close(
                    False, "the server closed the connection before the TLS handshake"
                )
            return NEED_DATA
        if self._lit_remaining:
            chunk = self._buf.read(min(self._lit_remaining, self.limits.chunk_size))
            if not chunk:
                return self._eof_event() if self._buf.eof else NEED_DATA
            event = Payload(chunk, self._lit_offset, self._lit_total)
            self._lit_offset += len(chunk)
            self._lit_remaining -= len(chunk)
            if self._capture is not None:
                self._capture += chunk
            if not self._lit_remaining:
                self._literal_done()
            return event
        line = self._buf.readline()
        if line is None:
            return self._eof_event() if self._buf.eof else NEED_DATA
        self._handle_line(line)
        return self._events.popleft()

    def _close(self, clean: bool, reason: str) -> ConnectionClosed:
        self._closed = True
        return ConnectionClosed(b"", clean, reason)

    def _eof_event(self) -> ConnectionClosed:
        if self._lit_remaining:
            return self._close(
                False,
                f"the server closed the connection inside a literal "
                f"({self._lit_offset} of {self._lit_total} bytes received)",
            )
        if len(self._buf):
            return self._close(False, "the server closed the connection in the middle of a line")
        if self._after_literal:
            return self._close(
                False, "the server closed the connection before the end of a response"
            )
        unanswered = ", ".join(c.tag for c in self._commands)
        if self._saw_bye:
            reason = "the server said BYE and closed the connection"
            return self._close(
                True, f"{reason} ({unanswered} unanswered)" if unanswered else reason
            )
        if self._greeting_pending:
            return self._close(False, "the server closed the connection before its greeting")
        if unanswered or self._bad_owed:
            what = unanswered or "a command"
            return self._close(False, f"the server closed the connection with {what} unanswered")
        return self._close(True, "the server closed the connection without BYE")

    def _start_literal(self, size: int) -> None:
        self._lit_total = size
        self._lit_offset = 0
        self._lit_remaining = size
        if size == 0:
            self._literal_done()

    def _literal_done(self) -> None:
        self._after_literal = True
        if self._capture is not None:
            self._add_mailbox(_text(self._capture))
            self._capture = None

    def _literal_size(self, content: bytes) -> int | None:
        """Size of the literal this data-response segment announces, if any."""
        found = _literal_suffix(content)
        if found is None:
            return None
        size, _, inner = found
        if size < 0:
            raise RemoteProtocolError(
                f"invalid literal size {{{_text(inner[:24])}}} at the end of a response line"
            )
        return size

    def _handle_line(self, line: bytes) -> None:
        content = strip_eol(line)
        if self._after_literal:
            # RFC 3501 4.3: the response line goes on after the literal's octets.
            self._after_literal = False
            size = self._literal_size(content)
            self._events.append(
                ImapLine(line, None, "data", kind=self._resp_kind, literal=size, continued=True)
            )
            if size is not None:
                self._start_literal(size)
            return
        shape = _shape(content)
        if shape.tag == "*":
            self._untagged(line, content, shape)
        elif shape.tag == "+":
            self._continuation(line, shape)
        elif shape.tag is not None and shape.status is not None:
            self._tagged(line, shape)
        else:
            # Not an IMAP response line at all (a blank line, an HTTP server...).
            self._events.append(ImapLine(line, None, "data", tag=shape.tag))

    def _untagged(self, line: bytes, content: bytes, shape: _Shape) -> None:
        kind = shape.kind
        size = None
        if kind and kind not in _STATUS_WORDS:
            size = self._literal_size(content)
        outcome: Outcome = "info"
        if kind == "NO":
            outcome = "temporary"
        elif kind == "BAD" or (kind == "BYE" and self._state != "logout"):
            outcome = "error"  # RFC 3501 7.1.5: a BYE we did not ask for
        self._events.append(
            ImapLine(
                line,
                shape.status,
                outcome,
                tag="*",
                kind=kind,
                number=shape.number,
                code=shape.code,
                literal=size,
            )
        )
        self._learn_untagged(shape, size)
        if size is not None:
            self._resp_kind = kind
            self._start_literal(size)
            return
        if self._greeting_pending and kind in ("OK", "PREAUTH", "BYE"):
            # RFC 3501 7.1.1, 7.1.4, 7.1.5: the greeting.
            self._greeting_pending = False
            end: Outcome = "error" if kind == "BYE" else "ok"
            self._events.append(ResponseEnd(b"", shape.status, end))
        elif kind == "BAD" and self._bad_owed:
            # RFC 3501 7.1.3: the answer to a line that had no usable tag.
            self._bad_owed -= 1
            self._events.append(ResponseEnd(b"", shape.status, "error"))

    def _continuation(self, line: bytes, shape: _Shape) -> None:
        self._events.append(ImapLine(line, "+", "continue", tag="+", kind="+"))
        cmd = self._current
        if self._mode == "wait-plus" and cmd is not None and cmd in self._commands:
            self._plus_received(cmd)
            self._events.append(ResponseEnd(b"", "+", "continue"))

    def _plus_received(self, cmd: _Command) -> None:
        self._mode = cmd.after_plus
        if self._mode == "literal" and not self._out_remaining:
            self._literal_sent_all(cmd)

    def _tagged(self, line: bytes, shape: _Shape) -> None:
        assert shape.tag is not None and shape.status is not None
        kind = shape.kind
        outcome = _TAGGED_OUTCOME.get(kind, "error")
        self._events.append(
            ImapLine(line, shape.status, outcome, tag=shape.tag, kind=kind, code=shape.code)
        )
        if shape.code == "CAPABILITY":
            self._learn_capability_code(shape.rest)
        if kind not in _TAGGED_OUTCOME:
            return
        cmd = next((c for c in self._commands if c.tag == shape.tag), None)
        if cmd is None:
            return  # a tag we are not waiting for ends nothing
        self._commands.remove(cmd)
        if cmd is self._current:
            # A NO/BAD instead of "+", or the end of an IDLE/AUTHENTICATE.
            self._current = None
            self._mode = "command"
            self._out_remaining = 0
        self._learn_completion(cmd, kind)
        starttls = cmd.name == "STARTTLS" and kind == "OK"
        self._events.append(ResponseEnd(b"", shape.status, outcome, starttls=starttls))
        if starttls:
            self._tls_pending = True
            self._trailing = bytearray()
            self._keep_trailing(self._buf.take_all())

    # -- learning from the server ---------------------------------------------
    def _learn_capability_code(self, rest: bytes) -> None:
        end = rest.find(b"]")
        words = rest[1 : end if end > 0 else len(rest)].split()
        self._capabilities = tuple(_text(w) for w in words[1:])

    def _learn_untagged(self, shape: _Shape, size: int | None) -> None:
        kind = shape.kind
        if shape.code == "CAPABILITY":
            self._learn_capability_code(shape.rest)
        if kind == "CAPABILITY":  # RFC 3501 7.2.1
            self._capabilities = tuple(_text(w) for w in shape.rest.split())
        elif kind == "EXISTS" and shape.number is not None:  # 7.3.1
            self._exists = shape.number
        elif kind == "EXPUNGE" and self._exists:  # 7.4.1
            self._exists -= 1
        elif kind == "FLAGS":  # 7.2.6
            self._flags = _list_words(shape.rest)
        elif kind == "PREAUTH" and self._greeting_pending:  # 7.1.4
            self._state = "authenticated"
        elif kind == "BYE":  # 7.1.5
            self._saw_bye = True
            self._state = "logout"
        elif kind in ("LIST", "LSUB", "STATUS"):  # 7.2.2, 7.2.3, 7.2.4
            where = 0 if kind == "STATUS" else 2  # index of the mailbox argument
            rest = shape.rest
            if size is not None:
                rest = rest[: rest.rfind(b"{")]
            tokens = _tokens(rest)
            if size is None and len(tokens) > where:
                self._add_mailbox(_text(tokens[where]))
            elif size is not None and len(tokens) == where and size <= _CAPTURE_MAX:
                self._capture = bytearray()

    def _add_mailbox(self, name: str) -> None:
        if name:
            self._mailboxes[name] = None

    def _learn_completion(self, cmd: _Command, kind: str) -> None:
        if self._state == "logout":
            return
        name, args = cmd.name, cmd.args
        if kind == "OK":
            if name in ("LOGIN", "AUTHENTICATE"):  # RFC 3501 6.2.2, 6.2.3
                self._state = "authenticated"
            elif name in ("SELECT", "EXAMINE"):  # 6.3.1, 6.3.2
                self._state = "selected"
                self._selected = args[0] if args else None
            elif name in ("CLOSE", "UNSELECT"):  # 6.4.2, RFC 3691
                self._state = "authenticated"
                self._selected = self._exists = None
            elif name == "CREATE" and args:
                self._add_mailbox(args[0])
            elif name == "DELETE" and args:
                self._mailboxes.pop(args[0], None)
            elif name == "RENAME" and len(args) >= 2:
                self._mailboxes.pop(args[0], None)
                self._add_mailbox(args[1])
        elif kind == "NO" and name in ("SELECT", "EXAMINE"):
            # RFC 3501 6.3.1: a failed SELECT leaves no mailbox selected.
            self._state = "authenticated"
            self._selected = self._exists = None

    # -- sending --------------------------------------------------------------
    def send(self, line: bytes) -> bytes:
        """Wire bytes for one line typed by the user; see the module docstring
        for tagging, literals, IDLE and AUTHENTICATE."""
        line = chop_eol(line)
        if self._mode == "literal":
            return self._send_literal_line(line)
        if b"\r" in line or b"\n" in line:
            raise LocalProtocolError("a command line cannot contain CR or LF (use :raw)")
        if self._mode == "wait-plus":
            cmd = self._current
            assert cmd is not None
            raise LocalProtocolError(
                f"{cmd.tag} waits for the server's '+' before the client may go on "
                "(RFC 3501 7.5); wait for it, or use :raw"
            )
        if self._raw_partial:
            # Finishes a line begun with send_raw: no tag can be added mid-line.
            self._learn(line + b"\r\n")
            return line + b"\r\n"
        if self._mode == "rest" and line and not line.startswith((b" ", b")")):
            # RFC 3501 9: what follows a literal on its line is SP, ")" or the
            # CRLF.  Any other line is a new command: this one ended with the
            # literal (``LOGIN bob {8}``, ``redqueen``, ``SELECT INBOX``).
            end = self._client_line(b"", autotag=True) + b"\r\n"
            return end + self._client_line(line, autotag=True) + b"\r\n"
        return self._client_line(line, autotag=True) + b"\r\n"

    def send_raw(self, data: bytes) -> bytes:
        """``data`` unchanged; the framer learns commands, tags and literals
        from it without enforcing anything."""
        self._learn(data)
        return data

    def _send_literal_line(self, line: bytes) -> bytes:
        cmd = self._current
        assert cmd is not None
        data = counted_piece(line, self._out_remaining, f"the literal of {cmd.tag}")
        self._literal_sent(cmd, data)
        return data

    def _literal_sent(self, cmd: _Command, data: bytes) -> None:
        self._out_remaining -= len(data)
        if cmd.capture is not None:
            cmd.capture += data
        if not self._out_remaining:
            self._literal_sent_all(cmd)

    def _literal_sent_all(self, cmd: _Command) -> None:
        if cmd.capture is not None:
            cmd.args.append(_text(cmd.capture))
            cmd.capture = None
        self._mode = "rest"

    def _learn(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            cmd = self._current
            if self._mode == "wait-plus" and cmd is not None:
                self._plus_received(cmd)  # sent without waiting: as if "+" had come
                continue
            if self._mode == "literal" and cmd is not None:
                take = min(self._out_remaining, n - i)
                if take:
                    self._literal_sent(cmd, data[i : i + take])
                    i += take
                else:
                    self._literal_sent_all(cmd)
                continue
            j = data.find(b"\n", i)
            if j < 0:
                if len(self._raw_partial) + n - i <= self.limits.max_line:
                    self._raw_partial += data[i:]
                return
            line = bytes(self._raw_partial) + data[i : j + 1]
            self._raw_partial.clear()
            i = j + 1
            self._client_line(chop_eol(line), autotag=False)

    def _client_line(self, line: bytes, autotag: bool) -> bytes:
        """Learn one complete client line (outside literal data); return it,
        tagged if ``autotag`` and it starts with a command name."""
        cmd = self._current
        if self._mode == "idle" and cmd is not None:
            # RFC 2177 3: the IDLE's continuation ("DONE"); never tagged.
            self._mode = "command"
            self._current = None
            return line
        if self._mode == "sasl" and cmd is not None:
            # RFC 3501 6.2.2: a SASL response (or "*" to cancel); never tagged.
            self._mode = "wait-plus"
            return line
        if self._mode == "rest" and cmd is not None:
            self._command_segment(cmd, line, first=False)
            return line
        first, _, rest = line.partition(b" ")
        wire = line
        second = _text(rest.partition(b" ")[0]) if rest else None
        if autotag and not typed_tag(_text(first), second):
            tag = self.next_tag()
            self._counter += 1
            wire = tag.encode("ascii") + b" " + line
            name = _text(first).upper()
        else:
            if not _TAG_RE.match(first):
                self._bad_owed += 1  # RFC 3501 7.1.3: an untagged BAD will answer it
                return wire
            tag = first.decode("ascii")
            self._note_user_tag(tag)
            word, _, rest = rest.partition(b" ")
            name = _text(word).upper()
        cmd = _Command(tag, name)
        self._commands.append(cmd)
        self._last_tag = tag
        if name == "LOGOUT":  # RFC 3501 6.1.3
            self._state = "logout"
        elif name in ("SELECT", "EXAMINE") and self._state != "logout":
            self._exists = None
        self._command_segment(cmd, rest, first=True)
        return wire

    def _note_user_tag(self, tag: str) -> None:
        digits = tag[len(self.tag_prefix) :]
        if tag.startswith(self.tag_prefix) and digits.isdigit() and len(digits) <= 9:
            self._counter = max(self._counter, int(digits) + 1)

    def _command_segment(self, cmd: _Command, segment: bytes, first: bool) -> None:
        """Learn one piece of a command line: its arguments, and whether it
        ends in a literal (RFC 3501 4.3, RFC 7888) or waits for "+"."""
        found = _literal_suffix(segment)
        literal = found if found is not None and found[0] >= 0 else None
        if cmd.name in _ARG_COMMANDS:
            args = segment[: segment.rfind(b"{")] if literal is not None else segment
            cmd.args.extend(_text(t) for t in _tokens(args))
        self._current = cmd
        if literal is not None:
            size, non_sync, _ = literal
            self._out_remaining = size
            capture = cmd.name in _ARG_COMMANDS and size <= _CAPTURE_MAX
            cmd.capture = bytearray() if capture else None
            if non_sync:  # RFC 7888: LITERAL+ sends at once
                self._mode = "literal"
                if not size:
                    self._literal_sent_all(cmd)
            else:
                self._mode = "wait-plus"
                cmd.after_plus = "literal"
        elif first and cmd.name == "IDLE":  # RFC 2177 3
            self._mode = "wait-plus"
            cmd.after_plus = "idle"
        elif first and cmd.name == "AUTHENTICATE":  # RFC 3501 6.2.2
            self._mode = "wait-plus"
            cmd.after_plus = "sasl"
        else:
            self._mode = "command"
            self._current = None

    def tls_started(self) -> None:
        """The TLS handshake after an accepted STARTTLS succeeded: forget the
        plaintext that followed the OK and the capabilities (RFC 3501 6.2.1:
        the client MUST discard cached capability information)."""
        if not self._tls_pending:
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self._tls_pending = False
        self._trailing = bytearray()
        eof = self._buf.eof
        self._buf = LineBuffer(self.limits.max_line)
        self._buf.eof = eof
        self._capabilities = ()
        self._state = "not-authenticated"
