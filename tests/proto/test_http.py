"""HTTP client framer, vocabulary and helpers (RFC 9112, RFC 9110).

Every response case is fed whole, one byte at a time, and (when the
connection stays open) with the start of a further response appended.
"""

from __future__ import annotations

import itertools
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protoshell.proto.base import (
    NEED_DATA,
    ConnectionClosed,
    Framer,
    Limits,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
    ResponseEnd,
    Role,
    ServerLine,
)
from protoshell.proto.http import (
    REASONS,
    VOCABULARY,
    HttpClientFramer,
    HttpResponseHead,
    HttpStatusLine,
    complete_request,
    http_date,
    line_status,
    parse_http_date,
)
from tests.proto.feed_http import (
    SPLITS,
    TRAILING_RESPONSE,
    check_offsets,
    drain,
    feed,
    summary,
    wire_of,
)

# ---------------------------------------------------------------------------
# The lecture's exchange (Content-Length 438 with a real 438-byte body)

_HTML = (
    b"<!DOCTYPE html>\n<html>\n<head>\n<title>An Example Page</title>\n</head>\n"
    b"<body>\n<p>Hello World, this is a very simple HTML document.</p>\n"
    b"<p>It is served by an Apache that claims to be 1.3.3.7.</p>\n"
)
_TAIL = b"</body>\n</html>\n"
LECTURE_BODY = _HTML + b"<!-- " + b"." * (438 - len(_HTML) - len(_TAIL) - 10) + b" -->\n" + _TAIL
assert len(LECTURE_BODY) == 438

LECTURE_REQUEST = (b"GET /index.html HTTP/1.1", b"Host: www.example.com", b"")
LECTURE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Date: Mon, 23 May 2005 22:38:34 GMT\r\n"
    b"Server: Apache/1.3.3.7 (Unix) (Red-Hat/Linux)\r\n"
    b"Last-Modified: Wed, 08 Jan 2003 23:11:55 GMT\r\n"
    b'Etag: "3f80f-1b6-3e1cb03b"\r\n'
    b"Accept-Ranges:  none\r\n"
    b"Content-Length: 438\r\n"
    b"Connection: close\r\n"
    b"Content-Type: text/html; charset=UTF-8\r\n"
    b"\r\n" + LECTURE_BODY
)

GET = (b"GET / HTTP/1.1", b"Host: x", b"")
HEAD = (b"HEAD / HTTP/1.1", b"Host: x", b"")


@dataclass(frozen=True)
class Case:
    id: str
    sent: tuple[bytes, ...]
    server: bytes
    expected: tuple[tuple[Any, ...], ...]
    eof: bool = False
    keeps_open: bool = False  # a further response may follow: trailing split applies
    pending: int = 0  # after the exchange
    trailing_data: bytes = b""


def _ok(code: int = 200, reason: str = "OK") -> tuple[Any, ...]:
    from protoshell.proto.http import status_outcome

    return ("status", code, reason, f"HTTP {code}", status_outcome(code))


def _end(code: int = 200) -> tuple[Any, ...]:
    from protoshell.proto.http import status_outcome

    return ("end", f"HTTP {code}", status_outcome(code))


CASES = [
    Case(
        "lecture",
        LECTURE_REQUEST,
        LECTURE_RESPONSE,
        (
            _ok(),
            ("header", "Date", "Mon, 23 May 2005 22:38:34 GMT"),
            ("header", "Server", "Apache/1.3.3.7 (Unix) (Red-Hat/Linux)"),
            ("header", "Last-Modified", "Wed, 08 Jan 2003 23:11:55 GMT"),
            ("header", "Etag", '"3f80f-1b6-3e1cb03b"'),
            ("header", "Accept-Ranges", "none"),
            ("header", "Content-Length", "438"),
            ("header", "Connection", "close"),
            ("header", "Content-Type", "text/html; charset=UTF-8"),
            ("header-end",),
            ("head", 200, "length", False),
            ("payload", LECTURE_BODY),
            _end(),
            ("closed", True),
        ),
        eof=True,
    ),
    Case(
        "chunked with extensions and trailers",
        GET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Expires\r\n\r\n"
        b"4;name=value\r\nWiki\r\n5 ; q=\"x y\";flag\r\npedia\r\n"
        b"0\r\nExpires: never\r\nX-Sum:  7 \r\n\r\n",
        (
            _ok(),
            ("header", "Transfer-Encoding", "chunked"),
            ("header", "Trailer", "Expires"),
            ("header-end",),
            ("head", 200, "chunked", True),
            ("chunk", "size", b"4;name=value\r\n"),
            ("payload", b"Wiki"),
            ("chunk", "data-end", b"\r\n"),
            ("chunk", "size", b'5 ; q="x y";flag\r\n'),
            ("payload", b"pedia"),
            ("chunk", "data-end", b"\r\n"),
            ("chunk", "last", b"0\r\n"),
            ("chunk", "trailer", b"Expires: never\r\n"),
            ("chunk", "trailer", b"X-Sum:  7 \r\n"),
            ("chunk", "end", b"\r\n"),
            _end(),
        ),
        keeps_open=True,
    ),
    Case(
        "close-delimited body",
        GET,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end\r\nof the connection",
        (
            _ok(),
            ("header", "Content-Type", "text/plain"),
            ("header-end",),
            ("head", 200, "close", False),
            ("payload", b"until the end\r\nof the connection"),
            _end(),
            ("closed", True),
        ),
        eof=True,
    ),
    Case(
        "HEAD has no body despite Content-Length",
        HEAD,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
        (
            _ok(),
            ("header", "Content-Length", "1234"),
            ("header-end",),
            ("head", 200, "none", True),
            _end(),
        ),
        keeps_open=True,
    ),
    Case(
        "100 Continue is interim, then the final response",
        (b"POST /f HTTP/1.1", b"Host: x", b"Content-Length: 2", b"Expect: 100-continue", b"", b"ok"),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        (
            _ok(100, "Continue"),
            ("header-end",),
            ("head", 100, "none", True),
            _ok(201, "Created"),
            ("header", "Content-Length", "0"),
            ("header-end",),
            ("head", 201, "length", True),
            _end(201),
        ),
        keeps_open=True,
    ),
    Case(
        "204 has no body",
        GET,
        b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
        (_ok(204, "No Content"), ("header", "Server", "x"), ("header-end",),
         ("head", 204, "none", True), _end(204)),
        keeps_open=True,
    ),
    Case(
        "304 has no body despite Content-Length",
        GET,
        b'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\nContent-Length: 438\r\n\r\n',
        (_ok(304, "Not Modified"), ("header", "ETag", '"a"'), ("header", "Content-Length", "438"),
         ("header-end",), ("head", 304, "none", True), _end(304)),
        keeps_open=True,
    ),
    Case(
        "keep-alive: two responses in one buffer",
        GET + GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\ntwo",
        (
            _ok(), ("header", "Content-Length", "3"), ("header-end",),
            ("head", 200, "length", True), ("payload", b"one"), _end(),
            _ok(404, "Not Found"), ("header", "Content-Length", "3"), ("header-end",),
            ("head", 404, "length", True), ("payload", b"two"), _end(404),
        ),
        keeps_open=True,
    ),
    Case(
        "pipelined HEAD then GET",
        HEAD + GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        (
            _ok(), ("header", "Content-Length", "5"), ("header-end",),
            ("head", 200, "none", True), _end(),
            _ok(), ("header", "Content-Length", "5"), ("header-end",),
            ("head", 200, "length", True), ("payload", b"hello"), _end(),
        ),
        keeps_open=True,
    ),
    Case(
        "HTTP/1.0 response closes after its body",
        (b"GET / HTTP/1.0", b""),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        (_ok(), ("header", "Content-Length", "2"), ("header-end",),
         ("head", 200, "length", False), ("payload", b"hi"), _end(), ("closed", True)),
        eof=True,
    ),
    Case(
        "HTTP/1.0 with keep-alive stays open",
        (b"GET / HTTP/1.0", b"Connection: keep-alive", b""),
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
        (_ok(), ("header", "Connection", "keep-alive"), ("header", "Content-Length", "2"),
         ("header-end",), ("head", 200, "length", True), ("payload", b"hi"), _end()),
        keeps_open=True,
    ),
    Case(
        "Connection: close in the request closes after the response",
        (b"GET / HTTP/1.1", b"Host: x", b"Connection: close", b""),
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        (_ok(), ("header", "Content-Length", "0"), ("header-end",),
         ("head", 200, "length", False), _end(), ("closed", True)),
        eof=True,
    ),
    Case(
        "obs-fold continuation lines",
        GET,
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\n\tc\r\nContent-Length: 0\r\n\r\n",
        (_ok(), ("header", "X-Long", "a"), ("header", "X-Long", "b", "fold"),
         ("header", "X-Long", "c", "fold"), ("header", "Content-Length", "0"), ("header-end",),
         ("head", 200, "length", True), _end()),
        keeps_open=True,
    ),
    Case(
        "bare LF line endings in the head are tolerated",
        GET,
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi",
        (_ok(), ("header", "Content-Length", "2"), ("header-end",),
         ("head", 200, "length", True), ("payload", b"hi"), _end()),
        keeps_open=True,
    ),
    Case(
        "unsolicited 408 then close",
        (),
        b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        (_ok(408, "Request Timeout"), ("header", "Connection", "close"),
         ("header", "Content-Length", "0"), ("header-end",), ("head", 408, "length", False),
         _end(408), ("closed", True)),
        eof=True,
    ),
    Case(
        "EOF inside a Content-Length body is unclean",
        GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
        (_ok(), ("header", "Content-Length", "10"), ("header-end",),
         ("head", 200, "length", True), ("payload", b"hello"), ("closed", False)),
        eof=True,
        pending=1,
    ),
    Case(
        "EOF inside a status line keeps its bytes",
        GET,
        b"HTTP/1.1 2",
        (("fragment", b"HTTP/1.1 2"), ("closed", False)),
        eof=True,
        pending=1,
    ),
    Case(
        "EOF inside a chunk keeps the partial line",
        GET,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
        (_ok(), ("header", "Transfer-Encoding", "chunked"), ("header-end",),
         ("head", 200, "chunked", True), ("chunk", "size", b"5\r\n"), ("payload", b"hel"),
         ("closed", False)),
        eof=True,
        pending=1,
    ),
    Case(
        "idle keep-alive connection closed by the server",
        GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        (_ok(), ("header", "Content-Length", "0"), ("header-end",),
         ("head", 200, "length", True), _end(), ("closed", True)),
        eof=True,
    ),
    Case(
        "HTTP/0.9-style request answered with a bare body",
        (b"GET /",),
        b"<html>hi</html>\n",
        (("payload", b"<html>hi</html>\n"), ("end", None, "ok"), ("closed", True)),
        eof=True,
    ),
    Case(
        "HTTP/0.9-style request answered with a status line",
        (b"GET /",),
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        (_ok(400, "Bad Request"), ("header", "Content-Length", "0"), ("header-end",),
         ("head", 400, "length", False), _end(400), ("closed", True)),
        eof=True,
    ),
    Case(
        "stray CRLF after a body is shown and skipped",
        GET + GET,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        (_ok(), ("header", "Content-Length", "2"), ("header-end",),
         ("head", 200, "length", True), ("payload", b"hi"), _end(), ("fragment", b"\r\n"),
         _ok(), ("header", "Content-Length", "0"), ("header-end",),
         ("head", 200, "length", True), _end()),
        keeps_open=True,
    ),
    Case(
        "101 Switching Protocols: later bytes are not HTTP",
        (b"GET /chat HTTP/1.1", b"Host: x", b"Upgrade: websocket", b"Connection: Upgrade", b""),
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x05hello",
        (_ok(101, "Switching Protocols"), ("header", "Upgrade", "websocket"),
         ("header", "Connection", "Upgrade"), ("header-end",), ("head", 101, "switch", False),
         _end(101)),
        trailing_data=b"\x81\x05hello",
    ),
    Case(
        "CONNECT 200 opens a tunnel",
        (b"CONNECT example.com:443 HTTP/1.1", b"Host: example.com:443", b""),
        b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01",
        (_ok(200, "Connection Established"), ("header-end",), ("head", 200, "switch", False),
         _end()),
        trailing_data=b"\x16\x03\x01",
    ),
]


def _client(sent: tuple[bytes, ...]) -> tuple[HttpClientFramer, bytes]:
    framer = HttpClientFramer()
    wire = b"".join(framer.send(line) for line in sent)
    return framer, wire


@pytest.mark.parametrize(
    ("case", "split"),
    [
        pytest.param(case, split, id=f"{case.id}-{split}")
        for case in CASES
        for split in SPLITS
        if split != "trailing" or case.keeps_open  # else the connection ends here
    ],
)
def test_responses(case: Case, split: str) -> None:
    framer, _ = _client(case.sent)
    data = case.server + (TRAILING_RESPONSE if split == "trailing" else b"")
    events = feed(framer, data, "whole" if split == "trailing" else split, eof=case.eof)
    assert summary(events) == list(case.expected)
    # Every received byte is accounted for, in order (the trailing start of a
    # further response stays buffered).
    assert wire_of(events) + framer.trailing_data == case.server
    check_offsets(events)
    assert framer.pending == case.pending
    assert framer.trailing_data == case.trailing_data
    for ev in events:
        if isinstance(ev, Payload):
            assert len(ev.raw) <= Limits().chunk_size
        if isinstance(ev, ServerLine):
            assert ev.status == line_status(ev.text)


def test_lecture_head_event_summarizes_the_response() -> None:
    framer, wire = _client(LECTURE_REQUEST)
    assert wire == b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
    assert framer.pending == 1
    events = feed(framer, LECTURE_RESPONSE)
    head = next(ev for ev in events if isinstance(ev, HttpResponseHead))
    assert head.raw == b""
    assert (head.version, head.code, head.reason) == ("HTTP/1.1", 200, "OK")
    assert head.content_length == 438 and not head.chunked and head.framing == "length"
    assert head.header("content-type") == "text/html; charset=UTF-8"
    assert head.header("ETAG") == '"3f80f-1b6-3e1cb03b"'
    assert head.status == "HTTP 200" and head.outcome == "ok"
    assert head.method == "GET" and head.warnings == ()
    payloads = [ev for ev in events if isinstance(ev, Payload)]
    assert [(p.offset, p.total) for p in payloads] == [(0, 438)]
    assert framer.pending == 0 and framer.state == "closing"


# ---------------------------------------------------------------------------
# Warnings the renderer shows


def _head_of(sent: tuple[bytes, ...], server: bytes) -> HttpResponseHead:
    framer, _ = _client(sent)
    return next(ev for ev in feed(framer, server) if isinstance(ev, HttpResponseHead))


def test_content_length_with_chunked_warns_and_chunked_wins() -> None:
    framer, _ = _client(GET)
    events = feed(
        framer,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
    )
    head = next(ev for ev in events if isinstance(ev, HttpResponseHead))
    assert head.framing == "chunked" and head.content_length == 100
    assert any("smuggling" in w for w in head.warnings)
    assert b"".join(ev.raw for ev in events if isinstance(ev, Payload)) == b"abc"
    assert isinstance(events[-1], ResponseEnd)


def test_identical_repeated_content_length_is_accepted_with_a_warning() -> None:
    head = _head_of(GET, b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\n")
    assert head.content_length == 2
    assert any("3 times" in w for w in head.warnings)


def test_obs_fold_value_is_joined_and_noted() -> None:
    head = _head_of(GET, b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 0\r\n\r\n")
    assert head.header("x-long") == "a b"
    assert any("obs" in w for w in head.warnings)


def test_bare_lf_is_noted() -> None:
    head = _head_of(GET, b"HTTP/1.1 200 OK\nContent-Length: 0\n\n")
    assert any("bare LF" in w for w in head.warnings)


def test_transfer_coding_without_chunked_reads_until_close() -> None:
    head = _head_of(GET, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
    assert head.framing == "close" and not head.keep_alive
    assert any("gzip" in w for w in head.warnings)


def test_unsolicited_and_odd_status_are_noted() -> None:
    head = _head_of((), b"HTTP/1.1 999 Weird\r\nContent-Length: 0\r\n\r\n")
    assert head.outcome == "error"
    assert any("unsolicited" in w for w in head.warnings)
    assert any("outside 100..599" in w for w in head.warnings)


# ---------------------------------------------------------------------------
# Errors: the framer refuses, with a message, and stays refused

ERRORS = [
    ("two different Content-Lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
     "conflicting Content-Length"),
    ("a list of different Content-Lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
     "conflicting Content-Length"),
    ("invalid Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
     "invalid Content-Length"),
    ("negative Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
     "invalid Content-Length"),
    ("empty Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
     "invalid Content-Length"),
    ("bare LF in a chunk-size line",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", "bare LF"),
    ("chunk size with too many hex digits",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n", "hex digits"),
    ("chunk size not hex", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "chunk-size"),
    ("chunk data not followed by CRLF",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", "not followed by CRLF"),
    ("control character in a chunk extension",
     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\n", "chunk extension"),
    ("chunked applied twice", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
     "twice"),
    ("not HTTP at all", b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP status line"),
    ("lower-case protocol name", b"http/1.1 200 OK\r\n", "not an HTTP status line"),
    ("two-digit status", b"HTTP/1.1 20 OK\r\n", "not an HTTP status line"),
    # The lecture's lab, step 1: an echo server sends the request back.
    ("a request line sent back", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
     r"not an HTTP status line: .*GET / HTTP/1\.1.* \(a request line: the server sent a request back, as an echo server does\)"),
    ("header line without a colon", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
     "invalid header line"),
    ("whitespace before the colon", b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n",
     "whitespace between field name and colon"),
    ("NUL in a field value", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", "NUL"),
    ("continuation line first", b"HTTP/1.1 200 OK\r\n  folded\r\n\r\n", "continuation"),
    ("bytes after a response that closes",
     b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n",
     "after a response that closes"),
]


@pytest.mark.parametrize("split", ["whole", "bytewise"])
@pytest.mark.parametrize(("server", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors(server: bytes, message: str, split: str) -> None:
    framer, _ = _client(GET)
    with pytest.raises(RemoteProtocolError, match=message):
        feed(framer, server, split)
    # The framer stays dead: the stream cannot be trusted any more.
    with pytest.raises(RemoteProtocolError, match=message):
        framer.next_event()


def test_header_section_over_the_limit() -> None:
    framer = HttpClientFramer(Limits(max_header_bytes=64))
    framer.send(b"GET / HTTP/1.1")
    framer.send(b"")
    with pytest.raises(RemoteProtocolError, match="over 64 bytes"):
        feed(framer, b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20, "bytewise")


def test_endless_header_line_is_refused_before_its_end() -> None:
    framer = HttpClientFramer(Limits(max_header_bytes=1000))
    framer.send(b"GET / HTTP/1.1")
    framer.send(b"")
    feed(framer, b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(RemoteProtocolError, match="over 1000 bytes"):
        for _ in range(100):
            feed(framer, b"X" * 100)


def test_endless_status_line_is_refused() -> None:
    framer = HttpClientFramer(Limits(max_line=1000))
    with pytest.raises(RemoteProtocolError, match="longer than 1000"):
        for _ in range(100):
            feed(framer, b"H" * 100)


# ---------------------------------------------------------------------------
# The sending side: what the user types, and what it teaches the framer


def test_send_adds_exactly_one_crlf() -> None:
    framer = HttpClientFramer()
    assert framer.send(b"GET / HTTP/1.1") == b"GET / HTTP/1.1\r\n"
    assert framer.send(b"Host: x\r\n") == b"Host: x\r\n"
    assert framer.send(b"Accept: */*\n") == b"Accept: */*\r\n"
    for bad in (b"Host: a\rb", b"X: a\nb", b"a\r\n\r\n"):
        with pytest.raises(LocalProtocolError):
            framer.send(bad)
    assert framer.send_state == "headers"


def test_pending_counts_complete_heads() -> None:
    framer = HttpClientFramer()
    assert framer.pending == 0  # no greeting in HTTP
    framer.send(b"")  # an empty line before a request is harmless
    assert framer.send_state == "request-line"
    framer.send(b"GET / HTTP/1.1")
    framer.send(b"Host: x")
    assert framer.pending == 0
    framer.send(b"")
    assert framer.pending == 1
    framer.send(b"GET /")  # HTTP/0.9-style: complete at once
    assert framer.pending == 2


def test_content_length_body_typed_as_lines() -> None:
    framer = HttpClientFramer()
    for line in (b"POST /form HTTP/1.1", b"Host: x", b"Content-Length: 12", b""):
        framer.send(line)
    assert framer.send_state == "body" and framer.body_remaining == 12
    assert framer.pending == 1
    assert framer.send(b"line") == b"line\r\n"  # 6: CRLF is body too
    with pytest.raises(LocalProtocolError, match="6 bytes left"):
        framer.send(b"too long!")
    assert framer.send(b"last!!") == b"last!!"  # fills the length exactly: no CRLF
    assert (framer.send_state, framer.body_remaining) == ("request-line", 0)


def test_send_body_counts_bytes() -> None:
    framer = HttpClientFramer()
    with pytest.raises(LocalProtocolError, match="no request body"):
        framer.send_body(b"x")
    for line in (b"PUT /f HTTP/1.1", b"Host: x", b"Content-Length: 5", b""):
        framer.send(line)
    assert framer.send_body(b"he") == b"he"
    with pytest.raises(LocalProtocolError, match="only 3 left"):
        framer.send_body(b"llo!")
    assert framer.send_body(b"llo") == b"llo"
    assert framer.send_state == "request-line"
    # The response then frames normally.
    events = feed(framer, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(events[-1], ResponseEnd) and framer.pending == 0


def test_chunked_body_typed_as_lines() -> None:
    framer = HttpClientFramer()
    lines = (b"POST /up HTTP/1.1", b"Host: x", b"Transfer-Encoding: chunked", b"",
             b"5", b"hello", b"0", b"")
    wire = b"".join(framer.send(line) for line in lines[:4])
    assert framer.send_state == "chunked-body"
    wire += b"".join(framer.send(line) for line in lines[4:])
    assert wire.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    states = [framer.send_state]
    framer.send(b"GET /next HTTP/1.1")
    states.append(framer.send_state)
    assert states == ["request-line", "headers"]


def test_send_chunk_frames_data() -> None:
    framer = HttpClientFramer()
    for line in (b"POST /up HTTP/1.1", b"Host: x", b"Transfer-Encoding: chunked", b""):
        framer.send(line)
    assert framer.send_chunk(b"hello world") == b"b\r\nhello world\r\n"
    framer.send(b"3")
    with pytest.raises(LocalProtocolError, match="partly sent"):
        framer.send_chunk(b"abc")
    framer.send_body(b"abc\r\n")
    assert framer.send_chunk(b"") == b"0\r\n\r\n"
    assert framer.send_state == "request-line"


def test_bad_chunked_framing_typed_by_the_user_is_not_fatal() -> None:
    framer = HttpClientFramer()
    for line in (b"POST /up HTTP/1.1", b"Host: x", b"Transfer-Encoding: chunked", b"",
                 b"not hex"):
        framer.send(line)
    assert framer.send_state == "request-line"  # gave up following that body
    events = feed(framer, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(events[-1], ResponseEnd)


def test_send_raw_learns_from_lines_split_anywhere() -> None:
    framer = HttpClientFramer()
    data = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    for i in range(len(data)):
        assert framer.send_raw(data[i : i + 1]) == data[i : i + 1]
    assert framer.pending == 2 and framer.send_state == "request-line"
    events = feed(
        framer,
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    )
    heads = [ev for ev in events if isinstance(ev, HttpResponseHead)]
    assert [(h.method, h.framing) for h in heads] == [("HEAD", "none"), ("POST", "length")]
    assert framer.pending == 0


def test_early_response_before_the_head_is_finished() -> None:
    framer = HttpClientFramer()
    framer.send(b"GET /" + b"x" * 10 + b" HTTP/1.1")
    events = feed(framer, b"HTTP/1.1 414 URI Too Long\r\nConnection: close\r\n"
                          b"Content-Length: 0\r\n\r\n", eof=True)
    assert [type(ev).__name__ for ev in events[-2:]] == ["ResponseEnd", "ConnectionClosed"]
    framer.send(b"")
    assert framer.pending == 0  # that request was answered already


def test_client_is_a_framer() -> None:
    framer: Framer = HttpClientFramer()  # mypy checks the protocol here
    assert (framer.protocol, framer.role, framer.pending) == ("http", Role.CLIENT, 0)


def test_tls_started_is_a_no_op() -> None:
    framer, _ = _client(GET)
    framer.tls_started()
    assert framer.pending == 1 and framer.trailing_data == b""


def test_eof_with_requests_unanswered_is_unclean() -> None:
    framer, _ = _client(GET + GET)
    events = feed(framer, b"", eof=True)
    assert len(events) == 1 and isinstance(events[0], ConnectionClosed)
    assert not events[0].clean and "2 request(s) unanswered" in events[0].reason
    assert framer.next_event() is NEED_DATA  # reported once


# ---------------------------------------------------------------------------
# Memory stays bounded whatever the server sends


def _bounded_peak(framer: HttpClientFramer, blocks: Iterator[bytes]) -> tuple[int, int]:
    """Feed blocks, drain events; (body bytes seen, tracemalloc peak)."""
    seen = 0
    tracemalloc.start()
    try:
        for block in blocks:
            framer.receive_data(block)
            while (ev := framer.next_event()) is not NEED_DATA:
                if isinstance(ev, Payload):
                    seen += len(ev.raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seen, peak


def test_memory_bounded_for_a_200_mb_content_length_body() -> None:
    framer, _ = _client(GET)
    mb = b"x" * (1 << 20)
    total = 200 << 20
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 30)  # announces 1 GB

    def blocks() -> Iterator[bytes]:
        yield head
        for _ in range(200):
            yield mb

    seen, peak = _bounded_peak(framer, blocks())
    assert seen == total
    assert peak < 8 << 20, f"peak {peak} bytes"


def test_memory_bounded_for_a_200_mb_chunked_body() -> None:
    framer, _ = _client(GET)
    chunk = b"100000\r\n" + b"y" * (1 << 20) + b"\r\n"

    def blocks() -> Iterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in range(200):
            yield chunk
        yield b"0\r\n\r\n"

    seen, peak = _bounded_peak(framer, blocks())
    assert seen == 200 << 20 and framer.pending == 0
    assert peak < 8 << 20, f"peak {peak} bytes"


def test_memory_bounded_for_an_endless_close_delimited_body() -> None:
    framer, _ = _client(GET)
    mb = b"z" * (1 << 20)

    def blocks() -> Iterator[bytes]:
        yield b"HTTP/1.0 200 OK\r\n\r\n"
        for _ in range(100):
            yield mb

    seen, peak = _bounded_peak(framer, blocks())
    assert seen == 100 << 20
    assert peak < 8 << 20, f"peak {peak} bytes"


# ---------------------------------------------------------------------------
# Fuzz: any bytes either parse or raise RemoteProtocolError

_FRAGMENTS = [
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.0 101 X\r\n", b"HTTP/1.1 100 Continue\r\n",
    b"HTTP/1.1 204 \r\n", b"Content-Length: 3\r\n", b"Content-Length: 1, 1\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"\r\n", b"\n", b"\r",
    b"3\r\nabc\r\n", b"0\r\n", b";x=y", b" folded\r\n", b"X: y\r\n", b"ffffffff\r\n",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from([None, b"GET", b"HEAD", b"CONNECT"]),
    parts=st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=12)), max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    eof=st.booleans(),
)
def test_fuzz_client_any_bytes_parse_or_raise(
    method: bytes | None, parts: list[bytes], cuts: list[int], eof: bool
) -> None:
    framer = HttpClientFramer(Limits(max_line=256, max_header_bytes=512, chunk_size=16))
    if method is not None:
        framer.send(method + b" / HTTP/1.1")
        framer.send(b"")
    data = b"".join(parts)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    events = []
    try:
        for a, b in itertools.pairwise(bounds):
            framer.receive_data(data[a:b])
            events += drain(framer)
        if eof:
            framer.receive_data(b"")
            events += drain(framer)
    except RemoteProtocolError:
        return
    assert data.startswith(wire_of(events) + framer.trailing_data) or framer.switched
    for ev in events:
        if isinstance(ev, Payload):
            assert len(ev.raw) <= 16


# ---------------------------------------------------------------------------
# complete_request: the Host rule in one place


@pytest.mark.parametrize(
    ("lines", "host", "port", "default", "body", "expected"),
    [
        ([b"GET / HTTP/1.1", b""], "example.com", None, 80, None,
         [b"GET / HTTP/1.1", b"Host: example.com", b""]),
        ([b"GET / HTTP/1.1", b"Accept: */*"], "localhost", 8080, 80, None,
         [b"GET / HTTP/1.1", b"Host: localhost:8080", b"Accept: */*"]),
        ([b"GET / HTTP/1.1"], "secure.example", 443, 443, None,
         [b"GET / HTTP/1.1", b"Host: secure.example"]),
        ([b"GET / HTTP/1.1", b"host: mine", b""], "example.com", 81, 80, None,
         [b"GET / HTTP/1.1", b"host: mine", b""]),
        ([b"GET /path/to/index.html HTTP/1.0", b""], "example.com", None, 80, None,
         [b"GET /path/to/index.html HTTP/1.0", b""]),
        ([b"GET /"], "example.com", None, 80, None, [b"GET /"]),
        ([b"GET / HTTP/1.1"], "::1", 8080, 80, None, [b"GET / HTTP/1.1", b"Host: [::1]:8080"]),
        ([b"POST /f HTTP/1.1", b"Content-Type: text/plain", b""], "h", None, 80, 5,
         [b"POST /f HTTP/1.1", b"Host: h", b"Content-Type: text/plain", b"Content-Length: 5",
          b""]),
        ([b"POST /f HTTP/1.1", b"Host: h", b"Content-Length: 9"], "h", None, 80, 5,
         [b"POST /f HTTP/1.1", b"Host: h", b"Content-Length: 9"]),
        ([b"POST /f HTTP/1.0"], "h", None, 80, 0, [b"POST /f HTTP/1.0", b"Content-Length: 0"]),
        ([], "h", None, 80, None, []),
    ],
)
def test_complete_request(
    lines: list[bytes], host: str, port: int | None, default: int, body: int | None,
    expected: list[bytes],
) -> None:
    original = list(lines)
    assert complete_request(lines, host, port, default, body_length=body) == expected
    assert lines == original  # pure


def test_complete_request_output_frames_as_one_request() -> None:
    framer = HttpClientFramer()
    for line in complete_request([b"GET / HTTP/1.1", b""], "example.com", 8000, 80):
        framer.send(line)
    assert framer.pending == 1


# ---------------------------------------------------------------------------
# Vocabulary, line_status, dates


def test_methods_follow_rfc_9110_safe_and_idempotent() -> None:
    expected = {  # RFC 9110 9.2.1, 9.2.2; PATCH: RFC 5789
        "GET": (True, True), "HEAD": (True, True), "OPTIONS": (True, True),
        "TRACE": (True, True), "PUT": (False, True), "DELETE": (False, True),
        "POST": (False, False), "PATCH": (False, False), "CONNECT": (False, False),
    }
    assert set(VOCABULARY.commands) == set(expected)
    for name, (safe, idempotent) in expected.items():
        cmd = VOCABULARY.command(name.lower())
        assert cmd is not None
        assert (cmd.safe, cmd.idempotent) == (safe, idempotent), name
        assert cmd.rfc.startswith("RFC") and cmd.meaning and cmd.syntax.startswith(name)
    get = VOCABULARY.command("GET")
    assert get is not None and get.phase == "ask" and get.args[0] == "path"
    assert VOCABULARY.protocol == "http"


def test_reply_codes_and_reasons() -> None:
    wanted = [100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 403,
              404, 405, 408, 409, 410, 411, 413, 414, 415, 416, 429, 431, 500, 501, 502, 503,
              504, 505]
    for code in wanted:
        reply = VOCABULARY.reply(str(code))
        assert reply is not None, code
        assert reply.meaning.startswith(REASONS[code])
        assert reply.rfc
    outcomes = {c: VOCABULARY.reply(str(c)).outcome for c in (100, 200, 301, 304, 404, 500)}  # type: ignore[union-attr]
    assert outcomes == {100: "info", 200: "ok", 301: "ok", 304: "ok", 404: "error", 500: "error"}
    assert REASONS[404] == "Not Found" and REASONS[431] == "Request Header Fields Too Large"
    assert "Host" in VOCABULARY.words["header"] and "If-Modified-Since" in VOCABULARY.words["header"]
    assert VOCABULARY.words["version"] == ("HTTP/1.1", "HTTP/1.0")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("HTTP/1.1 200 OK", "HTTP 200"),
        ("HTTP/1.0 404 Not Found\r\n", "HTTP 404"),
        ("HTTP/1.1 204", "HTTP 204"),
        ("HTTP/1.1 999 Whatever", "HTTP 999"),
        ("Content-Length: 438", None),
        ("HTTP/1.1 20 OK", None),
        ("http/1.1 200 OK", None),
        ("<html>", None),
        ("", None),
    ],
)
def test_line_status(text: str, status: str | None) -> None:
    assert line_status(text) == status


def test_line_status_agrees_with_the_framer() -> None:
    framer, _ = _client(GET)
    events = feed(framer, b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n")
    status = next(ev for ev in events if isinstance(ev, HttpStatusLine))
    assert status.status == line_status(status.text) == "HTTP 302"
    assert status.outcome == "ok"


@pytest.mark.parametrize(
    "text",
    ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"],
)
def test_parse_http_date_reads_the_three_formats(text: str) -> None:
    assert parse_http_date(text) == 784111777.0  # RFC 9110 5.6.7's example


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
     "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 0000 08:49:37 GMT"],
)
def test_parse_http_date_rejects_nonsense(text: str) -> None:
    assert parse_http_date(text) is None


@given(st.integers(min_value=0, max_value=253402300799))
def test_http_date_round_trips(ts: int) -> None:
    text = http_date(ts)
    assert text.endswith(" GMT") and len(text) == 29
    assert parse_http_date(text) == float(ts)


def test_field_line_problem_names_the_lectures_empty_line_notation() -> None:
    from protoshell.proto.http import field_line_problem

    assert "the empty line that ends the head" in (field_line_problem(b"\\r\\n") or "")
    assert "the empty line that ends the head" in (field_line_problem(b"<CRLF>") or "")
    assert "want 'Name: value'" in (field_line_problem(b"garbage") or "")
    assert "whitespace between field name and colon" in (field_line_problem(b"Host : x") or "")
    for fine in (b"Host: x", b"", b" folded", b"X-Empty:"):
        assert field_line_problem(fine) is None


def test_eof_on_a_kept_alive_connection_says_it_was_an_idle_close() -> None:
    """lighttpd closes a kept-alive connection after 5 idle seconds; a request typed
    then got only 'server closed the connection with 1 request(s) unanswered', which
    reads as if the request were at fault. Now the reason names the idle close."""
    framer, _ = _client(GET)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    events = feed(framer, answer)
    assert isinstance(events[-1], ResponseEnd)
    for line in GET:
        framer.send(line)
    (closed,) = feed(framer, b"", eof=True)
    assert isinstance(closed, ConnectionClosed) and not closed.clean
    assert "closed it as the request went out (an idle timeout" in closed.reason
    assert "send the request again" in closed.reason
