"""HTTP's vocabulary: methods, status codes, reason phrases, and ``line_status``.

One table per protocol (STYLE.md, after aiosmtpd): completion, highlighting,
``:help``, ``:explain``, the replay checker, the framers and the embedded
server's reason phrases all read the rows below, so they cannot disagree.

Semantics are RFC 9110's; the lecture's simplified slides (only GET is safe)
are corrected to RFC 9110 9.2.1/9.2.2 (HEAD, OPTIONS and TRACE are safe too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .base import Outcome
from .vocab import Command, ReplyCode, Vocabulary, replies, table

# ---------------------------------------------------------------------------
# Methods (RFC 9110 section 9.3; PATCH is RFC 5789).
#
# Phases follow the lecture's framing of a conversation: a request that reads
# ("asks for information") is "ask"; one that hands the server a
# representation to store ("provides answers") is "answer".

_VERSION_ARGS: Final = ("path", "version")

_METHODS: Final = table(
    Command(
        "GET", "GET path HTTP/1.1", "RFC 9110 section 9.3.1",
        "transfer a current representation of the target resource",
        "ask", _VERSION_ARGS, safe=True, idempotent=True,
    ),
    Command(
        "HEAD", "HEAD path HTTP/1.1", "RFC 9110 section 9.3.2",
        "like GET, but the server sends only the header section (no body)",
        "ask", _VERSION_ARGS, safe=True, idempotent=True,
    ),
    Command(
        "POST", "POST path HTTP/1.1", "RFC 9110 section 9.3.3",
        "let the resource process the enclosed body (create, submit a form)",
        "answer", _VERSION_ARGS, safe=False, idempotent=False,
    ),
    Command(
        "PUT", "PUT path HTTP/1.1", "RFC 9110 section 9.3.4",
        "create or replace the target resource with the enclosed body",
        "answer", _VERSION_ARGS, safe=False, idempotent=True,
    ),
    Command(
        "DELETE", "DELETE path HTTP/1.1", "RFC 9110 section 9.3.5",
        "remove the association between the target and its current state",
        "ask", _VERSION_ARGS, safe=False, idempotent=True,
    ),
    Command(
        "CONNECT", "CONNECT host:port HTTP/1.1", "RFC 9110 section 9.3.6",
        "ask a proxy for a tunnel to host:port (then the connection is no longer HTTP)",
        "ask", ("authority", "version"), safe=False, idempotent=False,
    ),
    Command(
        "OPTIONS", "OPTIONS path|* HTTP/1.1", "RFC 9110 section 9.3.7",
        "ask which methods and options the resource (or server: *) supports",
        "ask", _VERSION_ARGS, safe=True, idempotent=True,
    ),
    Command(
        "TRACE", "TRACE path HTTP/1.1", "RFC 9110 section 9.3.8",
        "ask the server to echo the request it received (loop-back test)",
        "ask", _VERSION_ARGS, safe=True, idempotent=True,
    ),
    Command(
        "PATCH", "PATCH path HTTP/1.1", "RFC 5789 section 2",
        "apply the enclosed set of changes to the target resource",
        "answer", _VERSION_ARGS, safe=False, idempotent=False,
    ),
)

# ---------------------------------------------------------------------------
# Status codes: (code, reason phrase, meaning, reference).  RFC 9110 section 15
# unless noted.


def status_outcome(code: int) -> Outcome:
    """How a status code reads to a person.

    1xx is "info" (interim, RFC 9110 15.2); 2xx and 3xx are "ok": a redirect
    or a 304 is a complete, successful answer that points elsewhere (or says
    "your copy is current"), and "continue" is kept for turn-taking prompts
    such as SMTP 354, which HTTP does not have.  4xx/5xx are "error", and so
    is any code outside 100..599, which RFC 9110 section 15 says a client must
    treat like a 5xx.
    """
    if 100 <= code < 200:
        return "info"
    if 200 <= code < 400:
        return "ok"
    return "error"


_STATUS_ROWS: Final[tuple[tuple[int, str, str, str], ...]] = (
    (100, "Continue", "the head was received; send the request body now", "15.2.1"),
    (101, "Switching Protocols", "the connection now speaks the protocol named in Upgrade",
     "15.2.2"),
    (200, "OK", "the request succeeded; the body is the answer", "15.3.1"),
    (201, "Created", "a new resource was created (see Location)", "15.3.2"),
    (202, "Accepted", "accepted for processing, which has not finished", "15.3.3"),
    (203, "Non-Authoritative Information", "OK, but a proxy transformed the content",
     "15.3.4"),
    (204, "No Content", "succeeded; there is no body to send", "15.3.5"),
    (205, "Reset Content", "succeeded; reset the form that sent the request", "15.3.6"),
    (206, "Partial Content", "here is the requested Range of the representation", "15.3.7"),
    (300, "Multiple Choices", "several representations exist; pick one", "15.4.1"),
    (301, "Moved Permanently", "the resource has a new permanent URI (Location); update links",
     "15.4.2"),
    (302, "Found", "the resource is temporarily at another URI (Location)", "15.4.3"),
    (303, "See Other", "the answer is at another URI (Location); GET it", "15.4.4"),
    (304, "Not Modified", "your cached copy is still valid; load it from cache (no body)",
     "15.4.5"),
    (307, "Temporary Redirect", "repeat the same request at the Location URI, this time",
     "15.4.8"),
    (308, "Permanent Redirect", "repeat the same request at the Location URI, from now on",
     "15.4.9"),
    (400, "Bad Request", "the server could not parse the request (malformed syntax)",
     "15.5.1"),
    (401, "Unauthorized", "authentication is required (see WWW-Authenticate)", "15.5.2"),
    (402, "Payment Required", "reserved for future use", "15.5.3"),
    (403, "Forbidden", "understood, but the server refuses to fulfil it", "15.5.4"),
    (404, "Not Found", "nothing exists at the requested path", "15.5.5"),
    (405, "Method Not Allowed", "the method is not supported for this resource (see Allow)",
     "15.5.6"),
    (406, "Not Acceptable", "no representation matches the Accept headers", "15.5.7"),
    (407, "Proxy Authentication Required", "authenticate with the proxy first", "15.5.8"),
    (408, "Request Timeout", "the server gave up waiting for the complete request", "15.5.9"),
    (409, "Conflict", "the request conflicts with the resource's current state", "15.5.10"),
    (410, "Gone", "the resource existed and was removed on purpose", "15.5.11"),
    (411, "Length Required", "the server needs a Content-Length for the body", "15.5.12"),
    (412, "Precondition Failed", "an If-* condition in the request was false", "15.5.13"),
    (413, "Content Too Large", "the request body is larger than the server accepts",
     "15.5.14"),
    (414, "URI Too Long", "the request target is longer than the server accepts", "15.5.15"),
    (415, "Unsupported Media Type", "the body's Content-Type is not supported", "15.5.16"),
    (416, "Range Not Satisfiable", "the requested Range lies outside the representation",
     "15.5.17"),
    (417, "Expectation Failed", "the Expect header cannot be met", "15.5.18"),
    (421, "Misdirected Request", "this server cannot answer for that Host", "15.5.20"),
    (422, "Unprocessable Content", "well-formed, but the content makes no sense", "15.5.21"),
    (426, "Upgrade Required", "switch to the protocol named in Upgrade first", "15.5.22"),
    (429, "Too Many Requests", "rate limit hit; wait (see Retry-After)", "RFC 6585 section 4"),
    (431, "Request Header Fields Too Large", "the header section (or one field) is too large",
     "RFC 6585 section 5"),
    (500, "Internal Server Error", "something went wrong inside the server", "15.6.1"),
    (501, "Not Implemented", "the server does not support this method or feature", "15.6.2"),
    (502, "Bad Gateway", "a gateway got an invalid answer from the server behind it",
     "15.6.3"),
    (503, "Service Unavailable", "overloaded or down for maintenance; try later", "15.6.4"),
    (504, "Gateway Timeout", "a gateway got no timely answer from the server behind it",
     "15.6.5"),
    (505, "HTTP Version Not Supported", "the server does not speak that HTTP version",
     "15.6.6"),
)


def _rfc(ref: str) -> str:
    return ref if ref.startswith("RFC") else f"RFC 9110 section {ref}"


#: Status code -> reason phrase, for servers that write status lines.
REASONS: Final[Mapping[int, str]] = {code: reason for code, reason, _, _ in _STATUS_ROWS}

_REPLIES: Final = replies(
    *(
        ReplyCode(str(code), f"{reason}: {meaning}", status_outcome(code), _rfc(ref))
        for code, reason, meaning, ref in _STATUS_ROWS
    )
)

# Request header names worth completing (RFC 9110 unless noted).
_HEADER_WORDS: Final = (
    "Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "Connection",
    "Content-Type", "Content-Length", "Transfer-Encoding", "Authorization", "Cookie",
    "If-Modified-Since", "If-None-Match", "If-Match", "If-Unmodified-Since", "Range",
    "If-Range", "Referer", "Expect", "Upgrade", "Cache-Control", "TE", "Origin",
    "Max-Forwards", "Via",
)

VOCABULARY: Final = Vocabulary(
    protocol="http",
    commands=_METHODS,
    replies=_REPLIES,
    words={
        "header": _HEADER_WORDS,
        "version": ("HTTP/1.1", "HTTP/1.0"),
        "path": ("/", "/index.html", "*"),
    },
)

# ---------------------------------------------------------------------------
# The status line, RFC 9112 section 4:
#   status-line = HTTP-version SP status-code SP [ reason-phrase ]
# The reason is optional in practice (some servers omit the SP too), as h11
# also accepts.  Framer and replay checker share this one pattern.

_STATUS_LINE_RE: Final = re.compile(r"(HTTP/[0-9]\.[0-9]) ([0-9]{3})(?: (.*))?\Z", re.DOTALL)


def parse_status_line(text: str) -> tuple[str, int, str] | None:
    """``(version, code, reason)`` of a status line (no terminator), or None."""
    m = _STATUS_LINE_RE.match(text)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), m.group(3) or ""


def line_status(text: str) -> str | None:
    """The status token of a server line: ``"HTTP 200"`` for a status line,
    ``None`` for anything else (header, body and chunk lines carry no status)."""
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    parsed = parse_status_line(text)
    if parsed is None:
        return None
    return f"HTTP {parsed[1]:03d}"
