"""listing.py: the directory page (no sockets)."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

from protoshell.server.listing import Entry, human_size, render, scan
from protoshell.server.paths import DocumentRoot

from .conftest import NON_UTF8, Site


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def links(page: bytes) -> list[tuple[str, str]]:
    parser = _Links()
    parser.feed(page.decode("utf-8"))
    return parser.links


def _scan(site: Site, sub: str = "") -> list[Entry]:
    root = DocumentRoot(site.root)
    return scan(os.path.join(root.real, os.fsencode(sub)) if sub else root.real, root.contains)


def test_scan_sorted_dirs_first_and_filtered(site: Site) -> None:
    names = [e.name for e in _scan(site)]
    dirs = [b"empty", b"sub", b"sub-link", b"types"]
    assert names[: len(dirs)] == dirs
    files = names[len(dirs) :]
    assert files == sorted(files, key=lambda n: (n.decode("utf-8", "replace").casefold(), n))
    # shown: regular files, in-root symlinks, odd names
    for name in (b"hello.txt", b"a b.txt", b"<b>&amp;.txt", b"inside-link.txt", NON_UTF8):
        assert name in names
    # never shown: dot files, links leaving the root, broken links, FIFOs
    for name in (b".hidden", b"escape.txt", b"escape-dir", b"dangling", b"pipe"):
        assert name not in names


def test_scan_sizes(site: Site) -> None:
    by_name = {e.name: e for e in _scan(site)}
    assert by_name[b"hello.txt"].size == len(b"hello, world\n")
    assert by_name[b"big.bin"].size == 300_000
    assert by_name[b"inside-link.txt"].size == len(b"hello, world\n")
    assert by_name[b"sub"].is_dir


def test_render_links_escaped_and_quoted(site: Site) -> None:
    page = render("/", _scan(site), at_root=True, server="protoshell/test")
    found = dict(links(page))
    assert found["a%20b.txt"] == "a b.txt"
    assert found["%3Cb%3E%26amp%3B.txt"] == "<b>&amp;.txt"  # text shown literally
    assert found["caf%E9.txt"] == "caf\ufffd.txt"
    assert found["sub/"] == "sub/"
    assert "../" not in found  # no parent at the root
    # the raw markup never reaches the page unescaped
    assert b"<b>&amp;.txt" not in page
    assert b"&lt;b&gt;&amp;amp;.txt" in page


def test_render_parent_link_below_root(site: Site) -> None:
    page = render("/sub/", _scan(site, "sub"), at_root=False, server="x")
    assert links(page)[0] == ("../", "../")
    assert ("nested.txt", "nested.txt") in links(page)
    assert ("deeper/", "deeper/") in links(page)


def test_render_shows_sizes_and_escapes_title() -> None:
    entries = [Entry(b"f.txt", False, 1536, 0.0), Entry(b"d", True, 0, 0.0)]
    page = render("/<x>/", entries, at_root=False, server="x").decode()
    assert "1.5 KiB" in page
    assert 'title="1536 bytes"' in page
    assert "Index of /&lt;x&gt;/" in page
    assert "<x>" not in page
    assert re.search(r"2 entries", page)


def test_empty_directory(site: Site) -> None:
    page = render("/empty/", _scan(site, "empty"), at_root=False, server="x")
    assert links(page) == [("../", "../")]
    assert b"0 entries" in page


def test_human_size() -> None:
    assert human_size(0) == "0 bytes"
    assert human_size(1) == "1 byte"
    assert human_size(1023) == "1023 bytes"
    assert human_size(1024) == "1.0 KiB"
    assert human_size(50 * 1024 * 1024) == "50.0 MiB"
