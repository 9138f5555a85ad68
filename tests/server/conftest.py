"""A small document root with every awkward thing a classroom can throw at
the server, plus a secret file *outside* it that must never be served."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from protoshell.proto.http import HttpRequest, HttpServerFramer

SECRET = b"TOP SECRET: outside the document root"
NON_UTF8 = b"caf\xe9.txt"  # Latin-1 e-acute: not valid UTF-8


@dataclass
class Site:
    root: Path
    outside: Path  # a folder beside the root holding secret.txt

    def path(self, name: str | bytes) -> bytes:
        return os.path.join(os.fsencode(self.root), os.fsencode(name))


@pytest.fixture
def site(tmp_path: Path) -> Site:
    root = tmp_path / "www"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "hello.txt").write_bytes(b"hello, world\n")
    (root / "page.html").write_bytes(b"<!DOCTYPE html><title>t</title><p>page</p>\n")
    (root / "a b.txt").write_bytes(b"spaces\n")
    (root / "<b>&amp;.txt").write_bytes(b"markup in the name\n")
    (root / "big.bin").write_bytes(os.urandom(300_000))
    (root / ".hidden").write_bytes(b"dot file\n")
    (root / "sub").mkdir()
    (root / "sub" / "nested.txt").write_bytes(b"nested\n")
    (root / "sub" / "deeper").mkdir()
    (root / "empty").mkdir()
    for ext in ("html", "txt", "jpeg", "jpg", "png", "css", "js", "json", "svg"):
        (root / "types").mkdir(exist_ok=True)
        (root / "types" / f"x.{ext}").write_bytes(b"x")
    with open(os.path.join(os.fsencode(root), NON_UTF8), "wb") as f:
        f.write(b"latin-1 name\n")
    os.symlink(outside / "secret.txt", root / "escape.txt")
    os.symlink(outside, root / "escape-dir")
    os.symlink("hello.txt", root / "inside-link.txt")
    os.symlink("sub", root / "sub-link")
    os.symlink("does-not-exist", root / "dangling")
    os.mkfifo(root / "pipe")
    return Site(root, outside)


def request(
    target: str,
    method: str = "GET",
    *,
    version: str = "HTTP/1.1",
    headers: tuple[tuple[str, str], ...] = (("Host", "localhost"),),
) -> HttpRequest:
    """The HttpRequest the server-role framer makes of these bytes."""
    raw = f"{method} {target} {version}\r\n".encode("latin-1")
    raw += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in headers) + b"\r\n"
    framer = HttpServerFramer()
    framer.receive_data(raw)
    event = framer.next_event()
    assert isinstance(event, HttpRequest), event
    return event
