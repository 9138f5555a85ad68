"""``printf 'EHLO me\\nQUIT\\n' | protoshell smtp://...``: lines in, exchange out.

Each stdin line is sent as typed (one CRLF, never two), and the next line
waits until the framer says the response is complete: not a timer.  HTTP
requests are the lines up to an empty line, completed by the one rule in
``proto.http.complete_request`` (Host, and Content-Length for a body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from .proto.base import ResponseEnd, empty_line_is_content
from .session import Exchange, Session, SessionError
from .status import ExitStatus
from .user_input import StdinLines


def _chomp(line: bytes) -> bytes:
    """Drop one line terminator (CRLF or LF): a pasted CRLF is not doubled."""
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


class RefusalCounter:
    """Observer that remembers whether the server refused anything, and how
    its last turn ended (a ``continue``: it waits for the client's answer)."""

    def __init__(self) -> None:
        self.errors = 0
        self.last_outcome: str | None = None

    def __call__(self, ex: Exchange) -> None:
        if isinstance(ex.event, ResponseEnd):
            self.last_outcome = ex.event.outcome
            if ex.event.outcome == "error":
                self.errors += 1


async def run_pipe(session: Session, stdin: IO[bytes], reconnected: Callable[[], None] | None = None) -> ExitStatus:
    """Drive an open session from stdin until EOF; return the exit status.

    ``reconnected`` is called when HTTP opens a new connection for the next
    request (a recorder writes the connect there)."""
    refusals = RefusalCounter()
    session.subscribe(refusals)
    await session.wait_turn()  # the greeting, where there is one
    lines = StdinLines(stdin)
    if session.target.protocol == "http":
        await _http_requests(session, lines, reconnected)
    else:
        while True:
            raw = await lines.readline()
            if not raw:
                break
            line = _chomp(raw)
            if not line and not empty_line_is_content(session.framer, refusals.last_outcome):
                continue  # a blank line is no command (IMAP answers BAD, Dovecot hangs up after 3)
            if session.closed:
                raise SessionError("closed", f"the server closed the connection; input not sent: {_shown(session, line)!r}")
            await session.send_line(line)
            if session.framer.pending:
                await session.wait_turn()
        _check_input_ended_whole(session)
    await session.wait_turn()
    await session.let_server_hang_up()
    return ExitStatus.REFUSED if refusals.errors else ExitStatus.OK


def _shown(session: Session, line: bytes) -> bytes:
    """``line`` for an error message: its first 60 bytes, a password in it
    ``<redacted>`` as the recording writes it (``PASS redqueen`` stayed on
    stderr when the server had hung up before it)."""
    from .transcript.redact import PROTOCOLS, Redactor

    protocol = PROTOCOLS.get(session.target.protocol, session.target.protocol)
    return Redactor(protocol).client_line(line + b"\r\n").rstrip(b"\r\n")[:60]


def _check_input_ended_whole(session: Session) -> None:
    """At the end of stdin, a message must not be left half sent: after
    SMTP's 354 without its lone "." (RFC 5321 4.1.1.4), or octets of an IMAP
    literal or a BDAT chunk still owed.  The server waits for the rest and
    the message is never delivered; exit 0 would say all went well."""
    if session.closed:
        return
    framer = session.framer
    owed = getattr(framer, "literal_remaining", None)
    if owed is not None:
        raise SessionError("usage", f"the input ended {owed} octet(s) short of the literal or chunk it began: nothing was delivered")
    if getattr(framer, "in_data", False):
        raise SessionError("usage", "the input ended inside the message (after 354, no line holding only '.'): it was not delivered")


async def _reopen(old: Session, reconnected: Callable[[], None] | None) -> Session:
    """A new connection to the same target, seen by the same observers.

    HTTP only: a server may close after any response (``Connection: close``,
    HTTP/1.0, a close-delimited body; RFC 9112 9.6), and a client opens a new
    connection for the next request, as the shell does."""
    await old.close()
    new = Session(old.target, timeout=old.timeout, insecure=old.insecure, cafile=old.cafile, pull=old.pull)
    for observer in old.observers:
        new.subscribe(observer)
    if reconnected is not None:
        reconnected()
    await new.open()
    return new


async def _http_requests(first: Session, stdin: StdinLines, reconnected: Callable[[], None] | None) -> None:

    session = first
    head: list[bytes] = []
    try:
        while True:
            raw = await stdin.readline()
            line = _chomp(raw)
            if raw and (line or not head):
                if line or head:
                    head.append(line)
                continue  # (blank lines before a request line are skipped)
            if not head:
                break  # EOF with nothing pending
            # An empty line (or EOF) ends the head.
            length = _declared_length(head)
            body = b""
            if length:
                chunks: list[bytes] = []
                have = 0
                while have < length:
                    more = await stdin.readline()
                    if not more:
                        break
                    chunks.append(more)
                    have += len(more)
                body = b"".join(chunks)[:length]
            if session.spent:
                await session.let_server_hang_up()  # its close is shown before the new connect
                session = await _reopen(session, reconnected)
            await session.send_request(head, body)
            await session.wait_turn()
            head = []
            if not raw:
                break
    finally:
        if session is not first:  # the caller closes the first one
            await session.close()


def _declared_length(head: list[bytes]) -> int:
    """The Content-Length the user typed (0 if none or unreadable: the
    framer will complain about a bad one when it is sent)."""
    from .proto.base import RemoteProtocolError
    from .proto.http_wire import header_value, parse_field_line

    fields = []
    for line in head[1:]:
        try:
            fields.append(parse_field_line(line))
        except RemoteProtocolError:
            continue
    value = header_value(fields, "content-length")
    return int(value) if value and value.strip().isdigit() else 0
