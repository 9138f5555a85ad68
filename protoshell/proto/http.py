"""HTTP/1.1, sans-IO: the public face of the HTTP modules.

Import from here: ``HttpClientFramer`` (shell, pipe mode, replay; in
``http_client``), ``HttpServerFramer`` (the embedded server; in
``http_server``), their events, ``VOCABULARY``/``REASONS``/``line_status``
(``http_vocab``), ``http_date``/``parse_http_date`` (``http_wire``), and
``complete_request`` below, the one place where the Host rule lives.
"""

from __future__ import annotations

from .base import RemoteProtocolError
from .http_client import (
    BodyFraming,
    ClientState,
    HttpClientFramer,
    HttpHeaderEnd,
    HttpHeaderLine,
    HttpResponseHead,
    HttpStatusLine,
    SendState,
)
from .http_server import (
    HttpRequest,
    HttpRequestEnd,
    HttpRequestError,
    HttpServerFramer,
    ServerState,
)
from .http_vocab import REASONS, VOCABULARY, line_status, parse_status_line, status_outcome
from .http_wire import HttpChunkLine, HttpFragment, http_date, parse_field_line, parse_http_date

__all__ = [
    "REASONS",
    "VOCABULARY",
    "BodyFraming",
    "ClientState",
    "HttpChunkLine",
    "HttpClientFramer",
    "HttpFragment",
    "HttpHeaderEnd",
    "HttpHeaderLine",
    "HttpRequest",
    "HttpRequestEnd",
    "HttpRequestError",
    "HttpResponseHead",
    "HttpServerFramer",
    "HttpStatusLine",
    "SendState",
    "ServerState",
    "complete_request",
    "field_line_problem",
    "http_date",
    "line_status",
    "parse_http_date",
    "parse_status_line",
    "status_outcome",
]


# ---------------------------------------------------------------------------
# The Host rule, in one place for the shell and pipe mode


def complete_request(
    lines: list[bytes],
    host: str,
    port: int | None,
    default_port: int,
    body_length: int | None = None,
) -> list[bytes]:
    """The request head the user should see as sent, completed.

    ``lines`` is a head as typed: request line, field lines, optionally the
    final empty line (no terminators).  An HTTP/1.1 request without ``Host``
    gets ``Host: host[:port]`` as its first field (RFC 9112 3.2; RFC 9110 7.2
    says to send it first), with ``:port`` only when ``port`` is given and
    differs from ``default_port``; an IPv6 literal is bracketed.  When
    ``body_length`` is given and the head has neither Content-Length nor
    Transfer-Encoding, ``Content-Length: body_length`` is appended after the
    last field.  Fields the user typed are never changed, even wrong ones:
    this is a debugger.  HTTP/1.0 and HTTP/0.9-style requests get no Host.
    """
    out = list(lines)
    if not out:
        return out
    names = {ln.split(b":", 1)[0].strip().lower() for ln in out[1:] if b":" in ln}
    words = out[0].split()
    if len(words) >= 3 and words[-1] == b"HTTP/1.1" and b"host" not in names:
        name = host if ":" not in host or host.startswith("[") else f"[{host}]"
        if port is not None and port != default_port:
            name = f"{name}:{port}"
        try:
            value = name.encode("ascii")
        except UnicodeEncodeError:
            value = name.encode("idna")
        out.insert(1, b"Host: " + value)
    if body_length is not None and not names & {b"content-length", b"transfer-encoding"}:
        end = len(out) - 1 if len(out) > 1 and out[-1] == b"" else len(out)
        out.insert(end, b"Content-Length: %d" % body_length)
    return out


# ---------------------------------------------------------------------------
# A typed head line that is no field line

# How slides and books write the empty line that ends a head (the lecture
# writes "\r\n" and "<CRLF>"): typed as a line, each is sent as text.
_EMPTY_LINE_NOTATIONS = frozenset(
    {b"\\r\\n", b"\\n", b"<crlf>", b"crlf", b"<cr><lf>", b"<empty line>", b"<blank line>"}
)


def field_line_problem(line: bytes) -> str | None:
    """Why a line typed after the request line is no field line, or None.

    The line still goes out as typed (this is a debugger: a malformed
    request is a thing to try), but a newcomer who copies the lecture's
    ``\\r\\n`` or ``<CRLF>`` as a line of its own sends those characters as
    a header, and the server's ``400 Bad Request`` (lighttpd) came with no word on why, or
    nginx ignored the line and the newcomer never learnt it was wrong.
    RFC 9112 2.1: the head ends with an empty line; 5.1: a field line is
    ``name: value``.
    """
    if not line or line[:1] in (b" ", b"\t"):
        return None  # the end of the head; an obs-fold continuation (5.2)
    if line.strip().lower() in _EMPTY_LINE_NOTATIONS:
        text = line.strip().decode("ascii")
        return (
            f"'{text}' goes out as the {len(text)} characters typed, as a header line; on a "
            "slide it means the empty line that ends the head: press Enter on an empty line "
            "(a server may answer 400 Bad Request, or ignore the line)"
        )
    try:
        parse_field_line(line)
    except RemoteProtocolError as exc:
        return f"{exc}; sent as typed (a server may answer 400 Bad Request, or ignore the line)"
    return None
