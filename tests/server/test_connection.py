"""connection.py: bytes in, replies out (the framer in the server role plus
the router), no sockets.  Every request is also fed one byte at a time."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

import pytest

from protoshell.proto.base import Limits
from protoshell.proto.http import http_date
from protoshell.server.connection import Reply, ServerConnection, escape_log
from protoshell.server.routes import Router

from .conftest import Site

DATE_RE = re.compile(
    rb"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov"
    rb"|Dec) \d{4} \d\d:\d\d:\d\d GMT\r$",
    re.MULTILINE,
)


class Client:
    """A connection plus what it wrote and logged."""

    def __init__(
        self,
        site: Site,
        *,
        bytewise: bool = False,
        limits: Limits | None = None,
        now: Callable[[], float] = time.time,
    ):
        self.log: list[str] = []
        # settle=0: files the test has just written are cached at once
        self.conn = ServerConnection(
            Router(site.root, settle=0), peer="192.0.2.7", limits=limits, log=self.log.append, now=now
        )
        self.bytewise = bytewise

    def send(self, data: bytes) -> list[Reply]:
        replies: list[Reply] = []
        chunks = [data[i : i + 1] for i in range(len(data))] if self.bytewise else [data]
        for chunk in chunks:
            self.conn.receive_data(chunk)
            while (reply := self.conn.next_reply()) is not None:
                replies.append(reply)
                if reply.file is not None:
                    reply.file.close()
                    self.conn.file_sent(reply.file_length)
        return replies


def head_of(reply: Reply) -> bytes:
    return reply.data.split(b"\r\n\r\n", 1)[0]


def body_of(reply: Reply) -> bytes:
    return reply.data.split(b"\r\n\r\n", 1)[1]


def header(reply: Reply, name: str) -> str | None:
    for line in head_of(reply).split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.decode().lower() == name.lower():
            return v.strip().decode("latin-1")
    return None


def status(reply: Reply) -> int:
    return int(reply.data.split(b" ", 2)[1])


@pytest.fixture(params=[False, True], ids=["whole", "bytewise"])
def client(request: pytest.FixtureRequest, site: Site) -> Client:
    return Client(site, bytewise=request.param)


GET = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def test_get_a_file(client: Client) -> None:
    [reply] = client.send(GET)
    assert reply.data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert header(reply, "Content-Length") == "13"
    assert header(reply, "Content-Type") == "text/plain; charset=utf-8"
    assert body_of(reply) == b"hello, world\n"
    assert not reply.close
    assert client.conn.requests == 1


CASES = [
    (GET, 200),
    (b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n", 301),
    (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /time-page HTTP/1.0\r\n\r\n", 200),
    (b"hello there\r\n", 400),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
    (b"GET /\r\n", 400),  # HTTP/0.9
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 33_000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n", 431),
]


@pytest.mark.parametrize(
    ("data", "code"), CASES, ids=[f"{c}-{i}" for i, (_, c) in enumerate(CASES)]
)
def test_status_and_date_and_server_on_every_response(
    client: Client, data: bytes, code: int
) -> None:
    replies = client.send(data)
    assert [status(r) for r in replies] == [code]
    head = head_of(replies[0]) + b"\r\n"
    assert DATE_RE.search(head), head
    assert header(replies[0], "Server") == "protoshell/0.1.0"
    if code >= 400:
        assert header(replies[0], "Content-Type") == "text/html; charset=utf-8"
        assert str(code).encode() in body_of(replies[0])
    if code in (400, 414, 431, 505):
        assert replies[0].close and client.conn.closed
        assert header(replies[0], "Connection") == "close"


def test_limits_are_just_right(client: Client) -> None:
    # 100 headers and a request line just under 8 KiB are fine.
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 99 + b"\r\n"
    assert [status(r) for r in client.send(many)] == [200]
    long_line = b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert [status(r) for r in client.send(long_line)] == [404]


def test_time_408(site: Site) -> None:
    client = Client(site)
    client.send(b"GET /hello.txt HTTP/1.1\r\nHo")  # trickling...
    reply = client.conn.timeout_reply()
    assert status(reply) == 408
    assert reply.close
    assert header(reply, "Connection") == "close"
    assert DATE_RE.search(head_of(reply) + b"\r\n")
    assert '"-" 408' in client.log[-1]


def test_408_when_idle_after_a_response(site: Site) -> None:
    client = Client(site)
    client.send(GET)
    reply = client.conn.timeout_reply()
    assert status(reply) == 408 and reply.close


# -- keep-alive ----------------------------------------------------------------


def test_keep_alive_and_pipelining(client: Client) -> None:
    three = (
        GET
        + b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    replies = client.send(three)
    assert [status(r) for r in replies] == [200, 200, 404]
    assert not any(r.close for r in replies)
    assert body_of(replies[0]) == b"hello, world\n"
    assert body_of(replies[1]) == b""  # HEAD: no body...
    assert header(replies[1], "Content-Length") == "13"  # ...same headers
    assert header(replies[0], "Connection") is None


def test_head_has_the_same_headers_as_get(client: Client) -> None:
    for target in (b"/hello.txt", b"/", b"/big.bin", b"/nope", b"/sub"):
        get, head = client.send(
            b"GET %s HTTP/1.1\r\nHost: x\r\n\r\nHEAD %s HTTP/1.1\r\nHost: x\r\n\r\n"
            % (target, target)
        )
        assert head_of(get).split(b"\r\n")[2:] == head_of(head).split(b"\r\n")[2:]
        assert body_of(head) == b""
        assert head.file is None


def test_connection_close(client: Client) -> None:
    replies = client.send(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + GET)
    assert len(replies) == 1  # nothing after the close
    assert replies[0].close and client.conn.closed
    assert header(replies[0], "Connection") == "close"


def test_http10(client: Client) -> None:
    [reply] = client.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert reply.close and header(reply, "Connection") == "close"


def test_http10_keep_alive(client: Client) -> None:
    replies = client.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
    assert [status(r) for r in replies] == [200, 200]
    assert header(replies[0], "Connection") == "keep-alive" and not replies[0].close


def test_body_of_a_refused_post_is_skipped(client: Client) -> None:
    replies = client.send(
        b"POST /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world" + GET
    )
    assert [status(r) for r in replies] == [405, 200]
    assert header(replies[0], "Allow") == "GET, HEAD"


def test_chunked_body_is_skipped(client: Client) -> None:
    post = (
        b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    assert [status(r) for r in client.send(post + GET)] == [405, 200]


def test_expect_100_continue_gets_the_answer_at_once(site: Site) -> None:
    client = Client(site)
    replies = client.send(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    )
    assert [status(r) for r in replies] == [405]
    assert replies[0].close  # the body was never read: the stream is out of sync


def test_eof_after_requests(site: Site) -> None:
    client = Client(site)
    replies = client.send(GET)
    client.conn.receive_data(b"")
    assert client.conn.next_reply() is None
    assert client.conn.closed and len(replies) == 1


def test_eof_inside_a_request(site: Site) -> None:
    client = Client(site)
    assert client.send(b"GET /hello.txt HTTP/1.1\r\nHost") == []
    client.conn.receive_data(b"")
    assert client.conn.next_reply() is None
    assert client.conn.closed


# -- big files -----------------------------------------------------------------


def test_big_file_waits_for_file_sent(site: Site) -> None:
    conn = ServerConnection(Router(site.root))
    conn.receive_data(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
    first = conn.next_reply()
    assert first is not None and first.file is not None
    assert first.file_length == 300_000
    assert b"Content-Length: 300000\r\n" in first.data
    assert first.data.endswith(b"\r\n\r\n")  # the head only: the body is the file
    assert conn.next_reply() is None  # in order: the next waits for the file
    first.file.close()
    conn.file_sent(300_000)
    second = conn.next_reply()
    assert second is not None and status(second) == 200 and not second.close


def test_short_file_send_closes(site: Site) -> None:
    conn = ServerConnection(Router(site.root))
    conn.receive_data(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" + GET)
    first = conn.next_reply()
    assert first is not None and first.file is not None
    first.file.close()
    conn.file_sent(1000)  # the file shrank under us
    assert conn.closed
    assert conn.next_reply() is None


def test_router_bug_is_a_500_not_a_crash(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(site)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError

    monkeypatch.setattr(client.conn.router, "route", broken)
    [reply] = client.send(GET)
    assert status(reply) == 500
    assert "ZeroDivisionError" in client.log[-1]


# -- a cached file's head, made once a second ----------------------------------


class Clock:
    """The time the connection sees, set by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def made_heads(client: Client) -> list[bytes]:
    """Count the heads the framer serialises (the others are reused)."""
    made: list[bytes] = []
    framer = client.conn.framer
    make = framer.send_response_head

    def counting(*args: object, **kwargs: object) -> bytes:
        head = make(*args, **kwargs)  # type: ignore[arg-type]
        made.append(head)
        return head

    framer.send_response_head = counting  # type: ignore[method-assign]
    return made


def test_a_reused_head_is_the_head_that_would_be_made(site: Site) -> None:
    clock = Clock(1_000_000_000.2)
    client = Client(site, now=clock)
    made = made_heads(client)
    first, second, third = client.send(GET * 3)
    assert len(made) == 2  # the first read fills the cache; then one head a second
    assert first.data == second.data == third.data
    assert not third.close
    assert header(third, "Date") == http_date(1_000_000_000)
    assert body_of(third) == b"hello, world\n"
    assert len(client.log) == 3 and all('" 200 13 ' in line for line in client.log)


def test_date_moves_with_the_clock(site: Site) -> None:
    clock = Clock(1_000_000_000.2)
    client = Client(site, now=clock)
    made = made_heads(client)
    client.send(GET * 2)
    clock.now = 1_000_000_000.9
    [same] = client.send(GET)
    assert header(same, "Date") == http_date(1_000_000_000)
    clock.now = 1_000_000_001.0
    [later] = client.send(GET)
    assert header(later, "Date") == http_date(1_000_000_001)
    assert len(made) == 3  # a new second, a new head
    assert body_of(later) == b"hello, world\n"


def test_a_changed_file_is_never_served_from_a_reused_head(site: Site) -> None:
    client = Client(site, now=Clock(1_000_000_000.5))
    client.send(GET * 2)
    path = site.path("hello.txt")
    # a new size, then the same size: only the stat's times tell
    for content in (b"a new, longer greeting\n", b"A NEW, LONGER GREETING\n"):
        with open(path, "wb") as f:
            f.write(content)
        os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 1_000_000_000))  # a later mtime
        replies = client.send(GET * 2)
        for reply in replies:
            assert body_of(reply) == content
            assert header(reply, "Content-Length") == str(len(content))
            assert header(reply, "Last-Modified") == http_date(int(os.stat(path).st_mtime))
    os.unlink(path)
    [gone] = client.send(GET)
    assert status(gone) == 404


def test_head_if_modified_since_and_close_after_reused_heads(site: Site) -> None:
    client = Client(site, now=Clock(1_000_000_000.5))
    [get, _] = client.send(GET * 2)
    last_modified = header(get, "Last-Modified")
    assert last_modified is not None
    head, not_modified, again, closing = client.send(
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        + b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n"
        % last_modified.encode()
        + GET
        + b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert head_of(head) == head_of(get) and body_of(head) == b"" and not head.close
    assert status(not_modified) == 304 and body_of(not_modified) == b""
    assert header(not_modified, "Content-Length") is None
    assert again.data == get.data
    assert header(closing, "Connection") == "close" and closing.close and client.conn.closed
    assert body_of(closing) == b"hello, world\n"


def test_http10_is_answered_with_its_own_connection_field(site: Site) -> None:
    client = Client(site, now=Clock(1_000_000_000.5))
    client.send(GET * 2)
    [kept] = client.send(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert header(kept, "Connection") == "keep-alive" and not kept.close
    [closed] = client.send(b"GET /hello.txt HTTP/1.0\r\n\r\n")
    assert header(closed, "Connection") == "close" and closed.close


# -- the access log ------------------------------------------------------------


def test_log_line_format(client: Client) -> None:
    client.send(
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\nReferer: http://x/\r\n\r\n"
    )
    [line] = client.log
    assert re.fullmatch(
        r"192\.0\.2\.7 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "
        r'"GET /hello\.txt HTTP/1\.1" 200 13 "http://x/" "curl/8"',
        line,
    ), line


def test_log_escapes_control_characters(client: Client) -> None:
    client.send(
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n"
        b'User-Agent: \x1b[2J\x1b[31mred "quoted" \\ \x07\xc3\xa9\r\n\r\n'
    )
    [line] = client.log
    assert "\x1b" not in line and "\x07" not in line
    assert '"\\x1b[2J\\x1b[31mred \\"quoted\\" \\\\ \\x07\\xc3\\xa9"' in line
    assert line.isprintable()


def test_log_escapes_quotes_in_the_request_line(client: Client) -> None:
    client.send(b'GET /a"b\\c HTTP/1.1\r\nHost: x\r\n\r\n')
    [line] = client.log
    assert '"GET /a\\"b\\\\c HTTP/1.1" 400 ' in line


def test_log_of_a_refused_request_is_escaped(client: Client) -> None:
    client.send(b"GET /\x1b[31m\x00 HTTP/1.1\r\nHost: x\r\n\r\n")
    [line] = client.log
    assert '"-" 400' in line
    assert line.isprintable()


def test_log_head_counts_no_body(client: Client) -> None:
    client.send(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    assert '" 200 0 ' in client.log[-1]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"plain", "plain"),
        (b'a"b', 'a\\"b'),
        (b"a\\b", "a\\\\b"),
        (b"\r\n", "\\x0d\\x0a"),
        (b"\x7f\x80\xff", "\\x7f\\x80\\xff"),
        ("snowman \u2603", "snowman \\xe2\\x98\\x83"),
    ],
)
def test_escape_log(raw: bytes | str, shown: str) -> None:
    assert escape_log(raw) == shown
