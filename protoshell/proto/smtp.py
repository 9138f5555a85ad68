"""SMTP, client role: frame the server's replies, follow the client's commands.

RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 2920 (PIPELINING), RFC 4954 (AUTH),
RFC 3030 (CHUNKING: BDAT).

What the framer knows about the conversation, and why:

* Every line the client sends outside message input expects exactly one reply
  (RFC 5321 4.2: "an SMTP client [...] waits for a reply to each command");
  with PIPELINING several can be in flight, answered in order (RFC 2920 3).
  ``pending`` counts the replies still owed; the 220 greeting counts as one at
  connect (RFC 5321 3.1).
* A reply is one or more lines ``ddd-text`` ... ``ddd text`` with the same code
  on every line (RFC 5321 4.2.1).  Each line becomes an ``SmtpReplyLine``; after
  the last one a ``ResponseEnd`` marks the client's turn.
* ``DATA`` answered by 354 switches to message input: lines sent then are
  message lines, dot-stuffed (RFC 5321 4.5.2) and unanswered, until the lone
  ``.`` which expects the final reply.  ``AUTH`` answered by 334 makes the next
  line a SASL response, not a command (RFC 4954 4).
* ``BDAT n [LAST]`` is followed at once by n octets of message, with no reply
  in between (RFC 3030 2): the lines sent next are that chunk, counted the way
  an IMAP literal is (``base.counted_piece``), never dot-stuffed, and BDAT's
  reply is owed only once the n octets are sent (``literal_remaining`` says how
  many are left).  Waiting for the reply first would hang: the server waits
  for the octets.
* A line sent while earlier replies are still outstanding is classified by
  *predicting* those replies (DATA -> 354, AUTH without an initial response ->
  334); when a reply contradicts the prediction the lines queued behind it are
  re-read the way the server really reads them.  So pipelined and interleaved
  conversations frame the same.
* STARTTLS answered by 220: everything received after that line is kept in
  ``trailing_data`` and never parsed, because plaintext that arrives before
  the TLS handshake may have been injected (RFC 3207 4.2, 6).  Lines the
  client pipelined after STARTTLS are forgotten: the server must discard them.

Reply codes must start with 2-5 (RFC 5321 4.2, ``Reply-code`` ABNF); a 1xx or
6xx "reply" is not SMTP and raises ``RemoteProtocolError``, like any other line
that is not a reply.  Bare LF line endings are accepted (the raw bytes keep
them), since a debugger should show a sloppy server rather than die on it.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

from .base import (
    DEFAULT_LIMITS,
    ConnectionClosed,
    Event,
    Limits,
    LocalProtocolError,
    Outcome,
    RemoteProtocolError,
    ResponseEnd,
    Role,
    ServerLine,
    chop_eol,
    counted_piece,
    one_line,
    strip_eol,
)
from .line_framer import LineReplyFramer
from .vocab import Command, ReplyCode, Vocabulary, replies, table

__all__ = [
    "MAX_EHLO_KEYWORDS",
    "VOCABULARY",
    "SmtpFramer",
    "SmtpReplyLine",
    "line_status",
    "outcome_of",
]

# ---------------------------------------------------------------------------
# Vocabulary (one table: completion, :help, :explain and the checker read it)
# ---------------------------------------------------------------------------

VOCABULARY: Final = Vocabulary(
    protocol="smtp",
    commands=table(
        Command(
            "HELO",
            "HELO domain",
            "RFC 5321 section 4.1.1.1",
            "identify the client by its domain (old style: no extensions)",
            "identify",
        ),
        Command(
            "EHLO",
            "EHLO domain",
            "RFC 5321 section 4.1.1.1",
            "identify the client; the reply lists the server's extensions",
            "identify",
        ),
        Command(
            "STARTTLS",
            "STARTTLS",
            "RFC 3207 section 4",
            "switch this connection to TLS (then say EHLO again)",
            "identify",
        ),
        Command(
            "AUTH",
            "AUTH mechanism [initial-response]",
            "RFC 4954 section 4",
            "log in with a SASL mechanism; 334 asks for the next base64 line",
            "identify",
            args=("auth-mechanism",),
        ),
        Command(
            "MAIL",
            "MAIL FROM:<reverse-path> [parameters]",
            "RFC 5321 section 4.1.1.2",
            "start a mail transaction: who the message is from",
            "ask",
        ),
        Command(
            "RCPT",
            "RCPT TO:<forward-path> [parameters]",
            "RFC 5321 section 4.1.1.3",
            "add one recipient to the transaction",
            "ask",
        ),
        Command(
            "DATA",
            "DATA",
            "RFC 5321 section 4.1.1.4",
            "send the message after 354; end it with a line holding only '.'",
            "answer",
        ),
        Command(
            "BDAT",
            "BDAT size [LAST]",
            "RFC 3030 section 2 (CHUNKING)",
            "the next size octets are part of the message, sent at once; LAST ends it",
            "answer",
        ),
        Command(
            "RSET",
            "RSET",
            "RFC 5321 section 4.1.1.5",
            "abort the current mail transaction",
            "ask",
        ),
        Command(
            "VRFY",
            "VRFY string",
            "RFC 5321 section 4.1.1.6",
            "ask whether a user or mailbox exists",
            "ask",
        ),
        Command(
            "EXPN",
            "EXPN string",
            "RFC 5321 section 4.1.1.7",
            "ask for the members of a mailing list",
            "ask",
        ),
        Command(
            "HELP",
            "HELP [string]",
            "RFC 5321 section 4.1.1.8",
            "ask the server for help text",
            "ask",
        ),
        Command(
            "NOOP",
            "NOOP [string]",
            "RFC 5321 section 4.1.1.9",
            "do nothing; the server answers 250 (keeps the connection alive)",
            "ask",
        ),
        Command(
            "QUIT",
            "QUIT",
            "RFC 5321 section 4.1.1.10",
            "say goodbye; the server answers 221 and closes",
            "goodbye",
        ),
    ),
    replies=replies(
        ReplyCode("211", "system status, or system help reply", "ok", "RFC 5321 4.2.3"),
        ReplyCode("214", "help message for a human reader", "ok", "RFC 5321 4.2.3"),
        ReplyCode("220", "service ready (greeting; or: go ahead with TLS)", "ok", "RFC 5321 4.2.3"),
        ReplyCode("221", "service closing transmission channel (goodbye)", "ok", "RFC 5321 4.2.3"),
        ReplyCode("235", "authentication succeeded", "ok", "RFC 4954 6"),
        ReplyCode("250", "requested mail action okay, completed", "ok", "RFC 5321 4.2.3"),
        ReplyCode("251", "user not local; will forward to <forward-path>", "ok", "RFC 5321 4.2.3"),
        ReplyCode(
            "252",
            "cannot VRFY user, but will accept the message and attempt delivery",
            "ok",
            "RFC 5321 4.2.3",
        ),
        ReplyCode(
            "334",
            "SASL challenge: send the next base64 line (or '*' to cancel)",
            "continue",
            "RFC 4954 4",
        ),
        ReplyCode("354", "start mail input; end with <CRLF>.<CRLF>", "continue", "RFC 5321 4.2.3"),
        ReplyCode(
            "421",
            "service not available, closing transmission channel",
            "temporary",
            "RFC 5321 4.2.3",
        ),
        ReplyCode("432", "a password transition is needed", "temporary", "RFC 4954 6"),
        ReplyCode(
            "450",
            "mailbox unavailable (busy, or blocked for policy reasons); try again later",
            "temporary",
            "RFC 5321 4.2.3",
        ),
        ReplyCode(
            "451",
            "requested action aborted: local error in processing",
            "temporary",
            "RFC 5321 4.2.3",
        ),
        ReplyCode(
            "452",
            "requested action not taken: insufficient system storage",
            "temporary",
            "RFC 5321 4.2.3",
        ),
        ReplyCode(
            "454",
            "TLS not available, or temporary authentication failure",
            "temporary",
            "RFC 3207 4, RFC 4954 6",
        ),
        ReplyCode("455", "server unable to accommodate parameters", "temporary", "RFC 5321 4.2.3"),
        ReplyCode("500", "syntax error, command unrecognized", "error", "RFC 5321 4.2.3"),
        ReplyCode("501", "syntax error in parameters or arguments", "error", "RFC 5321 4.2.3"),
        ReplyCode("502", "command not implemented", "error", "RFC 5321 4.2.3"),
        ReplyCode("503", "bad sequence of commands", "error", "RFC 5321 4.2.3"),
        ReplyCode("504", "command parameter not implemented", "error", "RFC 5321 4.2.3"),
        ReplyCode(
            "530",
            "authentication required (or: issue STARTTLS first)",
            "error",
            "RFC 4954 6, RFC 3207 4",
        ),
        ReplyCode("534", "authentication mechanism is too weak", "error", "RFC 4954 6"),
        ReplyCode("535", "authentication credentials invalid", "error", "RFC 4954 6"),
        ReplyCode(
            "538",
            "encryption required for the requested authentication mechanism",
            "error",
            "RFC 4954 6",
        ),
        ReplyCode(
            "550",
            "mailbox unavailable (not found, no access, or refused by policy)",
            "error",
            "RFC 5321 4.2.3",
        ),
        ReplyCode("551", "user not local; please try <forward-path>", "error", "RFC 5321 4.2.3"),
        ReplyCode(
            "552",
            "requested mail action aborted: exceeded storage allocation",
            "error",
            "RFC 5321 4.2.3",
        ),
        ReplyCode("553", "mailbox name not allowed (e.g. bad syntax)", "error", "RFC 5321 4.2.3"),
        ReplyCode(
            "554",
            "transaction failed (in the greeting: no SMTP service here)",
            "error",
            "RFC 5321 4.2.3",
        ),
        ReplyCode(
            "555",
            "MAIL FROM/RCPT TO parameters not recognized or not implemented",
            "error",
            "RFC 5321 4.2.3",
        ),
    ),
    words={
        # EHLO keywords (RFC 5321 4.1.1.1; the extensions' own RFCs).
        "esmtp-keyword": (
            "8BITMIME",
            "AUTH",
            "BINARYMIME",
            "CHUNKING",
            "DSN",
            "ENHANCEDSTATUSCODES",
            "ETRN",
            "EXPN",
            "HELP",
            "PIPELINING",
            "SIZE",
            "SMTPUTF8",
            "STARTTLS",
            "VRFY",
        ),
        # SASL mechanisms usually offered after EHLO's AUTH keyword.
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

# How many EHLO keywords we remember: enough for any real server, and a bound
# on memory when a hostile server sends endless ``250-`` lines.
MAX_EHLO_KEYWORDS: Final = 64
_MAX_PARAM_CHARS: Final = 1000


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpReplyLine(ServerLine):
    """One line of a reply.  ``status`` is ``"250-"`` for a continuation line
    and ``"250"`` for the last line; ``last`` says the same as a bool."""

    code: int
    last: bool


# ---------------------------------------------------------------------------
# Reply-line syntax, shared by the framer and the replay checker
# ---------------------------------------------------------------------------

# RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
#                            Reply-code [ SP textstring ] CRLF
_REPLY_RE: Final = re.compile(rb"(\d{3})(?:([ -])(.*))?", re.DOTALL)

_OUTCOMES: Final[dict[int, Outcome]] = {2: "ok", 3: "continue", 4: "temporary", 5: "error"}


def outcome_of(code: int) -> Outcome:
    """The outcome a reply code reads as: by its first digit (RFC 5321 4.2.1)."""
    return _OUTCOMES.get(code // 100, "error")


def _parse_reply(body: bytes) -> tuple[int, bool, bytes] | None:
    """(code, is-last-line, text) of a reply line without its terminator, or
    None when it is not an SMTP reply line."""
    m = _REPLY_RE.fullmatch(body)
    if m is None or m[1][:1] not in b"2345":
        return None
    return int(m[1]), m[2] != b"-", m[3] or b""


def line_status(text: str) -> str | None:
    """The status token of a server line: ``"250-"`` (continuation), ``"250"``
    (last line of a reply), or None when the text is not a reply line."""
    parsed = _parse_reply(strip_eol(text.encode("utf-8", "replace")))
    if parsed is None:
        return None
    code, last, _ = parsed
    return f"{code}" if last else f"{code}-"


def _short(data: bytes, limit: int = 60) -> str:
    """A repr of the start of ``data`` for error messages."""
    if len(data) <= limit:
        return repr(data)
    return f"{data[:limit]!r}... ({len(data)} bytes)"




# ---------------------------------------------------------------------------
# The framer
# ---------------------------------------------------------------------------

# How the server reads the next line the client sends.
_Mode = Literal["command", "data", "auth"]
# What a sent line is: "data" lines get no reply, every other kind gets one.
_Kind = Literal["greeting", "command", "sasl", "data", "end"]

# A sent line keeps at most this many bytes: enough to classify it again.
_KEEP: Final = 80

# Commands whose reply changes more than the turn (modes, extensions, TLS,
# the end of the session): send_ahead leaves them alone.
_STATEFUL_VERBS: Final = frozenset({"DATA", "BDAT", "AUTH", "STARTTLS", "QUIT", "EHLO", "HELO"})


@dataclass(slots=True)
class _Sent:
    """A line on its way to the server (or the greeting we wait for)."""

    head: bytes  # the first _KEEP bytes of the line as the server reads it
    kind: _Kind
    verb: str  # upper-case command word for kind "command", else ""
    before: _Mode  # how the server reads this line (predicted)
    after: _Mode  # how it will read the next one (predicted)


def _classify(line: bytes, mode: _Mode) -> _Sent:
    head = line[:_KEEP]
    if mode == "data":
        # RFC 5321 4.1.1.4: the message ends with a line holding a single ".".
        if line == b".":
            return _Sent(head, "end", "", mode, "command")
        return _Sent(head, "data", "", mode, "data")
    if mode == "auth":
        # RFC 4954 4: after 334 the client sends a base64 line (or "*").
        return _Sent(head, "sasl", "", mode, "command")
    words = line.split(None, 2)
    verb = words[0].decode("ascii", "replace").upper() if words else ""
    after: _Mode = "command"
    if verb == "DATA":
        after = "data"  # predicted: 354
    elif verb == "AUTH" and len(words) == 2:
        after = "auth"  # no initial response: predicted 334
    return _Sent(head, "command", verb, mode, after)


def _bdat_size(line: bytes) -> int | None:
    """The chunk size of ``BDAT size [LAST]`` (RFC 3030 2), None if unreadable
    (the server will say 501; nothing follows the line then)."""
    words = line.split()
    if len(words) >= 2 and words[1].isdigit() and len(words[1]) <= 18:
        return int(words[1])
    return None


class SmtpFramer(LineReplyFramer):
    """Sans-IO SMTP client: feed server bytes, read events, send commands.

    Public state for the shell: ``pending``, ``state`` ("greeting", "command",
    "auth", "data", "chunk", "tls-pending", "closed"), ``in_data``,
    ``literal_remaining`` (a BDAT chunk), ``ehlo_keywords``,
    ``auth_mechanisms``, ``trailing_data``.
    """

    protocol = "smtp"
    role = Role.CLIENT
    STARTTLS_WORD = "STARTTLS"
    STARTTLS_RFC = "RFC 3207 4.2"

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        super().__init__(limits)
        # Lines sent and not yet answered, oldest first; starts with the
        # greeting (RFC 5321 3.1).  Only entries that await a reply sit at
        # the head: message lines are dropped once nothing is ahead of them.
        self._queue: deque[_Sent] = deque([_Sent(b"", "greeting", "", "command", "command")])
        self._awaiting = 1  # entries in _queue that expect a reply
        self._mode: _Mode = "command"  # how the server reads a line when _queue is empty
        self._cur_code: int | None = None  # code of a multi-line reply in progress
        self._cur_lines = 0
        self._ehlo: dict[str, str] = {}
        self._ehlo_new: dict[str, str] = {}
        self._goodbye = ""  # set when the server announced it closes (221/421)
        # A BDAT whose chunk is still being sent, and the octets it still needs.
        self._chunk_for: _Sent | None = None
        self._chunk_left = 0

    # -- public state ------------------------------------------------------

    @property
    def pending(self) -> int:
        """Replies still owed by the server (the greeting counts at connect)."""
        return self._awaiting

    @property
    def literal_remaining(self) -> int | None:
        """Octets of a BDAT chunk still owed (the next ``send`` is chunk data,
        RFC 3030 2), else None; named as IMAP's, which a prompt reads."""
        return self._chunk_left if self._chunk_for is not None else None

    @property
    def mid_command(self) -> bool:
        """True while the next line belongs to a BDAT's chunk, where an empty
        line is data (two octets) and no command."""
        return self._chunk_for is not None

    @property
    def in_data(self) -> bool:
        """True while the server takes message lines (after 354, before '.')."""
        return self._mode == "data" and not self._queue and not self._tls_pending

    @property
    def sending_data(self) -> bool:
        """True when the next line sent is message text (DATA was sent and
        its 354 is expected or came), so it travels dot-stuffed (RFC 5321
        4.5.2); what a proxy needs to record the line as the user typed it."""
        return self._tail_mode() == "data" and not self._raw_partial

    @property
    def state(self) -> str:
        if self._eof or self._goodbye:
            return "closed"
        if self._tls_pending:
            return "tls-pending"
        if self._queue and self._queue[0].kind == "greeting":
            return "greeting"
        if self.in_data:
            return "data"
        if self._chunk_for is not None:
            return "chunk"
        if self._mode == "auth" and not self._queue:
            return "auth"
        return "command"

    @property
    def ehlo_keywords(self) -> dict[str, str]:
        """Extensions from the last successful EHLO reply: keyword -> params
        (``{"SIZE": "20971520", "PIPELINING": ""}``).  Emptied by HELO and by
        tls_started() (RFC 3207 4.2: forget what was learned before TLS)."""
        return dict(self._ehlo)

    @property
    def auth_mechanisms(self) -> tuple[str, ...]:
        """SASL mechanisms from the EHLO AUTH keyword (RFC 4954 3)."""
        return tuple(self._ehlo.get("AUTH", "").upper().split())

    def _line_error(self, exc: RemoteProtocolError) -> str:
        return f"{exc} (RFC 5321 4.5.3.1.5: a reply line is at most 512 octets)"

    # -- receiving -----------------------------------------------------------

    def _on_line(self, line: bytes) -> Event:
        parsed = _parse_reply(strip_eol(line))
        if parsed is None:
            self._fail(
                f"not an SMTP reply line: {_short(line)} (RFC 5321 4.2: a reply is a "
                "code 2xx-5xx, then '-', a space or the end of the line)"
            )
        code, last, text = parsed
        if self._cur_code is not None and code != self._cur_code:
            self._fail(
                f"reply code changed from {self._cur_code} to {code} inside a multi-line "
                f"reply: {_short(line)} (RFC 5321 4.2.1: every line carries the same code)"
            )
        head = self._queue[0] if self._queue else None
        if head is not None and head.verb == "EHLO" and self._cur_lines >= 1:
            self._learn_keyword(text)  # line 1 is the domain, then keywords
        self._cur_lines += 1
        event = SmtpReplyLine(
            raw=line,
            status=f"{code}" if last else f"{code}-",
            outcome=outcome_of(code),
            code=code,
            last=last,
        )
        if last:
            self._cur_code = None
            self._cur_lines = 0
            self._ready.append(self._reply_complete(code))
        else:
            self._cur_code = code
        return event

    def plain_reply_status(self, data: bytes) -> str | None:
        """``"250"`` when ``data`` is exactly one final reply line whose code
        is 2xx, 4xx or 5xx but not 421 (a goodbye); otherwise None.  Pure."""
        end = len(data) - 1
        if data.find(b"\n") != end or data[end - 1 : end] != b"\r" or end > self.limits.max_line:
            return None
        code = data[:3]
        if not code.isdigit() or code[0] not in b"245" or code == b"421" or data[3:4] not in b" \r":
            return None
        return code.decode("ascii")

    def send_ahead(self, line: bytes) -> bytes | None:
        """What ``send(line)`` will return after the reply now owed, when
        that is known before it comes; otherwise None.  Pure.

        Known when the framer waits for nothing but the reply to one
        ordinary command (not DATA, AUTH, STARTTLS, QUIT, EHLO, HELO), with
        no reply begun.  Then, if the next bytes received are a plain reply
        (``plain_reply_status`` is not None), ``send(line)`` before
        ``receive_data(them)`` gives the same bytes, events and state as
        the other order: such a reply ends the turn and leaves the server
        reading commands, which is what ``send()`` predicts while it is
        owed.  That lets a replay put its next line on the wire before the
        reply is framed (``Session.presend_plan``)."""
        if (
            self._awaiting != 1
            or self._cur_code is not None
            or self._goodbye
            or self._ready
            or self._raw_partial
            or self._tls_pending
            or self._eof
            or self._error is not None
            or len(self._queue) != 1
            or len(self._buf)
        ):
            return None
        entry = self._queue[0]
        if entry.kind != "command" or entry.after != "command" or entry.verb in _STATEFUL_VERBS:
            return None
        try:
            return one_line(line) + b"\r\n"
        except LocalProtocolError:
            return None

    def _learn_keyword(self, text: bytes) -> None:
        # RFC 5321 4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ).  Some
        # servers still write "AUTH=LOGIN PLAIN" (pre-RFC 4954 clients).
        m = re.fullmatch(rb"([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?", text.strip(), re.DOTALL)
        if m is None:
            return
        keyword = m[1].decode("ascii").upper()
        params = (m[2] or b"").decode("utf-8", "replace").strip()[:_MAX_PARAM_CHARS]
        if keyword in self._ehlo_new:
            if keyword == "AUTH":
                known = self._ehlo_new["AUTH"].split()
                extra = [p for p in params.split() if p not in known]
                self._ehlo_new["AUTH"] = " ".join(known + extra)[:_MAX_PARAM_CHARS]
            return
        if len(self._ehlo_new) < MAX_EHLO_KEYWORDS:
            self._ehlo_new[keyword] = params

    def _reply_complete(self, code: int) -> ResponseEnd:
        """Match a complete reply to the oldest line awaiting one and update
        what the server will do with the lines after it."""
        starttls = False
        learned, self._ehlo_new = self._ehlo_new, {}
        if not self._queue:
            # Unsolicited (RFC 5321 3.8: a 421 when the server shuts down).
            if code == 421:
                self._goodbye = "421"
            return ResponseEnd(raw=b"", status=str(code), outcome=outcome_of(code))
        entry = self._queue.popleft()
        self._awaiting -= 1
        mode: _Mode = "command"
        if entry.kind == "sasl" and code == 334:
            mode = "auth"
        elif entry.kind == "command":
            if entry.verb == "DATA" and code == 354:
                mode = "data"
            elif entry.verb == "AUTH" and code == 334:
                mode = "auth"
            elif entry.verb == "EHLO":
                self._ehlo = learned if code // 100 == 2 else {}
            elif entry.verb == "HELO" and code // 100 == 2:
                self._ehlo = {}  # RFC 5321 4.1.1.1: HELO means no extensions
            elif entry.verb == "STARTTLS" and code == 220:
                starttls = True
            elif entry.verb == "QUIT" and code == 221:
                self._goodbye = "221"
        if code == 421:
            self._goodbye = "421"  # RFC 5321 3.8: the server closes after 421
        if starttls or self._goodbye:
            # The server ignores anything pipelined after STARTTLS (RFC 3207
            # 4.2) or after its goodbye: no replies will come for those lines.
            self._queue.clear()
            self._awaiting = 0
        if starttls:
            self._tls_pending = True
            self._keep_trailing(self._buf.take_all())
        self._mode = mode
        if self._queue and self._queue[0].before != mode:
            self._requeue()
        self._drop_leading_data()
        return ResponseEnd(raw=b"", status=str(code), outcome=outcome_of(code), starttls=starttls)

    def _requeue(self) -> None:
        """A reply contradicted a prediction: classify the queued lines again,
        the way the server reads them now."""
        old = list(self._queue)
        self._queue.clear()
        self._awaiting = 0
        for entry in old:
            self._push(entry.head)

    def _drop_leading_data(self) -> None:
        while self._queue and self._queue[0].kind == "data":
            self._mode = self._queue.popleft().after

    def _closed(self) -> ConnectionClosed:
        self._closed_sent = True
        partial = self._buf.take_all()
        if partial:
            clean, reason = False, "connection closed in the middle of a line"
        elif self._cur_code is not None:
            clean = False
            reason = f"connection closed in the middle of a multi-line {self._cur_code} reply"
        elif self._goodbye:
            clean, reason = True, f"server closed the connection after {self._goodbye}"
        elif self._tls_pending:
            clean, reason = False, "connection closed before the TLS handshake"
        elif self._awaiting:
            clean = False
            owed = "1 reply" if self._awaiting == 1 else f"{self._awaiting} replies"
            reason = f"connection closed with {owed} outstanding"
        elif self.in_data or self._mode == "data":
            clean, reason = False, "connection closed during message input (after 354)"
        else:
            clean, reason = True, "server closed the connection"
        return ConnectionClosed(raw=partial, clean=clean, reason=reason)

    # -- sending -----------------------------------------------------------

    def _tail_mode(self) -> _Mode:
        return self._queue[-1].after if self._queue else self._mode

    def _push(self, line: bytes) -> None:
        entry = _classify(line, self._tail_mode())
        if entry.verb == "BDAT":
            size = _bdat_size(line)
            if size:
                self._chunk_for, self._chunk_left = entry, size
                return
        if entry.kind == "data" and not self._queue:
            self._mode = "data"  # read as a message line at once, no reply
            return
        self._queue.append(entry)
        if entry.kind != "data":
            self._awaiting += 1

    def send_raw(self, data: bytes) -> bytes:
        """``data`` unchanged, counted as ``LineReplyFramer.send_raw`` does,
        except that the octets of a BDAT chunk are counted as chunk data
        (a chunk need not end with a line: ``C: hello\\c`` in a transcript)."""
        self._check_can_send()
        rest = data
        while rest:
            if self._chunk_for is not None:
                take = min(self._chunk_left, len(rest))
                self._chunk_sent(take)
                rest = rest[take:]
                continue
            end = rest.find(b"\r\n")
            piece, rest = (rest, b"") if end < 0 else (rest[: end + 2], rest[end + 2 :])
            super().send_raw(piece)
        return data

    def _chunk_sent(self, octets: int) -> None:
        """``octets`` of the BDAT chunk went out; at its end BDAT awaits its reply."""
        entry = self._chunk_for
        assert entry is not None
        self._chunk_left -= octets
        if self._chunk_left <= 0:
            self._chunk_for, self._chunk_left = None, 0
            self._queue.append(entry)
            self._awaiting += 1

    def send(self, line: bytes) -> bytes:
        """Wire bytes for one line: a command, a SASL response, (after 354) a
        message line, dot-stuffed, ``b"."`` ending the message; or a piece of
        a BDAT chunk (see the module docstring)."""
        self._check_can_send()
        if self._chunk_for is not None:
            data = counted_piece(chop_eol(line), self._chunk_left, "the BDAT chunk")
            self._chunk_sent(len(data))
            return data
        line = one_line(line)
        stuff = self._tail_mode() == "data" and not self._raw_partial
        if stuff and line.startswith(b".") and line != b".":
            # RFC 5321 4.5.2: a message line starting with "." gets another.
            line = b"." + line
        seen = self._raw_partial + line  # what the server will read as one line
        self._raw_partial = b""
        self._push(seen)
        return line + b"\r\n"

    def tls_started(self) -> None:
        """TLS is up after an accepted STARTTLS: drop the plaintext buffers and
        the EHLO knowledge (RFC 3207 4.2), and parse again."""
        self._reset_after_tls()
        self._ehlo = {}
        self._ehlo_new = {}
        self._cur_code = None
        self._cur_lines = 0
        self._mode = "command"
