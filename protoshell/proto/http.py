"""HTTP/1.1, sans-IO: the public face of the HTTP modules.

Import from here: ``HttpClientFramer`` (shell, pipe mode, replay; in
``http_client``), ``HttpServerFramer`` (the embedded server; in
``http_server``), their events, ``VOCABULARY``/``REASONS``/``line_status``
(``http_vocab``), ``http_date``/``parse_http_date`` (``http_wire``), and
``complete_request`` below, the one place where the Host rule lives.
"""

from __future__ import annotations

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
from .http_wire import HttpChunkLine, HttpFragment, http_date, parse_http_date

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
