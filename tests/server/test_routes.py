"""routes.py: request in, response out, no sockets.  One test (or table)
per behaviour the issue lists."""

from __future__ import annotations

import mimetypes
import os
import time

import pytest

from protoshell.proto.http import http_date
from protoshell.server import listing, routes
from protoshell.server.routes import CACHE_FILE_MAX, Response, Router, content_type

from .conftest import NON_UTF8, SECRET, Site, request

NOW = 1_795_000_000.0  # a fixed clock for the tests: Tue, 18 Nov 2026


def body_of(resp: Response) -> bytes:
    """The bytes the client would receive (reads a file body)."""
    if resp.file is not None:
        try:
            return resp.file.read()
        finally:
            resp.close_file()
    return resp.body


@pytest.fixture
def router(site: Site) -> Router:
    return Router(site.root)


# -- directories ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/sub", "/sub/"),
        ("/sub/deeper", "/sub/deeper/"),
        ("//sub", "/sub/"),
        ("///sub", "/sub/"),
        ("/sub-link", "/sub-link/"),
        ("/sub?x=1", "/sub/"),
        ("http://example.com/sub", "/sub/"),
        ("//sub/deeper/..", "/sub/"),  # "..": normalised, still one slash
        ("//", "/"),  # a listing is only served at its canonical URL,
        ("/.", "/"),  # so that its relative links resolve right
        ("/sub/./", "/sub/"),
        ("/sub//", "/sub/"),
    ],
)
def test_directory_without_slash_redirects(router: Router, target: str, location: str) -> None:
    resp = router.route(request(target), now=NOW)
    assert resp.status == 301
    assert resp.header("Location") == location
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert location.encode() in resp.body


def test_no_open_redirect(site: Site, router: Router) -> None:
    # The classic: "//evil/..%2f.." would become Location: //evil/ if the
    # server echoed the raw target; a directory named "evil" makes it bite.
    (site.root / "evil").mkdir()
    for target in (
        "//evil",
        "//evil/",
        "//evil/..%2f..",
        "//evil/..%2f..%2fevil",
        "/%2f%2fevil",
        "/%2fevil",
        "//evil%2f",
        "/./evil",
        "//./evil",
    ):
        resp = router.route(request(target), now=NOW)
        location = resp.header("Location")
        assert resp.status in (200, 301, 400), target
        if location is not None:
            assert location.startswith("/") and not location.startswith("//"), target
            assert not location.startswith("/\\"), target


def test_directory_listing(router: Router) -> None:
    resp = router.route(request("/"), now=NOW)
    assert resp.status == 200
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert resp.length == len(resp.body)
    page = resp.body.decode()
    assert "Index of /" in page
    assert 'href="hello.txt"' in page
    assert 'href="a%20b.txt"' in page
    assert 'href="caf%E9.txt"' in page
    assert 'href="../"' not in page
    assert "13 bytes" in page  # hello.txt's size
    sub = router.route(request("/sub/"), now=NOW).body.decode()
    assert 'href="../"' in sub and 'href="nested.txt"' in sub


def test_listing_shows_a_new_file_at_once(site: Site, router: Router) -> None:
    assert b"new.txt" not in router.route(request("/"), now=NOW).body
    (site.root / "new.txt").write_bytes(b"new")
    assert b"new.txt" in router.route(request("/"), now=NOW).body


def test_listing_sizes_are_refreshed(site: Site, router: Router) -> None:
    assert b"13 bytes" in router.route(request("/"), now=NOW).body
    (site.root / "hello.txt").write_bytes(b"x" * 2000)
    later = router.route(request("/"), now=NOW + routes.LISTING_MAX_AGE).body
    assert b"2.0 KiB" in later


def test_directory_vanishing_while_listed(router: Router, monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(*args: object) -> list[object]:
        raise FileNotFoundError("gone")

    monkeypatch.setattr(listing, "scan", gone)
    resp = router.route(request("/sub/"), now=NOW)
    assert resp.status == 404


# -- files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("x.html", "text/html; charset=utf-8"),
        ("x.txt", "text/plain; charset=utf-8"),
        ("x.jpeg", "image/jpeg"),
        ("x.jpg", "image/jpeg"),
        ("x.png", "image/png"),
        ("x.css", "text/css; charset=utf-8"),
        ("x.js", "text/javascript; charset=utf-8"),
        ("x.json", "application/json"),
        ("x.svg", "image/svg+xml"),
    ],
)
def test_content_types_without_a_mime_database(
    router: Router, monkeypatch: pytest.MonkeyPatch, name: str, ctype: str
) -> None:
    # As on a slim machine with no /etc/mime.types: mimetypes knows nothing.
    monkeypatch.setattr(mimetypes, "guess_type", lambda *a, **k: (None, None))
    resp = router.route(request(f"/types/{name}"), now=NOW)
    assert resp.status == 200
    assert resp.header("Content-Type") == ctype


def test_content_type_fallbacks() -> None:
    assert content_type(b"X.PNG") == "image/png"
    assert content_type(b"archive.tar.gz") == "application/octet-stream"
    assert content_type(b"no-extension") == "application/octet-stream"
    assert content_type(b"notes.\xff") == "application/octet-stream"


def test_file(site: Site, router: Router) -> None:
    resp = router.route(request("/hello.txt"), now=NOW)
    st = os.stat(site.root / "hello.txt")
    assert resp.status == 200
    assert resp.length == st.st_size
    assert resp.header("Last-Modified") == http_date(int(st.st_mtime))
    assert body_of(resp) == b"hello, world\n"


def test_big_file_is_an_open_file(site: Site, router: Router) -> None:
    resp = router.route(request("/big.bin"), now=NOW)
    assert resp.status == 200 and resp.file is not None
    assert resp.length == 300_000 > CACHE_FILE_MAX
    assert body_of(resp) == (site.root / "big.bin").read_bytes()


def test_changed_file_is_never_served_stale(site: Site) -> None:
    router = Router(site.root, settle=0)  # cache even a file written just now
    assert body_of(router.route(request("/hello.txt"), now=NOW)) == b"hello, world\n"
    (site.root / "hello.txt").write_bytes(b"HELLO")  # same inode, new size/ctime
    assert body_of(router.route(request("/hello.txt"), now=NOW)) == b"HELLO"
    os.replace(site.root / "a b.txt", site.root / "hello.txt")  # new inode
    assert body_of(router.route(request("/hello.txt"), now=NOW)) == b"spaces\n"


def test_a_same_size_rewrite_within_the_second_is_served_fresh(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system with whole-second timestamps, two writes of the
    same size in one second leave inode, size, mtime and ctime alike; a file
    changed within the last ``SETTLE_SECONDS`` is therefore read afresh for
    every request.  (Whole-second timestamps are simulated: the test's file
    system has nanoseconds.)"""
    monkeypatch.setattr(
        routes, "_file_key", lambda st: (st.st_ino, st.st_size, int(st.st_mtime), int(st.st_ctime))
    )
    router = Router(site.root)
    path = site.root / "hello.txt"
    path.write_bytes(b"version one\n")
    assert body_of(router.route(request("/hello.txt"), now=NOW)) == b"version one\n"
    path.write_bytes(b"version two\n")  # same size, (almost surely) the same second
    assert body_of(router.route(request("/hello.txt"), now=NOW)) == b"version two\n"
    # Settled files are cached (and still checked against each request's stat).
    settled = Router(site.root, settle=0)
    assert body_of(settled.route(request("/hello.txt"), now=NOW)) == b"version two\n"
    resp = settled.route(request("/hello.txt"), now=NOW)
    assert resp.key is not None and resp.key is settled.route(request("/hello.txt"), now=NOW).key


def test_non_utf8_name_downloads(router: Router) -> None:
    resp = router.route(request("/caf%E9.txt"), now=NOW)
    assert resp.status == 200
    assert body_of(resp) == b"latin-1 name\n"


def test_name_with_space_and_markup(router: Router) -> None:
    assert body_of(router.route(request("/a%20b.txt"), now=NOW)) == b"spaces\n"
    resp = router.route(request("/%3Cb%3E%26amp%3B.txt"), now=NOW)
    assert body_of(resp) == b"markup in the name\n"


def test_file_vanishing_mid_request_is_404(
    site: Site, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_after_delete(path: bytes, flags: int, *args: int) -> int:
        os.unlink(path)  # it was there for the stat, gone for the open
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", open_after_delete)
    resp = router.route(request("/hello.txt"), now=NOW)
    assert resp.status == 404
    assert resp.file is None


def test_file_replaced_by_fifo_does_not_hang(
    site: Site, router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def swap_for_fifo(path: bytes, flags: int, *args: int) -> int:
        os.unlink(path)
        os.mkfifo(path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", swap_for_fifo)
    assert router.route(request("/hello.txt"), now=NOW).status == 404


@pytest.mark.parametrize("target", ["/pipe", "/dangling", "/nope.txt", "/sub/nope/", "/hello.txt/"])
def test_missing_is_404_page(router: Router, target: str) -> None:
    resp = router.route(request(target), now=NOW)
    assert resp.status == 404
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert b"404 Not Found" in resp.body
    assert resp.length == len(resp.body)


def test_404_page_escapes_the_path(router: Router) -> None:
    resp = router.route(request("/%3Cscript%3Ealert(1)%3C/script%3E"), now=NOW)
    assert resp.status == 404
    assert b"<script>" not in resp.body
    assert b"&lt;script&gt;" in resp.body


# -- /time-page ----------------------------------------------------------------


def test_time_page(router: Router) -> None:
    resp = router.route(request("/time-page"), now=NOW)
    assert resp.status == 200
    assert resp.header("Content-Type") == "text/html; charset=utf-8"
    assert resp.header("Cache-Control") == "no-store"
    expected = time.strftime("%H:%M:%S", time.gmtime(NOW)).encode()
    assert expected in resp.body
    assert http_date(NOW).encode() in resp.body
    later = router.route(request("/time-page"), now=NOW + 61)
    assert time.strftime("%H:%M:%S", time.gmtime(NOW + 61)).encode() in later.body


def test_time_page_default_clock(router: Router) -> None:
    before = time.time()
    body = router.route(request("/time-page")).body
    stamps = {time.strftime("%H:%M:%S", time.gmtime(before + d)).encode() for d in (0, 1, 2)}
    assert any(s in body for s in stamps)


# -- methods -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get"])
def test_other_methods_405_with_allow(router: Router, method: str) -> None:
    resp = router.route(request("/hello.txt", method), now=NOW)
    assert resp.status == 405
    assert resp.header("Allow") == "GET, HEAD"
    assert b"405 Method Not Allowed" in resp.body


@pytest.mark.parametrize("target", ["/hello.txt", "/big.bin", "/", "/sub", "/nope", "/time-page"])
def test_head_same_headers_no_body(router: Router, target: str) -> None:
    get = router.route(request(target), now=NOW)
    head = router.route(request(target, "HEAD"), now=NOW)
    assert head.status == get.status
    assert head.headers == get.headers
    assert head.length == get.length
    assert head.file is None
    get.close_file()


# -- conditional requests ------------------------------------------------------


def test_if_modified_since(site: Site, router: Router) -> None:
    mtime = int(os.stat(site.root / "hello.txt").st_mtime)

    def status(value: str, method: str = "GET") -> int:
        headers = (("Host", "x"), ("If-Modified-Since", value))
        resp = router.route(request("/hello.txt", method, headers=headers), now=NOW)
        resp.close_file()
        if resp.status == 304:
            assert resp.body == b"" and resp.file is None and resp.length == 0
            assert resp.header("Last-Modified") == http_date(mtime)
        return resp.status

    assert status(http_date(mtime)) == 304
    assert status(http_date(mtime + 3600)) == 304
    assert status(http_date(mtime - 1)) == 200
    assert status("not a date") == 200
    assert status(http_date(mtime), "HEAD") == 304
    since = http_date(int(os.stat(site.root / "big.bin").st_mtime) + 9)
    big = router.route(
        request("/big.bin", headers=(("Host", "x"), ("If-Modified-Since", since))), now=NOW
    )
    assert big.status == 304 and big.file is None  # no file left open for a 304


# -- never outside the root ----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/sub/..%2f..%2foutside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/%5c..%5coutside%5csecret.txt",
        "/escape.txt",
        "/escape-dir/secret.txt",
        "/escape-dir/",
        "/hello.txt%00",
        "/%00/../outside/secret.txt",
        "http://x/../outside/secret.txt",
        "/.hidden",
    ],
)
def test_no_escape_from_root(router: Router, target: str) -> None:
    resp = router.route(request(target), now=NOW)
    assert resp.status in (400, 404)
    assert SECRET not in body_of(resp)


def test_layout_assumed_by_the_escape_tests(site: Site) -> None:
    """The escape targets above would reach the secret if not refused."""
    assert os.path.realpath(site.path("../outside/secret.txt")) == os.path.realpath(
        os.fsencode(site.outside / "secret.txt")
    )
    assert (site.root / "escape.txt").read_bytes() == SECRET
    assert os.path.exists(site.path(NON_UTF8))
