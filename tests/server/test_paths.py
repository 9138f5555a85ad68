"""paths.py: what a URL may reach on disk (no sockets)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoshell.server.paths import DocumentRoot, PathRefused, UrlPath, parse_url_path

from .conftest import NON_UTF8, Site


@pytest.mark.parametrize(
    ("target", "segments", "slash"),
    [
        ("/", (), True),
        ("/a", (b"a",), False),
        ("/a/", (b"a",), True),
        ("/a/b/../c", (b"a", b"c"), False),
        ("/a/./b/.", (b"a", b"b"), True),
        ("/a/b/..", (b"a",), True),
        ("//a///b", (b"a", b"b"), False),
        ("/a%20b", (b"a b",), False),
        ("/caf%E9.txt", (NON_UTF8,), False),
        ("/caf%C3%A9", ("café".encode(),), False),
        ("/a%2Fb", (b"a", b"b"), False),  # decoded before splitting: %2F is a slash
        ("/a?x=/../..", (b"a",), False),  # the query is not part of the path
        ("http://example.com/x/y", (b"x", b"y"), False),  # absolute-form
        ("http://example.com", (), True),
        ("/%zz", (b"%zz",), False),  # not an escape: kept as is
    ],
)
def test_parse_url_path(target: str, segments: tuple[bytes, ...], slash: bool) -> None:
    url = parse_url_path(target)
    assert url.segments == segments
    assert url.trailing_slash == slash


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/..", 400),
        ("/../etc/passwd", 400),
        ("/%2e%2e/etc/passwd", 400),
        ("/%2E%2E%2Fetc%2Fpasswd", 400),
        ("/..%2f..%2fetc%2fpasswd", 400),
        ("/sub/../../etc/passwd", 400),
        ("/sub/%2e%2e/%2e%2e/", 400),
        ("/..%5c..%5cetc%5cpasswd", 400),
        ("/%5c%5cserver%5cshare", 400),
        ("/hello.txt%00.html", 400),
        ("/%00", 400),
        ("/.hidden", 404),
        ("/sub/.git/config", 404),
        ("*", 400),
        ("example.com:443", 400),
        ("relative/path", 400),
    ],
)
def test_refused_targets(target: str, status: int) -> None:
    with pytest.raises(PathRefused) as info:
        parse_url_path(target)
    assert info.value.status == status


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/sub", "/sub/"),
        ("//sub", "/sub/"),
        ("///sub", "/sub/"),
        ("//evil.example/sub/..", "/evil.example/"),
        ("/a b", "/a%20b/"),
        ("/caf%E9", "/caf%E9/"),
        ("/%2F%2Fevil", "/evil/"),
        ("/a:b", "/a%3Ab/"),  # never a scheme
    ],
)
def test_canonical_location_has_one_leading_slash(target: str, location: str) -> None:
    assert parse_url_path(target).quoted(slash=True) == location


@given(st.text(alphabet="/.%2fFeE5cC0ab:?#\\", max_size=30))
def test_quoted_never_starts_with_two_slashes(tail: str) -> None:
    try:
        url = parse_url_path("/" + tail)
    except PathRefused:
        return
    location = url.quoted(slash=True)
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location
    assert ".." not in location.split("/")


def test_display_is_readable_text() -> None:
    assert parse_url_path("/caf%C3%A9/sub/").display() == "/café/sub/"
    assert parse_url_path("/caf%E9/").display() == "/caf\ufffd/"
    assert UrlPath((), True).display() == "/"


def test_resolve_kinds(site: Site) -> None:
    root = DocumentRoot(site.root)
    assert root.resolve(parse_url_path("/")).kind == "dir"
    assert root.resolve(parse_url_path("/sub")).kind == "dir"
    assert root.resolve(parse_url_path("/hello.txt")).kind == "file"
    assert root.resolve(parse_url_path("/hello.txt/")).kind == "missing"
    assert root.resolve(parse_url_path("/hello.txt/x")).kind == "missing"
    assert root.resolve(parse_url_path("/nope")).kind == "missing"
    assert root.resolve(parse_url_path("/caf%E9.txt")).kind == "file"


def test_symlinks_inside_work_and_outside_do_not(site: Site) -> None:
    root = DocumentRoot(site.root)
    inside = root.resolve(parse_url_path("/inside-link.txt"))
    assert inside.kind == "file"
    assert inside.fs_path == os.path.realpath(site.path("hello.txt"))
    assert root.resolve(parse_url_path("/sub-link/nested.txt")).kind == "file"
    assert root.resolve(parse_url_path("/escape.txt")).kind == "missing"
    assert root.resolve(parse_url_path("/escape-dir/secret.txt")).kind == "missing"
    assert root.resolve(parse_url_path("/escape-dir")).kind == "missing"
    assert root.resolve(parse_url_path("/dangling")).kind == "missing"


def test_special_files_are_missing(site: Site) -> None:
    root = DocumentRoot(site.root)
    assert root.resolve(parse_url_path("/pipe")).kind == "missing"


def test_root_reached_through_a_symlink(site: Site, tmp_path: os.PathLike[str]) -> None:
    link = os.path.join(tmp_path, "www-link")
    os.symlink(site.root, link)
    root = DocumentRoot(link)
    assert root.resolve(parse_url_path("/hello.txt")).kind == "file"
    assert root.resolve(parse_url_path("/escape.txt")).kind == "missing"


def test_root_must_be_a_directory(site: Site) -> None:
    with pytest.raises(NotADirectoryError):
        DocumentRoot(site.root / "hello.txt")


def test_contains(site: Site) -> None:
    root = DocumentRoot(site.root)
    assert root.contains(root.real)
    assert root.contains(root.real + b"/x")
    assert not root.contains(root.real + b"x")  # /www-evil is not inside /www
    assert not root.contains(os.fsencode(site.outside))
