"""The embedded HTTP server against real clients on 127.0.0.1.

curl, Python's http.client and urllib, raw sockets for what no polite
client sends, protoshell's own pipe mode, 50 concurrent clients with one
trickling its request, and headless Chromium (Debian's /usr/bin/chromium
driven by Playwright) clicking through the listing.  Every socket has a
timeout; every server is stopped at the end of its test or module.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from protoshell.server.control import EmbeddedServer

from .servers import ci_mode, require_binary

WEB = Path(__file__).resolve().parents[2] / "web"
SECRET = b"TOP SECRET: outside the document root"
NON_UTF8 = b"caf\xe9.txt"
BIG_SIZE = 20 * 1024 * 1024
SOCKET_TIMEOUT = 10.0
DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of web/ plus a big file, a non-UTF-8 name, and a symlink to a
    secret outside the root."""
    base = tmp_path_factory.mktemp("site")
    root = base / "www"
    shutil.copytree(WEB, root)
    (base / "secret.txt").write_bytes(SECRET)
    os.symlink(base / "secret.txt", root / "escape.txt")
    with open(os.path.join(os.fsencode(root), NON_UTF8), "wb") as f:
        f.write(b"a name that is not UTF-8\n")
    block = hashlib.sha256(b"protoshell").digest() * 4096  # 128 KiB, not all zeros
    (root / "big.bin").write_bytes(block * (BIG_SIZE // len(block)))
    return root


@dataclass
class Running:
    server: EmbeddedServer
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(scope="module")
def srv(site: Path) -> Iterator[Running]:
    log: list[str] = []
    with EmbeddedServer(site, timeout=5.0, log=log.append) as server:
        yield Running(server, log)


@pytest.fixture
def quick(site: Path) -> Iterator[Running]:
    """A server whose clients must be fast (0.6 s), for the timeout tests."""
    log: list[str] = []
    with EmbeddedServer(site, timeout=0.6, log=log.append) as server:
        yield Running(server, log)


# -- raw-socket helpers ----------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_responses(data: bytes) -> list[RawResponse]:
    """Split a byte stream into responses (Content-Length framed)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        out.append(RawResponse(status, headers, rest[:length]))
        data = rest[length:]
    return out


def raw_exchange(port: int, data: bytes, *, timeout: float = SOCKET_TIMEOUT) -> bytes:
    """Send data, then read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def get(
    port: int,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


# -- http.client / urllib ----------------------------------------------------------------------


def test_listing_and_files(srv: Running, site: Path) -> None:
    resp, body = get(srv.port, "/")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    page = body.decode()
    for name in ("a_web_page.html", "sample.txt", "images/", "examples/", "README.txt"):
        assert f'href="{name}"' in page
    assert 'href="caf%C3%A9%20menu.txt"' in page
    assert 'href="caf%E9.txt"' in page
    assert "escape.txt" not in page  # links out of the root are not listed
    for path, ctype in [
        ("/a_web_page.html", "text/html; charset=utf-8"),
        ("/sample.txt", "text/plain; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/status-codes.json", "application/json"),
        ("/images/waves.png", "image/png"),
        ("/images/sunset.jpeg", "image/jpeg"),
        ("/images/protocol.svg", "image/svg+xml"),
        ("/caf%C3%A9%20menu.txt", "text/plain; charset=utf-8"),
    ]:
        resp, body = get(srv.port, path)
        assert resp.status == 200, path
        assert resp.getheader("Content-Type") == ctype, path
        on_disk = (site / urllib.request.url2pathname(path.lstrip("/"))).read_bytes()
        assert body == on_disk, path
        assert resp.getheader("Content-Length") == str(len(on_disk))
        assert DATE_RE.match(resp.getheader("Last-Modified") or ""), path


def test_every_response_has_date_and_server(srv: Running) -> None:
    for method, path in [
        ("GET", "/"),
        ("GET", "/nope"),
        ("DELETE", "/"),
        ("GET", "/images"),
        ("HEAD", "/sample.txt"),
        ("GET", "/time-page"),
    ]:
        resp, _ = get(srv.port, path, method)
        assert DATE_RE.match(resp.getheader("Date") or ""), (method, path)
        assert resp.getheader("Server") == "protoshell/0.1.0"


def test_keep_alive_with_http_client(srv: Running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=SOCKET_TIMEOUT)
    try:
        conn.request("GET", "/sample.txt")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        local = sock.getsockname()
        for path in ("/", "/nope", "/images/waves.png"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert conn.sock is sock and sock.getsockname() == local  # same connection
        conn.request("GET", "/sample.txt", headers={"Connection": "close"})
        last = conn.getresponse()
        last.read()
        assert last.getheader("Connection") == "close"
        assert last.will_close
    finally:
        conn.close()


def test_urllib_follows_the_directory_redirect(srv: Running) -> None:
    with urllib.request.urlopen(srv.url + "images", timeout=SOCKET_TIMEOUT) as resp:
        assert resp.url == srv.url + "images/"
        assert b'href="waves.png"' in resp.read()


def test_urllib_404(srv: Running) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(srv.url + "no/such/file.txt", timeout=SOCKET_TIMEOUT)
    assert info.value.code == 404
    assert info.value.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"404 Not Found" in info.value.read()


def test_405_with_allow(srv: Running) -> None:
    resp, _ = get(srv.port, "/", "POST", body=b"name=value")
    assert resp.status == 405
    assert resp.getheader("Allow") == "GET, HEAD"


def test_head_same_headers_no_body(srv: Running) -> None:
    for path in ("/sample.txt", "/", "/big.bin", "/nope"):
        g, _ = get(srv.port, path)
        h, hbody = get(srv.port, path, "HEAD")
        assert hbody == b""
        assert g.status == h.status
        skip = {"date"}
        assert [(k, v) for k, v in g.getheaders() if k.lower() not in skip] == [
            (k, v) for k, v in h.getheaders() if k.lower() not in skip
        ]


def test_if_modified_since(srv: Running) -> None:
    resp, _ = get(srv.port, "/sample.txt")
    stamp = resp.getheader("Last-Modified")
    assert stamp
    again, body = get(srv.port, "/sample.txt", headers={"If-Modified-Since": stamp})
    assert again.status == 304 and body == b""
    assert again.getheader("Last-Modified") == stamp
    old, body = get(
        srv.port, "/sample.txt", headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}
    )
    assert old.status == 200 and body


def test_time_page(srv: Running) -> None:
    before = time.gmtime()
    resp, body = get(srv.port, "/time-page")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    shown = re.search(rb'<strong id="time">(\d\d):(\d\d):(\d\d)</strong>', body)
    assert shown
    seconds = int(shown[1]) * 3600 + int(shown[2]) * 60 + int(shown[3])
    expected = before.tm_hour * 3600 + before.tm_min * 60 + before.tm_sec
    assert (seconds - expected) % 86400 <= 5


def test_non_utf8_name_lists_and_downloads(srv: Running) -> None:
    resp, body = get(srv.port, "/caf%E9.txt")
    assert resp.status == 200 and body == b"a name that is not UTF-8\n"


def test_big_file_with_sendfile(srv: Running, site: Path) -> None:
    expected = hashlib.sha256((site / "big.bin").read_bytes()).hexdigest()
    resp, body = get(srv.port, "/big.bin")
    assert resp.status == 200
    assert resp.getheader("Content-Length") == str(BIG_SIZE)
    assert resp.getheader("Content-Type") == "application/octet-stream"
    assert len(body) == BIG_SIZE
    assert hashlib.sha256(body).hexdigest() == expected


def test_client_leaving_mid_file_does_not_hurt(srv: Running) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=SOCKET_TIMEOUT) as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(100_000)
    resp, body = get(srv.port, "/sample.txt")
    assert resp.status == 200 and body


def test_file_vanishing_mid_download(site: Path, srv: Running) -> None:
    victim = site / "victim.bin"
    shutil.copy(site / "big.bin", victim)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=SOCKET_TIMEOUT) as s:
        s.sendall(b"GET /victim.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200 OK")
        victim.unlink()  # while it is being sent
        total = len(got)
        while total < BIG_SIZE + len(got.split(b"\r\n\r\n")[0]) + 4:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            total += len(chunk)
    # the open file is still sent whole or cut short, but the server lives on
    resp, _ = get(srv.port, "/victim.bin")
    assert resp.status == 404
    resp, _ = get(srv.port, "/sample.txt")
    assert resp.status == 200


# -- raw sockets: what no polite client sends --------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"HELO there\r\n\r\n", 400),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),  # TLS to a plain port
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
        (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * 40_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: 1\r\n" * 150 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 needs Host
    ],
)
def test_malformed_requests(srv: Running, data: bytes, status: int) -> None:
    [resp] = parse_responses(raw_exchange(srv.port, data))
    assert resp.status == status
    assert resp.headers["connection"] == "close"
    assert DATE_RE.match(resp.headers["date"])
    assert resp.headers["server"] == "protoshell/0.1.0"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/images/..%2f..%2fsecret.txt",
        "/%5c..%5csecret.txt",
        "/..%5csecret.txt",
        "/escape.txt",
        "/sample.txt%00.html",
        "http://127.0.0.1/../secret.txt",
    ],
)
def test_never_outside_the_root(srv: Running, path: str) -> None:
    data = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    [resp] = parse_responses(raw_exchange(srv.port, data))
    assert resp.status in (400, 404)
    assert SECRET not in resp.body


@pytest.mark.parametrize(
    "path", ["//evil/..%2f..", "//evil", "//images", "/%2F%2Fimages", "///images", "//images/.."]
)
def test_redirect_location_is_never_protocol_relative(srv: Running, path: str) -> None:
    data = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    [resp] = parse_responses(raw_exchange(srv.port, data))
    location = resp.headers.get("location")
    if location is not None:
        assert location.startswith("/") and not location.startswith("//")


def test_pipelined_requests_answered_in_order(srv: Running) -> None:
    paths = ["/sample.txt", "/nope", "/", "/big.bin", "/images/waves.png", "/time-page"]
    data = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
    data += b"GET /sample.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses = parse_responses(raw_exchange(srv.port, data))
    assert [r.status for r in responses] == [200, 404, 200, 200, 200, 200, 200]
    assert len(responses[3].body) == BIG_SIZE


def test_http10_closes(srv: Running) -> None:
    [resp] = parse_responses(raw_exchange(srv.port, b"GET /sample.txt HTTP/1.0\r\n\r\n"))
    assert resp.status == 200 and resp.headers["connection"] == "close"


# -- closing: RFC 9112 9.6, no reset ---------------------------------------------------------------


def test_a_closing_reply_is_not_destroyed_by_a_reset(srv: Running) -> None:
    """The server answers 400 and closes while the client is still sending: a plain close
    with unread bytes makes the kernel reset the connection, and the reply is lost or cut
    (protoshell's pipe mode: `GET /`, then the empty line, exit 3 "connection reset" one
    time in six). It half-closes and reads on, as nginx's lingering close does."""
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=SOCKET_TIMEOUT) as s:

            def send_on() -> None:
                with contextlib.suppress(OSError):  # a reset ends the sending too
                    s.sendall(b"GET /\r\n" + b"x" * (2 << 20))  # more than one read of the server
                    s.shutdown(socket.SHUT_WR)

            sender = threading.Thread(target=send_on)
            sender.start()
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            finally:
                sender.join(SOCKET_TIMEOUT)
        [resp] = parse_responses(data)
        assert resp.status == 400 and resp.headers["connection"] == "close"


# -- deadlines: 408 ------------------------------------------------------------------------------


def test_idle_client_gets_408(quick: Running) -> None:
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SOCKET_TIMEOUT) as s:
        data = s.recv(65536)
        rest = s.recv(65536)
    elapsed = time.monotonic() - start
    [resp] = parse_responses(data + rest)
    assert resp.status == 408 and resp.headers["connection"] == "close"
    assert 0.5 <= elapsed < 5


def test_idle_keep_alive_connection_gets_408(quick: Running) -> None:
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SOCKET_TIMEOUT) as s:
        s.sendall(b"GET /sample.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):  # until the server closes
            data += chunk
    assert [r.status for r in parse_responses(data)] == [200, 408]


def test_trickling_client_gets_408(quick: Running) -> None:
    request = b"GET /sample.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    got = b""
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SOCKET_TIMEOUT) as s:
        for byte in request:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)  # 39 bytes * 0.1 s: far beyond the 0.6 s deadline
            s.setblocking(False)
            try:
                got += s.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                pass
            s.setblocking(True)
            s.settimeout(SOCKET_TIMEOUT)
            if got:
                break
        with_rest = got
        try:
            while chunk := s.recv(65536):
                with_rest += chunk
        except OSError:
            pass
    [resp] = parse_responses(with_rest)
    assert resp.status == 408
    assert any('"-" 408' in line for line in quick.log)


def test_fifty_clients_one_trickling(site: Path) -> None:
    """50 clients at once: one trickles its request byte by byte (and is cut
    off with 408), the other 49 make three requests each and are all served
    while it trickles."""
    expected = {
        "/sample.txt": (site / "sample.txt").read_bytes(),
        "/images/waves.png": (site / "images" / "waves.png").read_bytes(),
        "/status-codes.json": (site / "status-codes.json").read_bytes(),
    }
    results: list[tuple[bool, float]] = []
    errors: list[str] = []
    trickle: dict[str, object] = {}
    lock = threading.Lock()

    with EmbeddedServer(site, timeout=2.5) as server:
        port = server.port
        started = threading.Event()

        def trickler() -> None:
            request = b"GET /sample.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
            data = b""
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT) as s:
                    for i, byte in enumerate(request):
                        s.sendall(bytes([byte]))
                        if i == 3:
                            started.set()
                        time.sleep(0.1)  # 44 bytes: 4.4 s, past the 2.5 s deadline
                        s.setblocking(False)
                        try:
                            data += s.recv(65536)
                        except BlockingIOError:
                            pass
                        s.setblocking(True)
                        s.settimeout(SOCKET_TIMEOUT)
                        if data:
                            break
                    while chunk := s.recv(65536):
                        data += chunk
            except OSError as exc:
                trickle["error"] = repr(exc)
            finally:
                started.set()
                trickle["data"] = data
                trickle["done"] = time.monotonic()

        def client(n: int) -> None:
            ok = True
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT)
                for path, body in expected.items():
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    if resp.status != 200 or resp.read() != body:
                        ok = False
                conn.close()
            except OSError as exc:
                ok = False
                with lock:
                    errors.append(f"client {n}: {exc!r}")
            with lock:
                results.append((ok, time.monotonic()))

        t = threading.Thread(target=trickler)
        t.start()
        assert started.wait(SOCKET_TIMEOUT)
        threads = [threading.Thread(target=client, args=(n,)) for n in range(49)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        t.join(30)

    assert errors == []
    assert len(results) == 49 and all(ok for ok, _ in results)
    # everyone was served while the trickler was still trickling
    assert max(when for _, when in results) < float(trickle["done"])  # type: ignore[arg-type]
    [resp] = parse_responses(trickle["data"])  # type: ignore[arg-type]
    assert resp.status == 408


def test_trickling_within_the_deadline_is_served(site: Path) -> None:
    with EmbeddedServer(site, timeout=5.0) as server:
        request = b"GET /sample.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT) as s:
            for byte in request:
                s.sendall(bytes([byte]))
                time.sleep(0.005)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    [resp] = parse_responses(data)
    assert resp.status == 200 and resp.body == (site / "sample.txt").read_bytes()


def test_reader_that_stops_reading_is_dropped(quick: Running) -> None:
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SOCKET_TIMEOUT) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(2.0)  # read nothing for longer than the deadline
        total = 0
        try:
            while chunk := s.recv(1 << 20):
                total += len(chunk)
        except ConnectionResetError:
            pass
    assert total < BIG_SIZE  # cut off, not served forever


# -- the access log ------------------------------------------------------------------------------


def test_access_log_escapes_control_characters(srv: Running) -> None:
    get(srv.port, "/sample.txt", headers={"User-Agent": "evil\x1b[2J\x1b]0;pwned\x07"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("pwned" in x for x in srv.log):
        time.sleep(0.01)
    [line] = [x for x in srv.log if "pwned" in x]
    assert line.isprintable()
    assert '"evil\\x1b[2J\\x1b]0;pwned\\x07"' in line
    assert '"GET /sample.txt HTTP/1.1" 200 ' in line


# -- curl ----------------------------------------------------------------------------------------


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    exe = require_binary("curl", "curl")
    return subprocess.run(
        [exe, "-sS", "--max-time", "20", *args], capture_output=True, timeout=30, check=False
    )


def test_curl(srv: Running, site: Path, tmp_path: Path) -> None:
    out = curl("-i", srv.url)
    assert out.returncode == 0
    assert out.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Index of /" in out.stdout

    dest = tmp_path / "waves.png"
    out = curl("-o", str(dest), "-w", "%{http_code} %{content_type}", srv.url + "images/waves.png")
    assert out.stdout == b"200 image/png"
    assert dest.read_bytes() == (site / "images" / "waves.png").read_bytes()

    big = tmp_path / "big.bin"
    out = curl("-o", str(big), "-w", "%{http_code}", srv.url + "big.bin")
    assert out.stdout == b"200" and big.stat().st_size == BIG_SIZE

    out = curl("-I", srv.url + "a_web_page.html")
    size = (site / "a_web_page.html").stat().st_size
    assert f"Content-Length: {size}\r\n".encode() in out.stdout

    out = curl("-L", "-w", "%{url_effective}", "-o", "/dev/null", srv.url + "images")
    assert out.stdout.decode() == srv.url + "images/"

    out = curl("--path-as-is", "-w", "%{http_code}", "-o", "/dev/null", srv.url + "../secret.txt")
    assert out.stdout == b"400"

    out = curl("-X", "DELETE", "-i", srv.url + "sample.txt")
    assert out.stdout.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD\r\n" in out.stdout


def test_curl_reuses_the_connection(srv: Running) -> None:
    out = curl("-v", "-o", "/dev/null", "-o", "/dev/null", srv.url + "sample.txt", srv.url)
    assert out.returncode == 0
    assert re.search(rb"Re-?using existing connection", out.stderr, re.IGNORECASE), out.stderr


def test_curl_if_modified_since(srv: Running) -> None:
    head = curl("-I", srv.url + "sample.txt").stdout.decode("latin-1")
    [stamp] = re.findall(r"Last-Modified: (.*)\r\n", head)
    out = curl("-i", "-H", f"If-Modified-Since: {stamp}", srv.url + "sample.txt")
    assert out.stdout.startswith(b"HTTP/1.1 304 Not Modified\r\n")


# -- protoshell's own pipe mode ------------------------------------------------------------------


def test_protoshell_pipe_mode(srv: Running) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "protoshell", srv.url.rstrip("/")],
        input=b"GET /sample.txt HTTP/1.1\nHost: localhost\n\n",
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    text = out.stdout.decode()
    assert out.returncode == 0, out.stderr
    assert "C: GET /sample.txt HTTP/1.1" in text
    assert "S: HTTP/1.1 200 OK" in text
    assert "S: Server: protoshell/0.1.0" in text
    assert "S: A plain text file" in text


# -- protoshell serve (serve_main) in a real process ---------------------------------------------


def _start_serve(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``python -m protoshell.server ARGS``; wait for its first line (the URL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "protoshell.server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout = proc.stdout
    assert stdout is not None
    first: list[bytes] = []
    reader = threading.Thread(target=lambda: first.append(stdout.readline()))
    reader.start()
    reader.join(20)
    if not first:
        proc.kill()
        proc.wait(10)
        pytest.fail("protoshell serve printed nothing within 20 s")
    m = re.search(rb"at (http://127\.0\.0\.1:(\d+)/) \(port (\d+)\)", first[0])
    assert m, first[0]
    assert m[2] == m[3]
    return proc, int(m[3])


def test_serve_main_foreground(site: Path) -> None:
    proc, port = _start_serve(["--root", str(site), "--port", "0", "--timeout", "5"])
    try:
        resp, body = get(port, "/sample.txt", headers={"User-Agent": "test\x1b"})
        assert resp.status == 200 and body == (site / "sample.txt").read_bytes()
        get(port, "/nope")
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert b"server stopped" in out
    assert b"Traceback" not in err
    lines = err.decode().splitlines()
    assert len(lines) == 2
    assert '"GET /sample.txt HTTP/1.1" 200' in lines[0] and "test\\x1b" in lines[0]
    assert '"GET /nope HTTP/1.1" 404' in lines[1]


def test_serve_main_port_in_use(site: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "protoshell.server", "--root", str(site), "--port", str(port)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert out.returncode == 3
    err = out.stderr.decode()
    assert err.count("\n") == 1 and "address already in use" in err
    assert "Traceback" not in err


def test_serve_main_sigterm(site: Path) -> None:
    proc, _ = _start_serve(["--root", str(site), "--port", "0"])
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 0


# -- EmbeddedServer ------------------------------------------------------------------------------


def test_embedded_server_lifecycle(site: Path) -> None:
    server = EmbeddedServer(site)
    with pytest.raises(RuntimeError):
        _ = server.port
    server.start()
    port = server.port
    try:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}/"
        with urllib.request.urlopen(server.url + "sample.txt", timeout=SOCKET_TIMEOUT) as r:
            assert r.status == 200
        with pytest.raises(RuntimeError):
            server.start()
    finally:
        server.stop()
    server.stop()  # twice is fine
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_embedded_server_port_in_use(site: Path) -> None:
    with EmbeddedServer(site) as first, pytest.raises(OSError, match="address already in use"):
        EmbeddedServer(site, port=first.port).start()


def test_embedded_server_bad_root(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        EmbeddedServer(tmp_path / "missing").start()


def test_embedded_server_default_root_is_web() -> None:
    with (
        EmbeddedServer() as server,
        urllib.request.urlopen(server.url + "README.txt", timeout=SOCKET_TIMEOUT) as r,
    ):
        assert r.read() == (WEB / "README.txt").read_bytes()


def test_stop_with_clients_connected(site: Path) -> None:
    server = EmbeddedServer(site).start()
    socks = [
        socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT)
        for _ in range(5)
    ]
    socks[0].sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    for s in socks:
        s.close()


# -- headless Chromium ---------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(what: str) -> None:
    if ci_mode():
        pytest.fail(f"{what}; CI=true, so this is an error: install it in .ci/run")
    pytest.skip(what)


def png_distinct_colours(png: bytes) -> int:
    """Decode an 8-bit RGB/RGBA PNG (stdlib only) and count distinct pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, kind = 8, b"", 0, 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        ctype, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, kind, _, _, interlace = struct.unpack(">IIBBBBB", data)
            assert depth == 8 and kind in (2, 6) and interlace == 0
        elif ctype == b"IDAT":
            idat += data
    bpp = 3 if kind == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        colours.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp * 4))
        prev = line
    return len(colours)


def test_png_decoder_on_our_own_picture() -> None:
    assert png_distinct_colours((WEB / "images" / "waves.png").read_bytes()) > 50


def test_chromium_clicks_through_the_listing(srv: Running, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        _missing("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright Python package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 640, "height": 480})
            page.set_default_timeout(20_000)
            page.goto(srv.url)
            assert page.title() == "Index of /"
            page.click("a[href='a_web_page.html']")
            page.wait_for_load_state("networkidle")
            assert page.url == srv.url + "a_web_page.html"
            assert page.text_content("h1") == "A web page, piece by piece"
            # the stylesheet, the script, the JSON and all three images arrived
            page.wait_for_function("document.querySelectorAll('#codes tbody tr').length === 10")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.naturalWidth)")
            assert widths == [480, 320, 320]
            colour = page.eval_on_selector("h1", "h => getComputedStyle(h).color")
            assert colour == "rgb(11, 110, 153)"  # style.css's --accent
            shot = page.screenshot()
            (tmp_path / "page.png").write_bytes(shot)
            page.go_back()
            page.click("a[href='sample.txt']")
            assert "A plain text file" in (page.text_content("body") or "")
        finally:
            browser.close()
    assert png_distinct_colours(shot) > 50  # not blank: text, colours, pictures


def test_embedded_server_on_localhost(site: Path) -> None:
    """ "localhost" binds one address, so port 0 means one port."""
    with EmbeddedServer(site, host="localhost") as server:
        assert server.url == f"http://localhost:{server.port}/"
        with urllib.request.urlopen(server.url + "sample.txt", timeout=SOCKET_TIMEOUT) as r:
            assert r.status == 200


def test_slow_but_steady_download_is_not_cut(quick: Running, site: Path) -> None:
    """A client reading at ~4 MB/s takes ~2 s for 8 MB, longer than the 0.6 s
    deadline: it keeps making progress, so it gets the whole file."""
    size = 8 * 1024 * 1024
    (site / "medium.bin").write_bytes(bytes(range(256)) * (size // 256))
    with socket.create_connection(("127.0.0.1", quick.port), timeout=SOCKET_TIMEOUT) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
        s.sendall(b"GET /medium.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = bytearray()
        while chunk := s.recv(64 * 1024):
            data += chunk
            time.sleep(0.016)  # ~4 MB/s
    [resp] = parse_responses(bytes(data))
    assert resp.status == 200
    assert len(resp.body) == size and resp.body == (site / "medium.bin").read_bytes()
