"""``--record FILE`` / ``:record FILE``: a session observer that writes the
transcript notation as the session happens.

Client lines are recorded as sent (with IMAP's tag), except message text
after SMTP's 354, which is recorded as the user gave it (``Exchange.line``):
``.foo`` is written ``C: .foo`` and replaying it through the same framer
stuffs it exactly once.
Payloads are written as the lecture's narration, ``S: <server sends N
octets of message payload>``; their bytes go to ``--save-body`` if wanted.
The writer flushes after every line, and ``close()`` is safe to call twice,
so a Ctrl-C or a dropped connection loses nothing already seen.

A dialogue the shell ran for a meta-command that replay knows (``:auth plain
bob``) is recorded as that meta-command (``as_meta``), its lines as comments:
its secret line, recorded ``C: <redacted>``, could not be replayed (``--set
password=`` fills in a password, not the base64 SASL response made from it),
while ``replay --set password=...`` runs ``:auth`` again.  With
``plain_auth_as_meta`` (``protoshell proxy``, whose client types no
meta-commands) a client's own ``AUTH PLAIN <initial response>`` (smtplib's
and curl's way; IMAP's ``AUTHENTICATE PLAIN`` with SASL-IR) is recorded so
too, as ``:auth plain USER`` with the user taken from the response; and so
are ``AUTH LOGIN`` and ``AUTH PLAIN`` without an initial response, whose
user comes in the client's first response after the server's prompt: the
lines until then are held, and written as they came when that response
names no user (or the server refuses the mechanism).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TextIO

from .auth import sasl_start, sasl_user
from .proto.base import ConnectionClosed, Payload, ResponseEnd, ServerLine
from .session import Exchange, SessionError
from .target import Target
from .transcript.write import TranscriptWriter


class RecordingError(SessionError):
    """The recording could not be written (a full disk, a file size limit):
    one line for the user, exit code 2 as when the file cannot be opened.
    A ``SessionError``, so the session ends with it as for any failure and
    the caller's usual one-line report applies."""

    def __init__(self, message: str) -> None:
        super().__init__("usage", message)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Recorder:
    def __init__(self, writer: TranscriptWriter, target: Target) -> None:
        self.writer = writer
        self.target = target
        self._payload_size: int | None = None
        self._payload_total: int | None = None
        self._hung_up = False
        self._meta = False  # inside as_meta(): lines become comments
        # Record a redacted AUTH PLAIN with its initial response as :auth (see above).
        self.plain_auth_as_meta = False
        self._auth_meta = False  # inside such an :auth, until its final reply
        # Since an AUTH PLAIN/LOGIN without an initial response: its mechanism
        # and the exchanges held until the client's first response, the user.
        self._sasl_held: tuple[str, list[Exchange]] | None = None
        self.path: str | None = None  # set by open(), for the error message
        # Why the recording stopped (a write failed), and whether that was
        # already raised as RecordingError (else close() found it: the caller
        # reports it).
        self.error: str | None = None
        self.error_raised = False
        # Where a write failure goes instead of RecordingError (the shell: the
        # recording stops, the connection goes on).
        self.on_error: Callable[[str], None] | None = None

    @classmethod
    def open(cls, path: str, target: Target, *, redact: bool = True, mid_session: bool = False) -> Recorder:
        """Open (truncate) ``path`` and write the header and the connect line.

        ``mid_session``: the connection is already open (``:record`` in a
        running shell), so there is no connect line to write, and the file
        says that a replay needs the state the session had.  Raises OSError
        when the file cannot be written."""
        stream = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - closed by close()
        recorder = cls.to_stream(stream, target, redact=redact, mid_session=mid_session)
        recorder.path = path
        return recorder

    @classmethod
    def to_stream(cls, stream: TextIO, target: Target, *, redact: bool = True, mid_session: bool = False) -> Recorder:
        """As ``open``, into an open text stream, which ``close()`` closes."""
        writer = TranscriptWriter(stream, target=target.url, started=_now_iso(), protocol=target.protocol, redact=redact)
        if mid_session:
            writer.comment("recording started in the middle of a session: the greeting and what came")
            writer.comment("before are not here, so a replay must first bring a server to that state")
        else:
            writer.connect(target.port)
        return cls(writer, target)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that fails (a full disk, ``--record /dev/full`` once the
        open worked, a file size limit) ends the recording and raises
        ``RecordingError`` once, with one line; later calls do nothing."""
        try:
            yield
        except OSError as exc:
            self._broken(exc)
            self.error_raised = True
            if self.on_error is not None:
                self.on_error(self.error or "")
                return
            raise RecordingError(self.error or "") from None

    def _broken(self, exc: OSError) -> None:
        where = repr(self.path) if self.path is not None else "the transcript"
        self.error = f"cannot write the recording {where}: {exc.strerror or exc}"
        with suppress(OSError):
            self.writer.close()  # what could be written is in the file

    def reconnected(self) -> None:
        """The shell opened a new connection (``:reconnect``): record it, so a
        replay reconnects at the same point."""
        if self.writer.closed:
            return
        with self._writing():
            self._end_payload()
            if not self._hung_up:
                self.writer.hangup("C")
            self.writer.connect(self.target.port)
        self._hung_up = False

    @contextmanager
    def as_meta(self, command: str, *args: str) -> Iterator[None]:
        """Record ``:command args`` for the dialogue run inside the block; its
        server lines are kept as comments, its client lines (secrets) not at all."""
        if not self.writer.closed:
            with self._writing():
                self._end_payload()
                self.writer.meta(command, *args)
        self._meta = True
        try:
            yield
        finally:
            self._meta = False

    def __call__(self, ex: Exchange) -> None:
        if self.writer.closed:
            return
        with self._writing():
            self._observe(ex)

    def _observe(self, ex: Exchange) -> None:
        event = ex.event
        if self._auth_meta and isinstance(event, ResponseEnd) and event.outcome != "continue":
            self._meta = self._auth_meta = False  # the final reply (RFC 4954 4): :auth is over
            return
        if self._sasl_held is not None and self._held_sasl(ex):
            return
        if (
            self.plain_auth_as_meta
            and not self._meta
            and ex.direction == "C"
            and self.writer.redactor is not None
            and (start := sasl_start(ex.raw, self.target.protocol)) is not None
        ):
            mechanism, initial = start
            if initial is None:
                self._sasl_held = (mechanism, [ex])
                return
            if (user := sasl_user(mechanism, initial)) is not None:
                self._auth_as_meta(mechanism, user)
                return
        self._record(ex)

    def _auth_as_meta(self, mechanism: str, user: str, server_lines: Sequence[Exchange] = ()) -> None:
        """Write ``:auth MECHANISM USER``; the dialogue's server lines become comments."""
        self._end_payload()
        self.writer.meta("auth", mechanism, user)
        for held in server_lines:
            if isinstance(held.event, ServerLine):
                self.writer.comment(f"S: {held.raw.decode('utf-8', 'replace').rstrip()}")
        self._meta = self._auth_meta = True

    def _held_sasl(self, ex: Exchange) -> bool:
        """After ``AUTH PLAIN`` or ``AUTH LOGIN`` with no initial response:
        hold the server's prompt until the client's first response, which
        names the user.  True when ``ex`` was taken care of."""
        assert self._sasl_held is not None
        mechanism, held = self._sasl_held
        event = ex.event
        if ex.direction == "C" and isinstance(held[-1].event, ResponseEnd):
            self._sasl_held = None
            user = sasl_user(mechanism, ex.raw)
            if user is not None:
                self._auth_as_meta(mechanism, user, held[1:])
                return True
        elif ex.direction != "C" and not (isinstance(event, ResponseEnd) and event.outcome != "continue"):
            held.append(ex)  # the prompt (334, "+ ") and its turn's end
            return True
        else:  # refused (504), or not the dialogue expected: as it came
            self._sasl_held = None
        for earlier in held:
            self._record(earlier)
        return False

    def _record(self, ex: Exchange) -> None:
        event = ex.event
        if self._meta and not isinstance(event, ConnectionClosed):
            if ex.direction == "S" and isinstance(event, ServerLine):
                self.writer.comment(f"S: {ex.raw.decode('utf-8', 'replace').rstrip()}")
            return
        if isinstance(event, Payload) and ex.direction == "S":
            if self._payload_size is None or event.offset == 0:
                self._end_payload()
                self._payload_size = 0
                self._payload_total = event.total
            self._payload_size += len(event.raw)
            return
        self._end_payload()
        if ex.direction == "C":
            if ex.line is not None:
                self.writer.client(ex.line + b"\r\n")
            else:
                self.writer.client(ex.raw)
        elif ex.direction == "note":
            self.writer.comment(ex.note)
        elif isinstance(event, ConnectionClosed):
            if event.raw:
                self.writer.server(event.raw)
            self.writer.hangup("S")
            self._hung_up = True
        elif isinstance(event, ResponseEnd):
            return
        elif ex.raw:
            self.writer.server(ex.raw)

    def _end_payload(self) -> None:
        if self._payload_size is None:
            return
        size, total = self._payload_size, self._payload_total
        self._payload_size = self._payload_total = None
        self.writer.payload(size)
        if total is not None and size < total:
            self.writer.comment(f"incomplete: {size} of {total} octets arrived")

    def close(self, *, hangup: bool = False) -> None:
        """Finish the file; ``hangup`` records that the client ended the
        connection (not so for ``:stop`` in a shell that stays connected).
        A write that fails here sets ``error`` (not raised) for the caller."""
        if self.writer.closed:
            return
        try:
            self._end_payload()
            if hangup and not self._hung_up:
                self.writer.hangup("C")
            self.writer.close()
        except OSError as exc:  # never raises: an ExitStack or a finally calls it
            self._broken(exc)


def plain_auth_user(line: bytes, protocol: str) -> str | None:
    """The user of ``AUTH PLAIN <initial response>`` (``tag AUTHENTICATE
    PLAIN <...>`` in IMAP), as ``sasl_user`` finds it; else None."""
    start = sasl_start(line, protocol)
    if start is None or start[0] != "plain" or start[1] is None:
        return None
    return sasl_user("plain", start[1])
