"""IMAP4rev1 in the server role, sans-IO: commands in, responses out.

RFC 3501 (IMAP4rev1) for the grammar and the states, RFC 7888 for LITERAL+
(``{n+}``), RFC 2177 for IDLE, RFC 4315 for UIDPLUS, RFC 4959 for SASL-IR.

What this module does, and what it leaves to its caller
--------------------------------------------------------
``ImapServerConnection`` is fed the bytes a client sent (``receive_data``;
``b""`` is EOF) and hands out events (``next_event``):

=====================  ======================================================
event                  meaning / what the caller does
=====================  ======================================================
``ImapCommand``        a complete, syntactically valid command that is allowed
                       in the current state, with typed ``args``; the caller
                       executes it and ends it with ``send_tagged``
``CommandError``       a command that cannot be run (syntax, unknown command,
                       wrong state, literal over a limit); the caller sends
                       ``send_error(event)`` (``tag BAD reason``, or ``* BAD``
                       when there is no usable tag); ``fatal`` means: also
                       ``send_bye`` and close
``LiteralRequest``     a command line ended in ``{n}`` / ``{n+}``: the caller
                       says ``accept_literal()`` (its return value, ``+ Ready
                       for literal data`` for a synchronizing literal, goes on
                       the wire) or ``refuse_literal(status, text)``
``Payload``            a chunk of a streamed literal (the message of APPEND),
                       as it arrives; never accumulated here
``ContinuationLine``   after ``send_continuation`` (IDLE's ``DONE``, a SASL
                       response): the next line, not parsed as a command
``ConnectionClosed``   EOF; ``clean`` is false in the middle of a command
=====================  ======================================================

The caller executes commands (it owns the mailboxes, the clock, the files);
this module and the ``imap_*`` modules below own the wire: tags, atoms, quoted
strings, literals, lists, sequence sets, search keys, fetch items, the
per-connection state (``not-authenticated`` -> ``authenticated`` ->
``selected`` -> ``logout``, RFC 3501 3) and the serialisation of responses.
State changes happen when the caller *sends* the completion of a command, as
in h11: ``LOGIN`` answered ``OK`` authenticates, ``SELECT`` answered ``NO``
leaves the selected state (RFC 3501 6.3.1), ``STARTTLS`` answered ``OK`` stops
parsing until ``tls_started()`` (RFC 3501 6.2.1: whatever the client sent in
plaintext after the command is kept in ``trailing_data`` and thrown away).

Commands are handled one at a time: after ``ImapCommand`` the caller must
answer it (``send_tagged``) before asking for the next event, so pipelined
commands (the lecture's re-ordered exchange) are answered in order.

Bounded memory: a line is at most ``limits.max_line``; literals of ordinary
commands (a password, a search string) are kept only up to
``max_inline_literal`` and a whole command up to ``max_command``; the message
of APPEND is streamed as ``Payload`` chunks up to ``max_literal``.  Nothing
is pre-allocated from a size the client declared.  A synchronizing literal
over a limit is refused before the client sends it; a non-synchronizing one
(LITERAL+) is read and dropped up to ``max_literal`` (RFC 7888 4), beyond that
the connection is closed.

The rest of the server role: the tokens, sequence sets and dates are in
``imap_syntax``, the typed arguments in ``imap_args``, their grammars and the
command table (which state allows what) in ``imap_grammar``, the serialisation
of response data in ``imap_response``, and message data (sections, ENVELOPE,
SEARCH evaluation) in ``imap_message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from .base import (
    NEED_DATA,
    ConnectionClosed,
    Event,
    LineBuffer,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    Role,
    _NeedData,
    strip_eol,
)
from .imap import _TAG_RE, _literal_suffix
from .imap_args import AppendArgs, CommandArgs
from .imap_grammar import (
    _ANY,
    _COMMANDS,
    _FOREIGN_HINTS,
    _SELECTED,
    _UID_COMMANDS,
    ServerState,
    _append_prefix,
    _Args,
    _state_hint,
)
from .imap_syntax import ImapSyntaxError, StreamedLiteral, String, _Segment, tokenize

__all__ = [
    "DEFAULT_SERVER_LIMITS",
    "CommandError",
    "ContinuationLine",
    "ImapCommand",
    "ImapServerConnection",
    "ImapServerLimits",
    "LiteralRequest",
    "ServerState",
]


@dataclass(frozen=True, slots=True)
class ImapServerLimits:
    """Bounds that keep a connection's memory finite whatever the client sends."""

    max_line: int = 64 << 10  # one line, CRLF included (Dovecot uses 64 KiB too)
    max_inline_literal: int = 64 << 10  # a literal argument other than APPEND's message
    max_command: int = 1 << 20  # all lines and inline literals of one command
    max_literal: int = 32 << 20  # APPEND's message, streamed
    chunk_size: int = 256 << 10  # largest Payload handed out at once
    max_bad_commands: int = 20  # consecutive errors before the server hangs up


DEFAULT_SERVER_LIMITS: Final = ImapServerLimits()


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImapCommand(Event):
    """A complete command, valid in the state it arrived in.

    ``raw`` is the command as received except streamed literal octets.
    ``name`` is upper case; for ``UID FETCH`` it is ``FETCH`` with ``uid``
    true.
    """

    tag: str
    name: str
    uid: bool = False
    args: CommandArgs = None


@dataclass(frozen=True, slots=True)
class CommandError(Event):
    """A command that cannot be run; answer with ``send_error``.

    ``tag`` is None when the line had no usable tag (answered ``* BAD``).
    ``status`` is BAD (syntax, unknown, wrong state, over a limit).
    ``fatal`` asks the caller to say BYE and close (too many errors, a
    literal too big to skip).
    """

    tag: str | None
    reason: str
    status: Literal["BAD", "NO"] = "BAD"
    code: str | None = None
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class LiteralRequest(Event):
    """A command line ended in a literal marker; the caller decides.

    ``stream`` is true for APPEND's message: its octets will come as
    ``Payload`` events.  ``append`` holds the APPEND arguments parsed so far
    (mailbox, flags, date) so a missing mailbox can be refused before the
    client uploads anything (RFC 3501 6.3.11: NO [TRYCREATE]).
    """

    tag: str
    name: str
    size: int
    synchronizing: bool
    stream: bool
    append: AppendArgs | None = None


@dataclass(frozen=True, slots=True)
class ContinuationLine(Event):
    """A line sent after the server's ``+`` (IDLE's DONE, a SASL response)."""

    @property
    def line(self) -> bytes:
        return strip_eol(self.raw)


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------

_Mode = Literal[
    "line", "decide", "literal", "discard", "discard-rest", "skip", "continuation", "tls", "closed"
]


@dataclass(eq=False, slots=True)
class _Partial:
    """A command being assembled across lines and literals."""

    tag: str
    name: str
    uid: bool
    segments: list[_Segment] = field(default_factory=list)
    size: int = 0
    raw: bytearray = field(default_factory=bytearray)
    error: CommandError | None = None  # known bad: the rest is only read to stay in sync


class ImapServerConnection:
    """Server-role IMAP connection; see the module docstring for the contract."""

    protocol = "imap"
    role = Role.SERVER

    def __init__(self, limits: ImapServerLimits = DEFAULT_SERVER_LIMITS) -> None:
        self.limits = limits
        self._buf = LineBuffer(limits.max_line)
        self._mode: _Mode = "line"
        self._state: ServerState = "not-authenticated"
        self._partial: _Partial | None = None
        self._open: ImapCommand | None = None  # emitted, not yet answered
        self._lit_size = 0
        self._lit_left = 0
        self._lit_sync = False
        self._lit_stream = False
        self._lit_data: bytearray | None = None
        self._discard_left = 0
        self._trailing = bytearray()
        self._bad_count = 0
        self._tls_active = False

    # -- properties -----------------------------------------------------------
    @property
    def state(self) -> ServerState:
        return self._state

    @property
    def tls_pending(self) -> bool:
        """STARTTLS was accepted; the caller must do the handshake."""
        return self._mode == "tls"

    @property
    def tls_active(self) -> bool:
        return self._tls_active

    @property
    def trailing_data(self) -> bytes:
        """Plaintext the client sent after its accepted STARTTLS."""
        return bytes(self._trailing)

    @property
    def buffered(self) -> int:
        """Bytes received and not yet parsed (for the driver's flow control)."""
        return len(self._buf)

    @property
    def current(self) -> ImapCommand | None:
        """The command handed out and not yet answered."""
        return self._open

    # -- input ------------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the client; ``b""`` is EOF."""
        if self._mode == "tls" and data:
            # RFC 3501 6.2.1: nothing sent before the handshake is trusted.
            room = self.limits.max_line - len(self._trailing)
            self._trailing += data[: max(room, 0)]
            return
        if self._mode == "closed" and data:
            return
        self._buf.feed(data)

    def next_event(self) -> Event | _NeedData:
        """The next event, or NEED_DATA.  Raises LocalProtocolError when the
        caller asks while a command or a literal decision is unanswered."""
        if self._mode == "closed":
            return NEED_DATA
        if self._mode == "decide":
            raise LocalProtocolError("answer the LiteralRequest (accept_literal/refuse_literal)")
        if self._open is not None and self._mode != "continuation":
            raise LocalProtocolError(f"answer {self._open.tag} {self._open.name} first")
        for _ in range(1 << 16):  # each pass consumes input or returns
            ev = self._step()
            if ev is not None:
                return ev
        return NEED_DATA  # pragma: no cover - _step always makes progress

    def _step(self) -> Event | _NeedData | None:
        mode = self._mode
        if mode in ("tls", "closed"):
            return NEED_DATA
        if mode in ("literal", "discard"):
            return self._literal_bytes()
        try:
            line = self._buf.readline() if mode != "skip" else None
        except RemoteProtocolError:
            return self._line_too_long()
        if mode == "skip":
            return self._skip_line()
        if line is None:
            if self._buf.eof:
                return self._eof()
            return NEED_DATA
        if mode == "continuation":
            self._mode = "line"
            return ContinuationLine(line)
        if mode == "discard-rest":
            return self._discard_rest(line)
        return self._command_line(line)

    # -- lines ------------------------------------------------------------------
    def _command_line(self, line: bytes) -> Event | None:
        content = strip_eol(line)
        partial = self._partial
        if partial is None:
            start = self._start_command(content, line)
            if isinstance(start, CommandError):
                return self._error(start)
            partial, content = start
            self._partial = partial
        else:
            partial.raw += line
        found = _literal_suffix(content)
        if found is not None and found[0] < 0:
            partial.error = partial.error or _err(
                line, partial.tag, f"invalid literal size {{{found[2].decode('ascii', 'replace')}}}"
            )
            found = None
        text = content[: content.rfind(b"{")] if found is not None else content
        partial.segments.append(text)
        partial.size += len(text)
        if partial.size > self.limits.max_command and partial.error is None:
            partial.error = _err(
                line, partial.tag, f"command longer than {self.limits.max_command} bytes"
            )
        if found is None:
            return self._finish_command()
        size, non_sync, _ = found
        return self._literal_marker(size, not non_sync)

    def _start_command(self, content: bytes, line: bytes) -> tuple[_Partial, bytes] | CommandError:
        """Tag and command name of a new command (RFC 3501 2.2.1); returns the
        command being assembled and the argument bytes of this line."""
        if not content.strip():
            return _err(line, None, "empty command line (expected: tag command arguments)")
        tag_b, _, rest = content.partition(b" ")
        if not _TAG_RE.match(tag_b):
            return _err(line, None, f"invalid tag {tag_b[:40].decode('utf-8', 'replace')!r}")
        tag = tag_b.decode("ascii")
        word, _, args = rest.partition(b" ")
        word, brace, tail = word.partition(b"{")
        if brace:  # "LOGIN{3}": the literal belongs to the arguments
            args = b"{" + tail + (b" " + args if args else b"")
        name = word.decode("utf-8", "replace").upper()
        if not name:
            return _err(line, tag, "missing command after the tag")
        uid = False
        error: CommandError | None = None
        allowed = _ANY
        if name == "UID":
            sub, _, args = args.partition(b" ")
            subname = sub.decode("utf-8", "replace").upper()
            if subname in _UID_COMMANDS:
                name, uid = subname, True
            else:
                error = _err(line, tag, "UID takes FETCH, SEARCH, STORE, COPY or EXPUNGE")
            allowed = _SELECTED
        elif name in _COMMANDS:
            allowed = _COMMANDS[name][0]
        else:
            hint = _FOREIGN_HINTS.get(name)
            error = _err(line, tag, hint or f"unknown command {_printable(name[:40])}")
        if error is None and self._state not in allowed:
            error = _err(
                line,
                tag,
                f"{'UID ' if uid else ''}{name} is not allowed in the {self._state} state: "
                f"{_state_hint(self._state, allowed)}",
            )
        return _Partial(tag, name, uid, raw=bytearray(line), error=error), args

    def _literal_marker(self, size: int, sync: bool) -> Event | None:
        partial = self._partial
        assert partial is not None
        limits = self.limits
        stream = False
        append: AppendArgs | None = None
        if partial.error is None:
            if partial.name == "APPEND" and not partial.uid:
                try:
                    tokens = tokenize(partial.segments)
                except ImapSyntaxError as exc:
                    partial.error = _err(partial.raw, partial.tag, f"APPEND: {exc}")
                    tokens = []
                if tokens and partial.error is None:
                    stream = True
                    try:
                        a = _Args(tokens)
                        name, flags, date = _append_prefix(a)
                        a.end()
                    except ImapSyntaxError as exc:
                        partial.error = _err(partial.raw, partial.tag, f"APPEND: {exc}")
                    else:
                        append = AppendArgs(name, flags, date, None, size)
            if partial.error is None:
                if stream and size > limits.max_literal:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"message of {size} octets is over the limit of {limits.max_literal}",
                        code="TOOBIG",
                    )
                elif not stream and size > limits.max_inline_literal:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"literal of {size} octets is over the limit of "
                        f"{limits.max_inline_literal} for this argument",
                        code="TOOBIG",
                    )
                elif not stream and partial.size + size > limits.max_command:
                    partial.error = _err(
                        partial.raw,
                        partial.tag,
                        f"command longer than {limits.max_command} bytes",
                        code="TOOBIG",
                    )
        self._lit_size = size
        self._lit_sync = sync
        self._lit_stream = stream
        if partial.error is not None:
            error = partial.error
            self._partial = None
            if not sync:
                if size > limits.max_literal:
                    error = _with_fatal(error, "a non-synchronizing literal too big to skip")
                else:
                    self._discard_left = size
                    self._mode = "discard"
            return self._error(error)
        self._mode = "decide"
        return LiteralRequest(
            bytes(partial.raw), partial.tag, partial.name, size, sync, stream, append
        )

    def accept_literal(self) -> bytes:
        """Let the client send the literal; returns ``+ Ready for literal
        data`` for a synchronizing literal (RFC 3501 7.5), else b""."""
        if self._mode != "decide":
            raise LocalProtocolError("no literal is waiting for a decision")
        self._mode = "literal"
        self._lit_left = self._lit_size
        self._lit_data = None if self._lit_stream else bytearray()
        if self._lit_size == 0:
            self._literal_done()
        return b"+ Ready for literal data\r\n" if self._lit_sync else b""

    def refuse_literal(
        self, status: Literal["BAD", "NO"], text: str, code: str | None = None
    ) -> bytes:
        """Refuse the literal (and its command); returns the tagged response.
        The octets of a non-synchronizing literal are read and dropped."""
        if self._mode != "decide" or self._partial is None:
            raise LocalProtocolError("no literal is waiting for a decision")
        tag = self._partial.tag
        self._partial = None
        if self._lit_sync:
            self._mode = "line"
        else:
            self._mode = "discard"
            self._discard_left = self._lit_size
        if status == "BAD":
            self._bad_count += 1
        return _tagged_line(tag, status, text, code)

    def _literal_bytes(self) -> Event | _NeedData | None:
        if self._mode == "discard":
            while self._discard_left:
                chunk = self._buf.read(min(self._discard_left, self.limits.chunk_size))
                if not chunk:
                    return self._eof() if self._buf.eof else NEED_DATA
                self._discard_left -= len(chunk)
            self._mode = "discard-rest"
            return None
        chunk = self._buf.read(min(self._lit_left, self.limits.chunk_size))
        if not chunk:
            return self._eof() if self._buf.eof else NEED_DATA
        offset = self._lit_size - self._lit_left
        self._lit_left -= len(chunk)
        event: Event | None = None
        if self._lit_data is None:
            event = Payload(chunk, offset, self._lit_size)
        else:
            self._lit_data += chunk
        if not self._lit_left:
            self._literal_done()
        return event

    def _literal_done(self) -> None:
        partial = self._partial
        assert partial is not None
        if self._lit_data is None:
            partial.segments.append(StreamedLiteral(self._lit_size))
        else:
            data = bytes(self._lit_data)
            partial.segments.append(String(data, literal=True))
            partial.raw += data
            partial.size += len(data)
        self._lit_data = None
        self._mode = "line"

    def _discard_rest(self, line: bytes) -> Event | None:
        """The rest of a refused command: more non-synchronizing literals are
        dropped too; anything else ends it."""
        found = _literal_suffix(strip_eol(line))
        if found is not None and found[0] >= 0 and found[1]:
            if found[0] > self.limits.max_literal:
                self._mode = "line"
                return self._error(
                    _err(line, None, "a non-synchronizing literal too big to skip", fatal=True)
                )
            self._discard_left = found[0]
            self._mode = "discard"
            return None
        self._mode = "line"
        return None

    def _finish_command(self) -> Event:
        partial = self._partial
        assert partial is not None
        self._partial = None
        if partial.error is not None:
            return self._error(partial.error)
        try:
            tokens = tokenize(partial.segments)
            a = _Args(tokens)
            if partial.uid:
                args: CommandArgs = _UID_COMMANDS[partial.name](a)
            else:
                args = _COMMANDS[partial.name][1](a)
        except ImapSyntaxError as exc:
            return self._error(_err(partial.raw, partial.tag, f"{partial.name}: {exc}"))
        self._bad_count = 0
        command = ImapCommand(bytes(partial.raw), partial.tag, partial.name, partial.uid, args)
        self._open = command
        return command

    def _error(self, error: CommandError) -> CommandError:
        if error.status == "BAD":
            self._bad_count += 1
            if self._bad_count >= self.limits.max_bad_commands and not error.fatal:
                error = _with_fatal(error, f"{self._bad_count} bad commands in a row")
        if error.fatal:
            self._mode = "closed"
        return error

    def _line_too_long(self) -> Event | None:
        head = self._buf.peek(80)
        if self._mode == "continuation":
            # IDLE's DONE or a SASL response that never ends: hand over its
            # start (the caller answers the open command), then skip the rest.
            self._mode = "skip"
            return ContinuationLine(head)
        tag: str | None = None
        if self._partial is not None:
            tag = self._partial.tag
            self._partial = None
        else:
            word = head.partition(b" ")[0]
            if _TAG_RE.match(word):
                tag = word.decode("ascii")
        self._mode = "skip"
        return self._error(_err(head, tag, f"line longer than {self.limits.max_line} bytes"))

    def _skip_line(self) -> Event | _NeedData | None:
        data = self._buf.take_all()
        idx = data.find(b"\n")
        if idx < 0:
            return self._eof() if self._buf.eof else NEED_DATA
        eof = self._buf.eof
        self._buf = LineBuffer(self.limits.max_line)
        if idx + 1 < len(data):
            self._buf.feed(data[idx + 1 :])
        self._buf.eof = eof
        self._mode = "line"
        return None

    def _eof(self) -> ConnectionClosed:
        mid = (
            self._partial is not None
            or self._mode in ("literal", "discard", "decide", "continuation", "skip")
            or len(self._buf) > 0
        )
        if self._mode in ("literal", "discard"):
            reason = "the client closed the connection in the middle of a literal"
        elif self._partial is not None or len(self._buf):
            reason = "the client closed the connection in the middle of a command line"
        elif self._mode == "continuation":
            reason = "the client closed the connection while the server waited for it"
        else:
            reason = ""
        self._mode = "closed"
        self._partial = None
        return ConnectionClosed(b"", clean=not mid, reason=reason)

    # -- output -------------------------------------------------------------------
    def greeting(self, text: str, capabilities: Sequence[str] = ()) -> bytes:
        """``* OK [CAPABILITY ...] text`` (RFC 3501 7.1.1)."""
        code = "CAPABILITY " + " ".join(capabilities) if capabilities else None
        return _untagged_status("OK", text, code)

    def send_untagged(self, data: bytes | str) -> bytes:
        """``* data`` + CRLF; data must not hold CR or LF (use literals)."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if b"\r" in raw or b"\n" in raw:
            raise LocalProtocolError("an untagged line cannot hold CR or LF; use a literal")
        return b"* " + raw + b"\r\n"

    def send_ok(self, text: str, code: str | None = None) -> bytes:
        return _untagged_status("OK", text, code)

    def send_continuation(self, text: str = "") -> bytes:
        """``+ text``: the next line the client sends is handed out as a
        ``ContinuationLine`` (RFC 3501 7.5; IDLE, AUTHENTICATE)."""
        if self._open is None:
            raise LocalProtocolError("no command is waiting for a continuation")
        self._mode = "continuation"
        return b"+ " + _text(text) + b"\r\n" if text else b"+ \r\n"

    def send_tagged(
        self, tag: str, status: Literal["OK", "NO", "BAD"], text: str, code: str | None = None
    ) -> bytes:
        """The completion of the open command; updates the state (RFC 3501 3)."""
        command = self._open
        if command is None or command.tag != tag:
            raise LocalProtocolError(f"{tag} is not the command being answered")
        self._open = None
        if self._mode == "continuation":
            self._mode = "line"
        name = command.name
        if status == "OK":
            if name in ("LOGIN", "AUTHENTICATE"):
                self._state = "authenticated"
            elif name in ("SELECT", "EXAMINE"):
                self._state = "selected"
            elif name in ("CLOSE", "UNSELECT"):
                self._state = "authenticated"
            elif name == "LOGOUT":
                self._state = "logout"
                self._mode = "closed"
            elif name == "STARTTLS":
                self._mode = "tls"
                self._trailing += self._buf.take_all()
        elif name in ("SELECT", "EXAMINE") and self._state == "selected":
            self._state = "authenticated"  # RFC 3501 6.3.1: a failed SELECT closes
        if status == "BAD":
            self._bad_count += 1
        return _tagged_line(tag, status, text, code)

    def send_error(self, error: CommandError) -> bytes:
        """The response to a ``CommandError``: tagged, or ``* BAD``."""
        if error.tag is None:
            return _untagged_status(error.status, error.reason, error.code)
        return _tagged_line(error.tag, error.status, error.reason, error.code)

    def send_bye(self, text: str, code: str | None = None) -> bytes:
        """``* BYE``: the server is closing (RFC 3501 7.1.5)."""
        self._state = "logout"
        self._mode = "closed"
        return _untagged_status("BYE", text, code)

    def tls_started(self) -> None:
        """The TLS handshake after an accepted STARTTLS succeeded: drop the
        plaintext that followed the command and resume parsing."""
        if self._mode != "tls":
            raise LocalProtocolError("tls_started() without an accepted STARTTLS")
        self._trailing = bytearray()
        eof = self._buf.eof
        self._buf = LineBuffer(self.limits.max_line)
        self._buf.eof = eof
        self._mode = "line"
        self._tls_active = True


def _printable(text: str) -> str:
    """Client text echoed in a reply: control characters become ``?`` so a
    reply can never drive a terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _err(
    raw: bytes | bytearray,
    tag: str | None,
    reason: str,
    code: str | None = None,
    fatal: bool = False,
) -> CommandError:
    return CommandError(bytes(raw), tag, reason, "BAD", code, fatal)


def _with_fatal(error: CommandError, why: str) -> CommandError:
    return CommandError(
        error.raw, error.tag, f"{error.reason}; {why}", error.status, error.code, fatal=True
    )


def _text(text: str) -> bytes:
    """resp-text (RFC 3501 9): one line; CR/LF become spaces and other control
    characters ``?``, so text that echoes the client (a mailbox name) can
    neither end the line nor drive a terminal."""
    text = text.replace("\r", " ").replace("\n", " ")
    return _printable(text).encode("utf-8", "replace")


def _tagged_line(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    head = f"{tag} {status} " + (f"[{code}] " if code else "")
    return head.encode("utf-8") + _text(text) + b"\r\n"


def _untagged_status(status: str, text: str, code: str | None = None) -> bytes:
    head = f"* {status} " + (f"[{code}] " if code else "")
    return head.encode("utf-8") + _text(text) + b"\r\n"
