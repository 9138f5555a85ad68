"""``protoshell.connect()``: a conversation scripted from Python, byte-exact.

smtplib, poplib and imaplib hide the bytes and make the caller know the
protocol's framing; this gives a script what the shell shows a person: each
response framed by the protocol's own framer (the one the shell, pipe mode
and replay use: nothing here knows a protocol rule), its exact bytes, and a
transcript that ``protoshell replay`` can check against a server later::

    with protoshell.connect("imap://127.0.0.1:1143", timeout=10) as c:
        c.greeting                          # the server's first response
        r = c.send("LOGIN bob redqueen")    # tagged A0001 by the framer
        r.ok, r.status, r.lines, r.raw

Synchronous, with no event loop at all.  A connection is a pull-mode
``Session`` on a ``BlockingTransport``, whose coroutines never suspend
(they block in ``recv`` instead), so each call steps its coroutine once, by
hand (``_drive``), and it runs to its end.  That works in the three places a
script runs: a plain script, a notebook cell, and code called from inside a
running event loop (an async test, Jupyter), where ``asyncio.run`` would
refuse to start.  A private loop on a helper thread would work there too,
but costs a thread and two hand-offs per command and runs the observers
(recorder, body saver) on another thread than the caller's.  Like any
blocking client (smtplib), a call made from inside a loop blocks that loop
until the response is complete or ``timeout`` passes.  Ctrl-C is a plain
KeyboardInterrupt (or, under ``asyncio.run``, a cancellation seen within a
quarter of a second: ``session.PULL_SLICE``).  A connection is not
thread-safe: use it from one thread.

Limits are the session's: a response keeps its first ``LAST_RESPONSE_LINES``
lines (as ``:last`` does) and its last one, and at most ``max_payload``
bytes of payload (IMAP literals, an HTTP body) in memory; ``send(...,
save_body=PATH)`` streams the payload (or a POP3 message) to a file instead
(``save_body.BodySaver``, as ``--save-body``), so a response of any size
costs bounded memory.
"""

from __future__ import annotations

# pytest leaves this module's frames out of a failing test's traceback
# (`--fulltrace` shows them): a test that calls `c.send(..., check=True)`
# fails at its own line with RefusedError's one line, not in the API's insides.
__tracebackhide__ = True

import contextlib
import dataclasses
import email.message
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any, ClassVar, Concatenate, Final, ParamSpec, Self, TextIO, TypeVar, cast

from .proto.base import Outcome, Payload, ResponseEnd, ServerLine, short_repr, strip_eol
from .recorder import Recorder
from .save_body import BodySaver
from .session import LAST_RESPONSE_LINES, Exchange, Session, SessionError
from .status import ExitStatus
from .target import Target, TargetError, parse_target
from .transport import TlsInfo

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "Connection",
    "Error",
    "NetworkError",
    "ProtocolError",
    "RefusedError",
    "Response",
    "UsageError",
    "connect",
]

DEFAULT_MAX_PAYLOAD: Final = 1 << 20  # payload bytes a Response keeps in memory (save_body: none)
SPOOL_MEMORY: Final = 1 << 20  # characters of transcript kept in memory before a temporary file
REPR_BYTES: Final = 200  # bytes of raw and body a Response's repr shows
REPR_LINES: Final = 10  # lines a Response's repr shows (the last one always)
HANGUP_GRACE: Final = 1.0  # seconds close() gives a server that said goodbye to close first

_T = TypeVar("_T")
_P = ParamSpec("_P")


# -- errors -------------------------------------------------------------------


class Error(Exception):
    """Base of the errors ``protoshell.connect`` and ``Connection`` raise.
    ``str()`` is one line for a person; ``kind`` is the session's word for
    what happened (``refused``, ``timeout``, ``tls``, ``reset``,
    ``protocol``, ``usage``...).  ``exit_code`` is the CLI's for the same
    failure (1 refused, 2 usage, 3 network), for ``sys.exit(exc.exit_code)``."""

    exit_code: ClassVar[int] = ExitStatus.NETWORK

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class NetworkError(Error):
    """The network failed us: refused, unknown host, timeout, reset, closed,
    a TLS handshake or certificate that failed (CLI exit code 3)."""


class ProtocolError(Error):
    """The server broke the protocol or went over a limit (a line longer
    than 1 MiB, a reply code SMTP does not have...); the connection cannot
    be trusted to be in step any more and is dead (CLI exit code 3)."""


class UsageError(Error, ValueError):
    """What the script asked for cannot be done: a bad URL, a line with CR
    or LF in it, STARTTLS over HTTP, an unreadable CA file (CLI exit 2)."""

    exit_code: ClassVar[int] = ExitStatus.USAGE


class RefusedError(Error):
    """The server refused (5xx, ``-ERR``, ``NO``/``BAD``, HTTP 4xx/5xx):
    raised only when asked (``check=True``, ``Response.raise_for_status()``)
    and when STARTTLS is refused.  ``response`` is the refusal (CLI exit 1)."""

    exit_code: ClassVar[int] = ExitStatus.REFUSED

    def __init__(self, response: Response, message: str = "") -> None:
        last = response.lines[-1] if response.lines else "(no reply)"
        super().__init__(message or f"the server refused: {last}", "refused-by-server")
        self.response = response

    def __reduce__(self) -> tuple[type[RefusedError], tuple[Response, str]]:
        """Pickled (a process pool's result) and copied with its response."""
        return (type(self), (self.response, str(self)))


def _error_for(exc: SessionError) -> Error:
    message = str(exc)
    if exc.kind == "usage":
        return UsageError(message, exc.kind)
    if exc.kind == "protocol":
        return ProtocolError(message, exc.kind)
    if exc.kind == "observer":  # the body saver or a recorder failed (disk full...)
        return Error(message, exc.kind)
    return NetworkError(message, exc.kind)


class _mapped:
    """SessionError, the session's one error type, as the API's exceptions.

    A class, not a ``contextlib.contextmanager``: the error is raised in this
    module's frame, which pytest hides (``__tracebackhide__`` above), not in
    contextlib's, which it would show in a test's failure."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, SessionError):
            raise _error_for(exc) from None


def _drive(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a pull-mode session's coroutine to its end without an event
    loop: it never suspends (see the module docstring), so one step does."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(_T, done.value)
    coro.close()
    raise RuntimeError("a pull-mode session coroutine suspended; protoshell.api cannot drive it")


# -- responses ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Response:
    """One response, as the protocol's framer delimited it.

    - ``ok``: the server did not refuse (not 4xx/5xx, ``-ERR``, ``NO``, ``BAD``).
    - ``status``: the token the replay checker compares (``"250"``,
      ``"+OK"``, ``"A0002 OK"``, ``"HTTP 200"``); ``outcome``: how it reads
      ("ok", "continue", "temporary", "error", "info").  Both None when the
      line sent awaited no reply (message text after 354, literal octets).
    - ``lines``: the text of each line (no terminator, invalid UTF-8 shown
      as U+FFFD), payload excluded: for HTTP the head's lines, the empty
      one that ends it, and a chunked body's size lines.  ``text``: them
      joined with newlines.
    - ``raw``: the exact bytes in wire order, payload included as far as
      it was kept.
    - ``body``: the payload kept in memory (IMAP literals, a de-chunked
      HTTP body), at most the connection's ``max_payload`` bytes, none
      with ``save_body``.  ``payloads``: the same bytes, one item per
      payload (each literal of a ``FETCH 1:* RFC822``, in order, for
      ``email.message_from_bytes``; an empty ``{0}`` literal adds none).
      ``payload_size``: all the payload's bytes, kept or not (with
      ``save_body`` on a POP3 ``RETR``/``TOP``: the message's octets in the file).
    - ``truncated``: ``raw`` lacks bytes that came (payload not kept; past
      the first ``LAST_RESPONSE_LINES`` lines only the last line is kept,
      in ``lines`` and ``raw``).
    - ``elapsed``: seconds from the send to the end of the response.
    """

    status: str | None
    outcome: Outcome | None
    lines: tuple[str, ...]
    raw: bytes
    body: bytes = b""
    payloads: tuple[bytes, ...] = ()
    payload_size: int = 0
    truncated: bool = False
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """The server did not refuse: not a 4xx/5xx, ``-ERR``, ``NO`` or ``BAD``."""
        return self.outcome not in ("error", "temporary")

    @property
    def text(self) -> str:
        """``lines`` joined with newlines."""
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        """Short even for a response of megabytes (a notebook shows it)."""
        lines: tuple[str, ...] = self.lines
        if len(lines) > REPR_LINES:
            more = f"...({len(lines) - REPR_LINES} more lines)"
            lines = (*lines[: REPR_LINES - 1], more, lines[-1])
        fields = [
            f"status={self.status!r}",
            f"outcome={self.outcome!r}",
            f"lines={lines!r}",
            f"raw={short_repr(self.raw, REPR_BYTES)}",
        ]
        if self.payload_size:
            fields += [
                f"body={short_repr(self.body, REPR_BYTES)}",
                f"payloads={len(self.payloads)}",
            ]
            fields.append(f"payload_size={self.payload_size}")
        if self.truncated:
            fields.append("truncated=True")
        fields.append(f"elapsed={self.elapsed:.3f}")
        return f"Response({', '.join(fields)})"

    def raise_for_status(self) -> Response:
        """``self``, or RefusedError when the server refused."""
        if not self.ok:
            raise RefusedError(self)
        return self


class _Collector:
    """Session observer that gathers the current response, bounded as
    ``Session.last_response`` is, and starts afresh where the session does:
    when a line that awaits a reply is sent (``Session._write``)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.keep = 0
        self.reset()

    def reset(self) -> None:
        self.raw: list[bytes] = []
        self.lines: list[str] = []
        self.body: list[bytes] = []
        self.payloads: list[list[bytes]] = []  # the kept pieces of each payload
        self.kept = 0
        self.payload_size = 0
        self.truncated = False
        self.tail: tuple[bytes, str] | None = None  # the latest line past the limit
        self.status: str | None = None
        self.outcome: Outcome | None = None
        self.line_status: tuple[str, Outcome] | None = None

    def __call__(self, ex: Exchange) -> None:
        if ex.direction == "C":
            if self._session.framer.pending:
                self.reset()
            return
        if ex.direction != "S":
            return
        event, raw = ex.event, ex.raw
        if isinstance(event, Payload):
            self.payload_size += len(raw)
            room = self.keep - self.kept
            if room > 0:
                piece = raw[:room]
                if event.offset == 0 or not self.payloads:  # a payload starts
                    self.payloads.append([])
                self.payloads[-1].append(piece)
                self.raw.append(piece)
                self.body.append(piece)
                self.kept += len(piece)
            if len(raw) > room:
                self.truncated = True
            return
        if isinstance(event, ResponseEnd):
            self.status, self.outcome = event.status, event.outcome
        elif isinstance(event, ServerLine) and event.status is not None:
            # A turn can end without a ResponseEnd (IMAP's "+" to a
            # literal): then the last line with a status speaks for it.
            self.line_status = (event.status, event.outcome)
        if not raw:
            return
        text = strip_eol(raw).decode("utf-8", "replace")
        if len(self.lines) >= LAST_RESPONSE_LINES:
            # Past the limit only the latest line is kept: the last one
            # says how the response ended (a final "250 ...", a ".").
            self.truncated = True
            self.tail = (raw, text)
            return
        self.raw.append(raw)
        self.lines.append(text)

    def response(self, started: float) -> Response:
        status, outcome = self.status, self.outcome
        if status is None and self.line_status is not None:
            status, outcome = self.line_status
        raw, lines = self.raw, self.lines
        if self.tail is not None:
            raw, lines = [*raw, self.tail[0]], [*lines, self.tail[1]]
        return Response(
            status=status,
            outcome=outcome,
            lines=tuple(lines),
            raw=b"".join(raw),
            body=b"".join(self.body),
            payloads=tuple(b"".join(pieces) for pieces in self.payloads),
            payload_size=self.payload_size,
            truncated=self.truncated,
            elapsed=time.monotonic() - started,
        )


# -- the connection -----------------------------------------------------------


def _line_bytes(line: str | bytes, what: str = "a line") -> bytes:
    """``line`` as UTF-8 bytes; anything but str or bytes is a UsageError
    (``bytes(42)`` would send 42 NUL bytes)."""
    if isinstance(line, str):
        try:
            return line.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(f"{what} cannot be sent as UTF-8: {exc.reason}", "usage") from None
    if isinstance(line, bytes | bytearray | memoryview):
        return bytes(line)
    raise UsageError(f"{what} is a str or bytes, not {type(line).__name__}", "usage")


def _seconds(name: str, value: float, *, zero: bool = False) -> float:
    """``value`` checked as a number of seconds (more than 0, or 0 or more)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{name} must be a number of seconds, not {value!r}", "usage")
    if not (value >= 0 if zero else value > 0):  # NaN is neither
        least = "0 or more" if zero else "more than 0"
        raise UsageError(f"{name} must be {least} seconds, not {value!r}", "usage")
    return float(value)


def _text_lines(text: str | bytes) -> list[bytes]:
    """Lines of ``text`` split at LF, one CR before it dropped; a final
    line ending does not make an empty line after it."""
    data = _line_bytes(text)
    if data.endswith(b"\n"):
        data = data[:-1]
    return [strip_eol(line + b"\n") for line in data.split(b"\n")]


class _Spool:
    """Where a Connection's transcript is written (``TranscriptWriter``
    only writes, flushes and closes its stream): in memory up to
    ``SPOOL_MEMORY`` characters, then in an unnamed temporary file, so a
    long session costs bounded memory; no system call per line until then.
    ``close()`` (the recorder's, at hang-up) leaves the text readable."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._file: IO[str] | None = None

    def write(self, text: str) -> int:
        if self._file is not None:
            return self._file.write(text)
        self._parts.append(text)
        self._size += len(text)
        if self._size > SPOOL_MEMORY:
            # Kept open as long as the connection (closed by __del__).
            self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._file.write("".join(self._parts))
            self._parts = []
        return len(text)

    def flush(self) -> None:
        """Nothing to do: the text is read in this process (``getvalue``)."""

    def close(self) -> None:
        """The recording is over; the text stays for ``getvalue``."""

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()

    def copy_to(self, out: IO[str]) -> None:
        """The text into ``out``, a piece at a time (a spooled transcript of
        a long session is never one string)."""
        if self._file is None:
            out.writelines(self._parts)
            return
        self._file.seek(0)
        shutil.copyfileobj(self._file, out, 64 << 10)
        self._file.seek(0, os.SEEK_END)

    def getvalue(self) -> str:
        if self._file is None:
            return "".join(self._parts)
        self._file.seek(0)
        text = self._file.read()
        self._file.seek(0, os.SEEK_END)
        return text


def _one_thread(
    method: Callable[Concatenate[Connection, _P], _T],
) -> Callable[Concatenate[Connection, _P], _T]:
    """A Connection's call, refused (UsageError) while another thread is in
    one: two threads reading one socket would each get half a response."""

    @functools.wraps(method)
    def guarded(self: Connection, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if not self._lock.acquire(blocking=False):  # an RLock: send_message() calls send()
            raise UsageError(
                f"the connection to {self.url} is busy with a call from another thread; "
                "use one Connection per thread",
                "usage",
            )
        try:
            return method(self, *args, **kwargs)
        finally:
            self._lock.release()

    return guarded


class Connection:
    """One open conversation; made by ``connect()``.  Use it as a context
    manager, or call ``close()``.

    ``greeting`` is the server's first response (None for HTTP, which has
    none); ``max_payload`` the payload bytes a Response keeps in memory.
    One thread at a time: a call made while another thread is in one
    raises UsageError.  After a KeyboardInterrupt or a timeout the
    connection stays open and in step: the next response begins with what
    was left of the interrupted one (``lines`` holds both)."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float,
        insecure: bool,
        cafile: str | None,
        max_payload: int,
        record: bool,
    ) -> None:
        self._lock = threading.RLock()
        self._target = target
        self.max_payload = max_payload
        # The session speaks plaintext first for a STARTTLS target: the
        # greeting is kept, then starttls() upgrades (as Session.open would).
        plain = dataclasses.replace(target, tls="none") if target.tls == "starttls" else target
        self._session = Session(plain, timeout=timeout, insecure=insecure, cafile=cafile, pull=True)
        self._collector = _Collector(self._session)
        self._session.subscribe(self._collector)
        self._recorders: dict[bool, tuple[Recorder, _Spool]] = {}
        if record:
            # Two recordings, redacted and not, so that transcript() can
            # give either.
            for redact in (True, False):
                spool = _Spool()
                recorder = Recorder.to_stream(cast(TextIO, spool), target, redact=redact)
                self._recorders[redact] = (recorder, spool)
                self._session.subscribe(recorder)
        self.greeting: Response | None = None
        """The server's first response; None for HTTP, which has none."""
        self._closed = False

    # -- opening and closing

    def _open(self) -> None:
        started = time.monotonic()
        with _mapped():
            _drive(self._session.open())
            if self._session.framer.pending:
                _drive(self._session.wait_turn())
        if self._target.protocol != "http":
            self.greeting = self._collector.response(started)
        if self._target.tls == "starttls":
            self.starttls()

    @_one_thread
    def close(self) -> None:
        """Hang up (after a goodbye, QUIT or LOGOUT, once the server has
        closed, or after ``HANGUP_GRACE`` seconds).  Safe to call twice;
        ``transcript()`` still works afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            with contextlib.suppress(SessionError):
                _drive(self._session.let_server_hang_up(HANGUP_GRACE))
        finally:
            _drive(self._session.close())
            for recorder, _ in self._recorders.values():
                recorder.close(hangup=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<protoshell.Connection {self._target.url} {state}>"

    # -- state

    @property
    def url(self) -> str:
        """The target, as a URL (``imap://127.0.0.1:1143``)."""
        return self._target.url

    @property
    def protocol(self) -> str:
        """The protocol spoken: http, smtp, pop3 or imap."""
        return self._target.protocol

    @property
    def closed(self) -> bool:
        """True once closed by either side (or broken by an error), and once
        the server has said goodbye (221, BYE, ``Connection: close``...),
        since it closes next."""
        return self._closed or self._session.spent

    @property
    def tls(self) -> TlsInfo | None:
        """The TLS version, cipher, certificate and whether it was verified; None on plaintext."""
        return self._session.tls

    # -- talking

    @_one_thread
    def send(
        self,
        line: str | bytes,
        *,
        body: bytes | str | None = None,
        save_body: str | os.PathLike[str] | None = None,
        check: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """Send one line as typed in the shell and return the response once
        the framer says it is complete.

        The framer adds CRLF and its rules: IMAP's tag (``A0001``... unless
        the line has one), dot-stuffing after SMTP's 354.  For HTTP,
        ``line`` is the request head: the request line and field lines,
        separated by newlines, without the final empty line; ``Host`` (and
        ``Content-Length`` for ``body``) are added when missing, as in the
        shell.  A line that awaits no reply (message text after 354, IMAP
        literal octets) returns at once, a Response with ``status`` None.

        ``save_body``: stream the payload (IMAP literals, an HTTP body, a
        POP3 RETR or TOP message) to that file, never holding it in memory;
        the file holds the last payload of the response.  ``check``: raise
        RefusedError if the server refused.  ``timeout``: this call's idle
        timeout (the connection's by default), restarted whenever bytes
        arrive."""
        data = _line_bytes(line)
        if timeout is not None:
            timeout = _seconds("timeout", timeout)
        if self._target.protocol == "http":
            head = _text_lines(data)
            while len(head) > 1 and head[-1] == b"":
                head.pop()  # the empty line that ends a head, pasted with it (RFC 9112 2.1)
            if not head or b"" in head:
                raise UsageError(
                    "an HTTP request head is its request line and field lines, with no empty line "
                    "in it (give the body as body=)",
                    "usage",
                )
            return self._exchange(
                self._session.send_request(head, _line_bytes(body or b"", "body")),
                save_body,
                check,
                timeout,
            )
        if body is not None:
            raise UsageError(
                f"body= is for HTTP requests; {self.protocol.upper()} sends lines", "usage"
            )
        return self._exchange(self._session.send_line(data), save_body, check, timeout)

    @_one_thread
    def send_message(
        self,
        message: str | bytes | email.message.Message,
        *,
        check: bool = False,
        timeout: float | None = None,
    ) -> Response:
        """SMTP, after DATA's 354: send ``message`` (lines split at LF; a CR
        before the LF is part of the line ending; an ``email.message``
        object, such as a ``MIMEText``, as its ``as_bytes()``), dot-stuffed
        by the framer, then the lone ``.`` that ends it; return the
        server's final reply."""
        if not getattr(self._session.framer, "in_data", False):
            raise UsageError(
                "send_message() is for message text, after DATA was answered 354", "usage"
            )
        if isinstance(message, email.message.Message):
            message = message.as_bytes()
        lines = _text_lines(_line_bytes(message, "a message")) if message else []
        if b"." in lines:
            # The framer reads a lone "." as the end of the message (RFC
            # 5321 4.1.1.4), and a transcript could not tell the two apart.
            raise UsageError(
                f"line {lines.index(b'.') + 1} of the message is a lone '.', which ends a message",
                "usage",
            )
        for line in lines:
            self.send(line)
        return self.send(".", check=check, timeout=timeout)

    @_one_thread
    def receive(self, timeout: float) -> Response:
        """What the server sends unasked (IMAP's ``* 3 EXISTS`` during IDLE,
        a ``421`` before a server's timeout): wait up to ``timeout`` seconds
        for bytes and return the lines they complete; a Response with no
        lines if none came.  (Lines that come while a response is awaited
        are part of that response.)"""
        self._check_open()
        timeout = _seconds("timeout", timeout, zero=True)
        collector = self._collector
        collector.reset()
        collector.keep = self.max_payload
        started = time.monotonic()
        with _mapped():
            _drive(self._session.pump(timeout))
            if self._session.error is not None:
                raise self._session.error
        return collector.response(started)

    @_one_thread
    def starttls(self) -> Response:
        """Upgrade to TLS the protocol's way (``session.STARTTLS_DIALOGUE``:
        EHLO and STARTTLS, STLS, or STARTTLS); the certificate is verified
        unless the connection was made with ``insecure=True``.  Returns the
        server's go-ahead.  A refusal raises RefusedError (the connection
        stays plaintext), a failed handshake NetworkError; on a connection
        that is TLS already, or in SMTP message text (after DATA's 354),
        UsageError and nothing is sent.  Send EHLO (or CAPABILITY) again
        afterwards: what was learned before TLS is void."""
        self._check_usable()
        if self.tls is not None:
            raise UsageError(
                f"the connection to {self.url} is TLS already ({self.tls.version})", "usage"
            )
        if getattr(self._session.framer, "in_data", False):
            # Its words would be message text (RFC 5321 4.1.1.4).
            raise UsageError("starttls() inside a message: send_message() first", "usage")
        started = time.monotonic()
        self._collector.keep = 0
        try:
            _drive(self._session.starttls())
        except SessionError as exc:
            if exc.kind != "starttls":
                raise _error_for(exc) from None
            refusal = self._collector.response(started)
            raise RefusedError(
                refusal, f"{exc}: {refusal.lines[-1] if refusal.lines else '(no reply)'}"
            ) from None
        return self._collector.response(started)

    @_one_thread
    def transcript(self, *, redact: bool = True) -> str:
        """What happened so far as transcript text, which ``protoshell
        replay`` can check against a server later.  Passwords and cookies
        are written ``<redacted>`` unless ``redact=False`` (then edit them
        into ``$variables`` before sharing it).  Payloads are narrated by
        size, as ``--record`` does; after close() it ends with the hang-up.
        One string: for a session of many megabytes, ``save_transcript``."""
        if not self._recorders:
            raise UsageError(
                "this connection records nothing (connect(..., record=False))", "usage"
            )
        return self._recorders[redact][1].getvalue()

    @_one_thread
    def save_transcript(self, path: str | os.PathLike[str], *, redact: bool = True) -> None:
        """``transcript()`` written to ``path``, in pieces: after a session of
        hundreds of megabytes (a long POP3 RETR) the text is never one
        string in memory.  Raises UsageError when the file cannot be written."""
        if not self._recorders:
            raise UsageError(
                "this connection records nothing (connect(..., record=False))", "usage"
            )
        try:
            with open(path, "w", encoding="utf-8", newline="\n") as out:
                self._recorders[redact][1].copy_to(out)
        except OSError as exc:
            raise UsageError(f"cannot write the transcript to {os.fspath(path)!r}: {exc.strerror}", "usage") from None

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"the connection to {self.url} was closed by close()", "closed")

    def _check_usable(self) -> None:
        """Before a line goes out: not closed by either side, and the server
        has not said goodbye (221, BYE, ``Connection: close``...: it closes
        next, and a line sent now would get no reply but the close).  A
        session that failed raises its own error when used."""
        self._check_open()
        session = self._session
        if session.error is None and session.spent:
            why = session.close_reason or "the server said goodbye and closes the connection"
            raise NetworkError(f"{why}; connect() again to {self.url}", "closed")

    def _exchange(
        self,
        sending: Coroutine[Any, Any, object],
        save_body: str | os.PathLike[str] | None,
        check: bool,
        timeout: float | None,
    ) -> Response:
        try:
            self._check_usable()
        except Error:
            sending.close()
            raise
        saver: BodySaver | None = None
        if save_body is not None:
            path = os.fspath(save_body)
            try:
                open(
                    path, "wb"
                ).close()  # created (empty) even if no payload comes, as --save-body does
            except OSError as exc:
                sending.close()
                raise UsageError(
                    f"cannot write save_body file {path!r}: {exc.strerror}", "usage"
                ) from None
            saver = BodySaver(path)
            self._session.subscribe(saver)
        collector = self._collector
        collector.keep = 0 if saver is not None else self.max_payload
        started = time.monotonic()
        unsaved: OSError | None = None
        try:
            with _mapped():
                _drive(sending)
                if self._session.framer.pending:
                    _drive(self._session.wait_turn(timeout))
                else:
                    collector.reset()  # nothing awaited: nothing of this line's
        except Error as exc:
            if saver is not None and exc.kind == "observer":  # the file's write failed
                exc = Error(f"cannot write save_body file {saver.path!r}: {exc}", exc.kind)
            raise exc from None
        finally:
            if saver is not None:
                self._session.unsubscribe(saver)
                try:
                    saver.close()
                except OSError as exc:  # its last buffer (a full disk); the first error wins
                    unsaved = exc
        if unsaved is not None and saver is not None:
            raise Error(
                f"cannot write save_body file {saver.path!r}: {unsaved.strerror}", "observer"
            )
        response = collector.response(started)
        if saver is not None and saver.saved and not response.payload_size:
            # A POP3 message comes as lines, not payload: what went to the file is its size.
            response = dataclasses.replace(response, payload_size=saver.saved)
        return response.raise_for_status() if check else response


def connect(
    url: str,
    *,
    timeout: float = 10.0,
    cafile: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    starttls: bool = False,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    record: bool = True,
) -> Connection:
    """Connect to ``url`` (``smtp://h:2525``, ``imaps://h``, ``submission://h``
    (STARTTLS), ``http://h:8080``... the shell's targets) and wait for the
    greeting.

    ``timeout``: seconds to connect and, restarted whenever bytes arrive,
    to wait for a response.  ``cafile``: trust the CA certificates in that
    file (else the system's store); ``insecure``: do not verify
    certificates.  ``starttls``: upgrade right after the greeting (as a
    ``submission://`` URL does).  ``max_payload``: payload bytes a Response
    keeps in memory.  ``record``: keep the transcript (``transcript()``).
    Raises UsageError, NetworkError or ProtocolError."""
    timeout = _seconds("timeout", timeout)
    if isinstance(max_payload, bool) or not isinstance(max_payload, int) or max_payload < 0:
        raise UsageError(
            f"max_payload must be a whole number of bytes, 0 or more, not {max_payload!r}", "usage"
        )
    try:
        target = parse_target(url)
        if starttls:
            target = target.with_starttls()
    except TargetError as exc:
        raise UsageError(str(exc), "usage") from None
    connection = Connection(
        target,
        timeout=timeout,
        insecure=insecure,
        cafile=os.fspath(cafile) if cafile is not None else None,
        max_payload=max_payload,
        record=record,
    )
    try:
        connection._open()
    except BaseException:
        connection.close()
        raise
    return connection
