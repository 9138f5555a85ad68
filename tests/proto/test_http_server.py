"""HTTP server framer: requests in, response heads out (RFC 9112, RFC 9110).

Every request case is fed whole, one byte at a time, and with the start of a
further (pipelined) request appended.
"""

from __future__ import annotations

import itertools
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protoshell.proto.base import (
    NEED_DATA,
    ConnectionClosed,
    Limits,
    LocalProtocolError,
    Payload,
    RemoteProtocolError,
)
from protoshell.proto.http import (
    HttpClientFramer,
    HttpRequest,
    HttpRequestEnd,
    HttpRequestError,
    HttpResponseHead,
    HttpServerFramer,
)
from tests.proto.feed_http import SPLITS, TRAILING_REQUEST, check_offsets, drain, feed, summary


def _request(events: list[object]) -> HttpRequest:
    req = next(ev for ev in events if isinstance(ev, HttpRequest))
    assert isinstance(req, HttpRequest)
    return req


# The lecture's two request examples, and the lab's browser-style request.
LECTURE_10 = b"GET /path/to/index.html HTTP/1.0\r\n\r\n"
LECTURE_11 = b"GET /path/to/index.html HTTP/1.1\r\nHost: www.mysite1.com:80\r\n\r\n"

REQUESTS = [
    ("lecture HTTP/1.0", LECTURE_10,
     [("request", "GET", "/path/to/index.html", "HTTP/1.0"), ("request-end",)]),
    ("lecture HTTP/1.1", LECTURE_11,
     [("request", "GET", "/path/to/index.html", "HTTP/1.1"), ("request-end",)]),
    ("leading empty lines are ignored", b"\r\n\n\r\n" + LECTURE_11,
     [("request", "GET", "/path/to/index.html", "HTTP/1.1"), ("request-end",)]),
    ("bare LF line endings are tolerated", b"HEAD / HTTP/1.1\nHost: a\n\n",
     [("request", "HEAD", "/", "HTTP/1.1"), ("request-end",)]),
    ("Content-Length body",
     b"POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
     [("request", "POST", "/form", "HTTP/1.1"), ("payload", b"hello world"), ("request-end",)]),
    ("chunked body with trailers",
     (b"PUT /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n"),
     [("request", "PUT", "/f", "HTTP/1.1"), ("payload", b"hello"), ("payload", b" world"),
      ("request-end",)]),
    ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
     [("request", "OPTIONS", "*", "HTTP/1.1"), ("request-end",)]),
    ("HTTP/1.2 is read as 1.1 (RFC 9110 6.2)", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
     [("request", "GET", "/", "HTTP/1.2"), ("request-end",)]),
]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize(("data", "expected"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
def test_requests(data: bytes, expected: list[tuple[object, ...]], split: str) -> None:
    server = HttpServerFramer()
    if split == "trailing":
        data += TRAILING_REQUEST
        split = "whole"
    events = feed(server, data, split)
    merged = summary(events)
    # chunk boundaries split payloads; compare the body as a whole
    body = b"".join(ev.raw for ev in events if isinstance(ev, Payload))
    want_body = b"".join(e[1] for e in expected if e[0] == "payload" and isinstance(e[1], bytes))
    assert body == want_body
    assert [s for s in merged if s[0] != "payload"] == [e for e in expected if e[0] != "payload"]
    check_offsets(events)
    req = _request(list(events))
    assert req.raw == data[data.index(req.method.encode()) :][: len(req.raw)]
    assert req.raw.endswith(b"\n\n") or req.raw.endswith(b"\r\n\r\n")
    assert server.state == "done"


def test_request_fields() -> None:
    server = HttpServerFramer()
    raw = (
        b"GET /a%20b?q=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8\r\n"
        b"Accept: text/html\r\nAccept:  */* \r\nX-Folded: one\r\n two\r\n\r\n"
    )
    events = feed(server, raw)
    req = _request(list(events))
    assert req.raw == raw
    assert (req.method, req.target, req.version) == ("GET", "/a%20b?q=1", "HTTP/1.1")
    assert req.headers[:2] == (("Host", "localhost:8080"), ("User-Agent", "curl/8"))
    assert req.header("host") == "localhost:8080"
    assert req.header("ACCEPT") == "text/html, */*"  # RFC 9110 5.3
    assert req.header("x-folded") == "one two"
    assert req.header("missing") is None
    assert req.keep_alive and req.content_length is None and not req.chunked
    assert not req.expects_continue
    assert isinstance(events[-1], HttpRequestEnd) and events[-1].raw == b""


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_keep_alive_of_the_request(head: bytes, keep_alive: bool) -> None:
    server = HttpServerFramer()
    req = _request(list(feed(server, head)))
    assert req.keep_alive is keep_alive and server.keep_alive is keep_alive


# ---------------------------------------------------------------------------
# Requests to refuse, with the status to answer

_BIG = Limits()
ERRORS = [
    ("not HTTP", b"hello there\r\n", 400),
    ("TLS ClientHello on a plain port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    ("HTTP/0.9 simple request", b"GET /\r\n", 400),
    ("lower-case version", b"GET / http/1.1\r\n\r\n", 400),
    ("two spaces", b"GET  / HTTP/1.1\r\n\r\n", 400),
    ("space in the target", b"GET /a b HTTP/1.1\r\n\r\n", 400),
    ("bare CR in the request line", b"GET /\r HTTP/1.1\r\n\r\n", 400),
    ("missing Host on HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two Host fields", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("header without a colon", b"GET / HTTP/1.1\r\nHost: a\r\nbroken\r\n\r\n", 400),
    ("whitespace before the colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
    ("continuation line first", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("bad Content-Length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
    ("two Content-Lengths",
     b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    ("Content-Length and chunked",
     b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     400),
    ("Transfer-Encoding without chunked",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("Transfer-Encoding in HTTP/1.0",
     b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("bare LF in a chunk-size line",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n", 400),
    ("too many hex digits",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n",
     400),
    ("unknown transfer coding before chunked",
     b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    ("request line over 8 KiB",
     b"GET /" + b"a" * _BIG.max_request_line + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
    ("request line over 8 KiB, no line end yet", b"GET /" + b"a" * _BIG.max_request_line, 414),
    ("more than 100 header fields",
     b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * _BIG.max_headers + b"\r\n", 431),
    ("header section over 32 KiB",
     b"GET / HTTP/1.1\r\nHost: a\r\n" + (b"X-Big: " + b"v" * 1000 + b"\r\n") * 33 + b"\r\n",
     431),
    ("one header line over 32 KiB, no line end yet",
     b"GET / HTTP/1.1\r\nCookie: " + b"c" * _BIG.max_header_bytes, 431),
    ("HTTP/9.9", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n", 505),
    ("HTTP/2.0 over HTTP/1", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("HTTP/0.9 with a version", b"GET / HTTP/0.9\r\n\r\n", 505),
]


@pytest.mark.parametrize("split", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "status"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_errors_carry_the_status_to_answer(data: bytes, status: int, split: str) -> None:
    server = HttpServerFramer()
    with pytest.raises(HttpRequestError) as info:
        feed(server, data, split)
    assert info.value.status == status
    assert isinstance(info.value, RemoteProtocolError) and str(info.value)
    with pytest.raises(HttpRequestError):  # and again: the stream is out of sync
        server.next_event()
    assert server.state == "error" and not server.keep_alive
    # The server can still say why, and must close afterwards.
    head = server.send_response_head(status, body_length=0)
    assert head.startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\nConnection: close\r\n" in head


def test_oversized_request_line_is_refused_before_it_ends() -> None:
    server = HttpServerFramer(Limits(max_request_line=100))
    with pytest.raises(HttpRequestError) as info:
        for _ in range(10):
            feed(server, b"GET /" + b"a" * 50)
    assert info.value.status == 414


# ---------------------------------------------------------------------------
# Pipelining and the request/response cycle


def test_pipelined_requests_wait_for_start_next_request() -> None:
    server = HttpServerFramer()
    data = (
        b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
        b"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    events = feed(server, data)
    assert summary(events) == [("request", "GET", "/one", "HTTP/1.1"), ("request-end",)]
    assert server.state == "done" and server.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError, match="response is not complete"):
        server.start_next_request()
    assert server.send_response_head(200, body_length=2) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    )
    with pytest.raises(LocalProtocolError, match="response is not complete"):
        server.start_next_request()
    assert server.send_body(b"ok") == b"ok"
    assert server.response_complete and server.keep_alive
    server.start_next_request()
    assert summary(drain(server)) == [
        ("request", "POST", "/two", "HTTP/1.1"), ("payload", b"abc"), ("request-end",),
    ]
    server.send_response_head(204, body_length=None)
    server.start_next_request()
    events = drain(server)
    assert summary(events) == [("request", "GET", "/three", "HTTP/1.1"), ("request-end",)]
    head = server.send_response_head(200, headers=[("Content-Type", "text/plain")], body_length=5)
    assert head.endswith(b"Content-Length: 5\r\nConnection: close\r\n\r\n")
    assert not server.keep_alive
    server.send_body(b"three")
    with pytest.raises(LocalProtocolError, match="not kept alive"):
        server.start_next_request()


def test_client_framer_output_is_what_the_server_parses() -> None:
    """The two roles agree: a request typed in the shell parses here."""
    client = HttpClientFramer()
    wire = b"".join(
        client.send(line)
        for line in (b"POST /echo HTTP/1.1", b"Host: a", b"Content-Length: 4", b"", b"ping")
    )
    server = HttpServerFramer()
    events = feed(server, wire)
    assert summary(events) == [
        ("request", "POST", "/echo", "HTTP/1.1"), ("payload", b"ping"), ("request-end",),
    ]
    response = server.send_response_head(200, body_length=4) + server.send_body(b"pong")
    back = feed(client, response)
    head = next(ev for ev in back if isinstance(ev, HttpResponseHead))
    assert head.code == 200 and head.keep_alive and client.pending == 0


def test_eof_is_reported_once_and_says_whether_it_was_clean() -> None:
    server = HttpServerFramer()
    events = feed(server, b"", eof=True)
    assert [(type(e).__name__, e.clean) for e in events if isinstance(e, ConnectionClosed)] == [
        ("ConnectionClosed", True)
    ]
    assert server.next_event() is NEED_DATA

    server = HttpServerFramer()
    events = feed(server, b"GET / HTTP/1.1\r\nHost:", eof=True)
    assert isinstance(events[-1], ConnectionClosed) and not events[-1].clean

    server = HttpServerFramer()
    events = feed(server, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", eof=True)
    assert isinstance(events[-1], ConnectionClosed) and not events[-1].clean
    assert "3 of 9" in events[-1].reason

    # A client that half-closes after its request still gets its answer.
    server = HttpServerFramer()
    events = feed(server, LECTURE_11, eof=True)
    assert summary(events)[-1] == ("closed", True)
    assert server.send_response_head(200, body_length=0)


def test_memory_bounded_for_a_large_request_body() -> None:
    server = HttpServerFramer()
    total = 100 << 20
    mb = b"b" * (1 << 20)
    seen = 0
    tracemalloc.start()
    try:
        server.receive_data(b"PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        for _ in range(100):
            server.receive_data(mb)
            for ev in drain(server):
                if isinstance(ev, Payload):
                    assert len(ev.raw) <= Limits().chunk_size
                    seen += len(ev.raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total and server.state == "done"
    assert peak < 8 << 20, f"peak {peak}"


# ---------------------------------------------------------------------------
# Response heads


def _served(request: bytes) -> HttpServerFramer:
    server = HttpServerFramer()
    feed(server, request)
    return server


def test_head_request_gets_the_length_but_no_body() -> None:
    server = _served(b"HEAD /index.html HTTP/1.1\r\nHost: a\r\n\r\n")
    head = server.send_response_head(
        200, headers=[("Content-Type", "text/html")], body_length=438
    )
    assert head == b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 438\r\n\r\n"
    assert server.send_body(b"x" * 438) == b""  # RFC 9110 9.3.2: dropped
    assert server.response_complete and server.keep_alive


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(code: int) -> None:
    server = _served(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="no body"):
        server.send_response_head(code, body_length=3)
    head = server.send_response_head(code, headers=[("ETag", '"x"')], body_length=None)
    assert b"Content-Length" not in head and b"Connection" not in head
    assert server.send_body(b"ignored") == b""
    assert server.response_complete and server.keep_alive


def test_unknown_length_closes_the_connection() -> None:
    server = _served(b"GET /time-page HTTP/1.1\r\nHost: a\r\n\r\n")
    head = server.send_response_head(200, headers=[("Date", "x")], body_length=None)
    assert head == b"HTTP/1.1 200 OK\r\nDate: x\r\nConnection: close\r\n\r\n"
    assert not server.keep_alive
    assert server.send_body(b"a" * 100) == b"a" * 100


def test_http10_keep_alive_is_confirmed() -> None:
    server = _served(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    head = server.send_response_head(404, body_length=0)
    assert head == b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
    assert server.keep_alive


def test_server_may_close_on_its_own() -> None:
    server = _served(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    head = server.send_response_head(503, headers=[("Connection", "close")], body_length=0)
    assert head.count(b"Connection") == 1 and not server.keep_alive


def test_answering_before_the_body_is_read_closes() -> None:
    server = HttpServerFramer()
    events = feed(server, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc")
    assert _request(list(events)).content_length == 1000
    head = server.send_response_head(413, body_length=0)
    assert head.startswith(b"HTTP/1.1 413 Content Too Large\r\n") and b"Connection: close" in head
    assert not server.keep_alive


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("X-Evil", "a\r\nSet-Cookie: x=1")], "response splitting"),
        ([("X-Evil", "a\nb")], "response splitting"),
        ([("X-Evil", "a\x00b")], "response splitting"),
        ([("Bad Name", "v")], "not a token"),
        ([("", "v")], "not a token"),
        ([("Content-Length", "5")], "disagrees"),
        ([("Transfer-Encoding", "chunked")], "not supported"),
        ([("X-Uni", "snow \u2603")], "Latin-1"),
    ],
)
def test_unsafe_response_heads_are_refused(headers: list[tuple[str, str]], message: str) -> None:
    server = _served(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(LocalProtocolError, match=message):
        server.send_response_head(200, headers=headers, body_length=3)


def test_status_and_reason_are_checked() -> None:
    server = _served(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    for code in (99, 600, True):
        with pytest.raises(LocalProtocolError):
            server.send_response_head(code, body_length=0)
    with pytest.raises(LocalProtocolError, match="reason"):
        server.send_response_head(200, "OK\r\nX: y", body_length=0)
    assert server.send_response_head(299, body_length=0).startswith(b"HTTP/1.1 299 \r\n")
    with pytest.raises(LocalProtocolError, match="already sent"):
        server.send_response_head(200, body_length=0)


def test_send_body_is_counted() -> None:
    server = _served(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="before a final response"):
        server.send_body(b"x")
    server.send_response_head(200, headers=[("Content-Length", "4")], body_length=None)
    server.send_body(b"ab")
    with pytest.raises(LocalProtocolError, match="only 2 left"):
        server.send_body(b"cde")
    server.send_body(b"cd")
    assert server.response_complete


def test_interim_responses() -> None:
    server = _served(
        b"PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    req = server.request
    assert req is not None and req.expects_continue
    assert server.send_response_head(100, body_length=None) == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert summary(feed(server, b"abc")) == [("payload", b"abc"), ("request-end",)]
    server.send_response_head(201, body_length=0)
    server.start_next_request()

    old = _served(b"GET / HTTP/1.0\r\n\r\n")
    with pytest.raises(LocalProtocolError, match="HTTP/1.0"):
        old.send_response_head(100, body_length=None)


def test_switching_protocols_keeps_later_bytes() -> None:
    server = HttpServerFramer()
    feed(server, b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\n\r\n\x81\x02hi")
    head = server.send_response_head(
        101, headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")], body_length=None
    )
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert server.state == "switched" and not server.keep_alive
    server.receive_data(b"\x81\x01!")
    assert server.trailing_data == b"\x81\x02hi\x81\x01!"
    assert server.next_event() is NEED_DATA


# ---------------------------------------------------------------------------
# Reusing a response head (the embedded server's cached files)

GET_A = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
HEAD_FIELDS = [("Date", "Sun, 06 Nov 1994 08:49:37 GMT"), ("Content-Type", "text/plain")]


def test_a_reused_head_is_accounted_like_a_made_one() -> None:
    made = _served(GET_A)
    head = made.send_response_head(200, headers=HEAD_FIELDS, body_length=5)
    assert b"Connection" not in head and made.keep_alive
    reused = _served(GET_A)
    assert reused.reuse_response_head(200, 5)
    for server in (made, reused):
        assert not server.response_complete
        with pytest.raises(LocalProtocolError, match="only 5 left"):
            server.send_body(b"123456")
        assert server.send_body(b"hello") == b"hello"
        assert server.response_complete and server.keep_alive
        with pytest.raises(LocalProtocolError, match="already sent"):
            server.send_response_head(200, body_length=0)
        assert not server.reuse_response_head(200, 5)  # one final response per request
        server.start_next_request()
        server.receive_data(GET_A)
        assert summary(drain(server)) == [("request", "GET", "/a", "HTTP/1.1"), ("request-end",)]


def test_a_reused_head_for_head_has_no_body() -> None:
    server = _served(b"HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n")
    assert server.reuse_response_head(200, 5)
    assert server.response_complete and server.keep_alive
    assert server.send_body(b"hello") == b""  # RFC 9110 9.3.2, as with a made head


@pytest.mark.parametrize(
    ("request_head", "code"),
    [
        # the head would need a Connection field: close, or keep-alive for 1.0
        (b"GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200),
        (b"GET /a HTTP/1.0\r\n\r\n", 200),
        (b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200),
        # the request body is not read yet: the answer closes
        (b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", 200),
        # statuses without a body, and interim ones
        (GET_A, 304),
        (GET_A, 204),
        (GET_A, 100),
    ],
)
def test_a_head_is_not_reused_where_it_would_differ(request_head: bytes, code: int) -> None:
    server = _served(request_head)
    assert not server.reuse_response_head(code, 5)
    assert not server.response_complete  # nothing recorded: make the head instead
    server.send_response_head(code, body_length=0 if code == 200 else None)


def test_no_head_is_reused_before_a_request_or_after_an_error() -> None:
    assert not HttpServerFramer().reuse_response_head(200, 5)
    server = HttpServerFramer()
    server.receive_data(b"GET /a HTTP/1.1\r\n\r\n")  # no Host
    with pytest.raises(HttpRequestError):
        server.next_event()
    assert not server.reuse_response_head(200, 5)


@pytest.mark.parametrize(
    ("field_lines", "headers"),
    [
        (b"Host: a\r\n", (("Host", "a"),)),
        (b"Host:a\r\n", (("Host", "a"),)),
        # RFC 9110 5.5: whitespace around a value is not part of it
        (b"Host: \t a b \t \r\n", (("Host", "a b"),)),
        (
            b"Host: a\r\nX-Empty:\r\nX-Blank:  \t\r\n",
            (("Host", "a"), ("X-Empty", ""), ("X-Blank", "")),
        ),
        (
            b"Host: a\r\nX-Text: caf\xe9 \x01\x7f\r\n",
            (("Host", "a"), ("X-Text", "caf\xe9 \x01\x7f")),
        ),
    ],
)
def test_fast_and_line_by_line_parsing_agree(
    field_lines: bytes, headers: tuple[tuple[str, str], ...]
) -> None:
    """A whole head takes the one-pass path, a head fed byte by byte the
    line-by-line one: the request must come out the same."""
    data = b"GET /x HTTP/1.1\r\n" + field_lines + b"\r\n"
    whole = _request(feed(HttpServerFramer(), data, "whole"))
    bytewise = _request(feed(HttpServerFramer(), data, "bytewise"))
    assert whole == bytewise
    assert whole.headers == headers and whole.raw == data


def test_pipelined_requests_in_one_read_are_all_parsed() -> None:
    """Each head is taken from the chunk as it arrived; the rest stays."""
    server = HttpServerFramer()
    server.receive_data(GET_A * 3 + b"GET /b HTTP/1.1\r\nHost: b\r\n\r\nGET /c")
    targets = []
    for _ in range(4):
        events = drain(server)
        targets.append(_request(events).target)
        assert server.reuse_response_head(200, 0)
        server.start_next_request()
    assert targets == ["/a", "/a", "/a", "/b"]
    assert drain(server) == []
    server.receive_data(b" HTTP/1.1\r\nHost: c\r\n\r\n")
    assert _request(drain(server)).target == "/c"


# ---------------------------------------------------------------------------
# Fuzz: any bytes parse or are refused with one of the statuses above

_FRAGMENTS = [
    b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.0\r\n", b"Host: a\r\n", b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"\r\n", b"\n", b"\r",
    b"3\r\nabc\r\n", b"0\r\n", b" fold\r\n", b"HTTP/9.9", b"X: y\r\n",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=12)), max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    eof=st.booleans(),
)
def test_fuzz_server_any_bytes_parse_or_refuse(parts: list[bytes], cuts: list[int], eof: bool) -> None:
    server = HttpServerFramer(
        Limits(max_request_line=64, max_header_bytes=128, max_headers=4, chunk_size=16)
    )
    data = b"".join(parts)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    try:
        for a, b in itertools.pairwise(bounds):
            server.receive_data(data[a:b])
            for ev in drain(server):
                if isinstance(ev, HttpRequestEnd):
                    server.send_response_head(200, body_length=0)
                    if server.keep_alive:
                        server.start_next_request()
        if eof:
            server.receive_data(b"")
            drain(server)
    except HttpRequestError as exc:
        assert exc.status in (400, 414, 431, 501, 505)
